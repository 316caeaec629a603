"""The card object shared by data cards and model cards: Markdown + a JSON form."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamer_lab.cards.bibtex import DATADREAMER_CITATION, BibEntry, normalize_citations
from dreamer_lab.cards.escape import md_block, md_code_inline, md_inline, single_line
from dreamer_lab.cards.param_table import param_table
from dreamer_lab.cards.upstream import Node
from dreamer_lab.core.secrets import redact, scrub_text

SYNTHETIC_NOTICE = (
    "This dataset was generated (at least in part) by machine-learning models. It is synthetic "
    "data: it can be wrong, biased or repetitive, and it must not be mixed into pre-training "
    "corpora or evaluation sets (doing so contaminates future models and benchmarks). Keep this "
    "notice and the `synthetic` tag with every copy."
)
DEFAULT_INTENDED_USE = (
    "Research and development of the task this workflow targets (fine-tuning, evaluation "
    "prototypes, ablations). Edit this section to describe the intended use."
)
DEFAULT_LIMITATIONS = (
    "The rows were produced by the models listed above and inherit their errors and biases; "
    "they were not reviewed by people unless a step below says so. Edit this section to "
    "describe known limitations."
)
_LICENSE_ID = re.compile(r"^[a-z0-9][a-z0-9.\-+]*$")
_YAML_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass
class Card:
    """A generated card: ``markdown`` (HF-compatible, YAML front matter) and ``data`` (JSON)."""

    kind: str  # "dataset" or "model"
    markdown: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True, default=str)

    def to_hf(self) -> Any:
        """Parse the Markdown with huggingface_hub (``DatasetCard`` or ``ModelCard``)."""
        from huggingface_hub import DatasetCard, ModelCard

        return (DatasetCard if self.kind == "dataset" else ModelCard)(self.markdown)

    def save(self, folder: str | os.PathLike) -> SavedCard:
        """Write ``README.md`` and ``card.json`` into ``folder``; returns their paths."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        md, js = d / "README.md", d / "card.json"
        md.write_text(self.markdown, encoding="utf-8")
        js.write_text(self.to_json() + "\n", encoding="utf-8")
        return SavedCard(markdown=md, json=js)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.markdown


class SavedCard(dict):
    """Where :meth:`Card.save` wrote (``["markdown"]``, ``["json"]``), shown as one line."""

    def __repr__(self) -> str:
        return f"Saved card: {self['markdown']} and {self['json'].name}"


# -- pieces shared by both cards ------------------------------------------------------------
# -- YAML front matter ---------------------------------------------------------------------
def yaml_value(text: object, limit: int = 200) -> str:
    """An untrusted string for the front matter: secrets removed, length bounded, otherwise
    exact (:func:`front_matter` quotes and escapes it)."""
    return scrub_text(str(text))[:limit]


def front_matter(metadata: dict[str, Any]) -> str:
    """The ``---``-delimited YAML block of a card, written with ``yaml.safe_dump``.

    Every string value is double-quoted, and ``<``, ``>`` and ``&`` are written as
    ``\\x3C``-style escapes: no value can end the block, start a document, anchor,
    alias or tag, or put raw HTML into the file, and ``yaml.safe_load`` gives back
    exactly the original strings.
    """
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')

    def _map(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.MappingNode:
        items = []
        for k, v in value.items():
            if not isinstance(k, str) or not _YAML_KEY.match(k):
                raise ValueError(f"front matter key {k!r} is not a plain identifier")
            items.append((yaml.ScalarNode("tag:yaml.org,2002:str", k), dumper.represent_data(v)))
        return yaml.MappingNode("tag:yaml.org,2002:map", items, flow_style=False)

    _Dumper.add_representer(str, _str)
    _Dumper.add_representer(dict, _map)
    text = yaml.dump(
        metadata, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    # Only double-quoted values can hold these characters; \xNN is a YAML escape there.
    text = text.replace("&", "\\x26").replace("<", "\\x3C").replace(">", "\\x3E")
    return f"---\n{text.rstrip()}\n---"


def fragments(nodes: list[Node], key: str) -> list[str]:
    out: list[str] = []
    for n in nodes:
        for v in n.card.get(key) or []:
            s = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
            if s not in out:
                out.append(s)
    return out


def license_id(licenses: list[str]) -> str:
    """The front-matter license: an SPDX-like id when all sources agree, else ``other``."""
    ids = {single_line(x).lower() for x in licenses if x}
    if len(ids) == 1:
        only = ids.pop()
        if _LICENSE_ID.match(only):
            return only
    return "other"


def repo_id(name: str) -> str | None:
    return name if _REPO_ID.match(name) else None


def size_category(rows: int | None) -> str:
    if rows is None:
        return "unknown"
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"),
              (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]  # fmt: skip
    for bound, label in bounds:
        if rows < bound:
            return label
    return "n>1T" if rows >= 10**12 else "1B<n<10B"


def citations(nodes: list[Node]) -> tuple[list[BibEntry], list[str]]:
    """Checked BibTeX of every upstream step and model, the papers of well-known models
    among them, and DataDreamer's."""
    from dreamer_lab.cards.known_models import known_citations

    cited = fragments(nodes, "Citation Information")
    base_names = [str((n.record.get("base_model") or {}).get("name") or "") for n in nodes]
    cited += known_citations(fragments(nodes, "Model Name") + base_names)
    entries, other = normalize_citations(cited)
    if not any(e.key == DATADREAMER_CITATION.key for e in entries):
        entries.insert(0, DATADREAMER_CITATION)
    return entries, other


def node_summary(n: Node) -> dict[str, Any]:
    """The JSON form of one upstream entry."""
    rec = n.record
    card = n.card
    return {
        "name": rec.get("name"),
        "kind": rec.get("kind"),
        "fingerprint": n.fingerprint,
        "area": n.area,
        "rows": rec.get("rows"),
        "columns": rec.get("columns"),
        "parents": rec.get("parents") or [],
        "models": card.get("Model Name") or [],
        "datasets": card.get("Dataset Name") or [],
        "licenses": card.get("License Information") or [],
        "prompts": card.get("Prompt") or [],
        "parameters": card.get("Parameters") or [],
        "args": redact(rec.get("args") or {}),
        "versions": rec.get("versions") or {},
        "seconds": (rec.get("timings") or {}).get("seconds"),
        "created": rec.get("created"),
        "cache_hit": n.cache_hit,
        "notebook": rec.get("notebook"),
        "cell_id": rec.get("cell_id"),
    }


def how_made_section(nodes: list[Node]) -> list[str]:
    """'How the data was made': every upstream entry with model, prompts, parameters."""
    lines = ["## How the data was made", ""]
    for i, n in enumerate(nodes, 1):
        s = node_summary(n)
        lines.append(f"### {i}. {md_inline(s['name'], 80)} ({md_inline(s['kind'], 60)})")
        lines.append("")
        lines.append(f"- Fingerprint: {md_code_inline(s['fingerprint'])}")
        if s["rows"] is not None:
            cols = ", ".join(md_code_inline(c) for c in s["columns"] or [])
            lines.append(f"- Rows: {s['rows']}; columns: {cols}")
        if s["parents"]:
            lines.append(
                "- Inputs from: " + ", ".join(md_code_inline(p[:12]) for p in s["parents"])
            )
        for m in s["models"]:
            lines.append(f"- Model: {md_inline(m)}")
        for d in s["datasets"]:
            lines.append(f"- Dataset: {md_inline(d)}")
        versions = s["versions"]
        if versions:
            lines.append(
                "- Versions: "
                + ", ".join(f"{md_inline(k)} {md_inline(v)}" for k, v in sorted(versions.items()))
            )
        if s["cache_hit"] is not None:
            lines.append(f"- Last run: {'cache hit' if s['cache_hit'] else 'computed'}")
        if s["seconds"] is not None:
            lines.append(f"- Compute time: {s['seconds']:.2f} s")
        lines.append("")
        for j, p in enumerate(s["prompts"], 1):
            lines += [f"Prompt template {j}:", "", md_block(p), ""]
        table = param_table(step_parameters(s["args"], s["parameters"] or []))
        if table:
            lines += ["Parameters:", "", *table, ""]
    return lines


def step_parameters(args: dict[str, Any], card_parameters: list[Any]) -> dict[str, Any]:
    """A step's arguments and the parameters its data card registered, as one mapping: a
    registered parameter that repeats an argument is shown once."""
    values = dict(args)
    for i, extra in enumerate(card_parameters):
        if not isinstance(extra, dict):
            values[f"parameters[{i}]" if len(card_parameters) > 1 else "parameters"] = extra
            continue
        for k, v in extra.items():
            if k not in values:
                values[k] = v
            elif values[k] != v:
                values[f"parameters.{k}"] = v
    return values


def licenses_section(nodes: list[Node]) -> list[str]:
    lines = ["## Licenses", ""]
    found = False
    for n in nodes:
        for lic in n.card.get("License Information") or []:
            found = True
            lines.append(f"- {md_inline(n.record.get('name'), 80)}: {md_inline(lic)}")
    if not found:
        lines.append(
            "- No license was recorded by the steps. Check the terms of every model and dataset "
            "listed above before you share this data."
        )
    return [*lines, ""]


def citations_section(entries: list[BibEntry], other: list[str]) -> list[str]:
    lines = ["## Citations", "", "Cite the models, datasets and tools that made this data:", ""]
    lines.append(md_block("\n\n".join(e.to_bibtex() for e in entries), "bibtex"))
    if other:
        lines += ["", "Other references (not in BibTeX form):", ""]
        lines += [f"- {md_inline(o, 600)}" for o in other]
    return [*lines, ""]


def editable_section(title: str, key: str, text: str) -> list[str]:
    return [
        f"## {title}",
        "",
        f"<!-- dreamer_lab:editable {key}: edit freely, regenerated cards keep the default -->",
        html.escape(scrub_text(text.strip()), quote=False),
        "",
    ]


def closing_sections(
    how_made: list[Node],
    nodes: list[Node],
    mermaid: str,
    cited: tuple[list[BibEntry], list[str]],
    intended_use: str | None,
    limitations: str | None,
) -> list[str]:
    """The sections both card kinds end with: how it was made, lineage diagram, licenses,
    citations (``cited`` from :func:`citations`), the editable intended use and
    limitations, and the footer."""
    return [
        *how_made_section(how_made),
        "## Lineage",
        "",
        "```mermaid",
        mermaid,
        "```",
        "",
        *licenses_section(nodes),
        *citations_section(*cited),
        *editable_section("Intended use", "intended_use", intended_use or DEFAULT_INTENDED_USE),
        *editable_section("Limitations", "limitations", limitations or DEFAULT_LIMITATIONS),
        "---",
        "",
        "Generated by dreamer_lab from the workspace records; the JSON form is `card.json`.",
        "",
    ]


def lineage_data(
    nodes: list[Any],
    edge_list: list[tuple[str, str]],
    mermaid: str,
    cites: tuple[list[Any], list[str]],
    intended_use: str | None,
    limitations: str | None,
) -> dict[str, Any]:
    """The lineage part of a card's JSON: steps, edges, diagram, citations, intended use
    and limitations."""
    entries, other = cites
    return {
        "steps": [node_summary(n) for n in nodes],
        "edges": [{"source": a, "target": b} for a, b in edge_list],
        "mermaid": mermaid,
        "citations": [e.to_bibtex() for e in entries],
        "other_citations": other,
        "intended_use": intended_use or DEFAULT_INTENDED_USE,
        "limitations": limitations or DEFAULT_LIMITATIONS,
    }


def header_lines(front: dict[str, Any], title: str, notice: str | None) -> list[str]:
    """YAML front matter, the title and, for synthetic data, the notice."""
    lines = [front_matter(front), "", title, ""]
    if notice:
        lines += [f"> **Synthetic data notice.** {notice}", ""]
    return lines
