"""Synthetic data cards for any step, built from the lineage records."""

from __future__ import annotations

import os
from typing import Any

from dreamer_lab.cards.card import (
    SYNTHETIC_NOTICE,
    Card,
    citations,
    closing_sections,
    fragments,
    header_lines,
    license_id,
    lineage_data,
    repo_id,
    size_category,
    yaml_value,
)
from dreamer_lab.cards.diagram import to_mermaid
from dreamer_lab.cards.escape import md_code_inline, md_inline, single_line
from dreamer_lab.cards.upstream import (
    DATA_SOURCE_KINDS,
    as_workspace,
    edges,
    is_synthetic,
    resolve,
    upstream,
)
from dreamer_lab.core.secrets import redact
from dreamer_lab.core.workspace import Workspace


def diagram_nodes(nodes: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "fingerprint": n.fingerprint,
            "name": n.record.get("name", "?"),
            "kind": n.record.get("kind", "?"),
            "rows": n.record.get("rows"),
            "area": n.area,
            "cache_hit": n.cache_hit,
        }
        for n in nodes
    ]


def _summary_lines(rec: dict[str, Any], fp: str, n_upstream: int, models: list[str]) -> list[str]:
    features = (rec.get("features") or {}).items()
    return [
        "## Summary",
        "",
        f"- Rows: {rec.get('rows')}",
        "- Columns: " + ", ".join(f"{md_code_inline(c)} ({md_inline(t)})" for c, t in features),
        f"- Fingerprint: {md_code_inline(fp)} (content address in the dreamer_lab workspace)",
        f"- Steps upstream: {n_upstream}",
        "- Models: " + (", ".join(md_inline(m) for m in models) or "none"),
        "",
    ]


def hub_source_datasets(nodes: list[Any]) -> list[str]:
    """The Hub repository ids the lineage loaded (``HFHubDataSource``): what the Hub's
    ``datasets``/``source_datasets`` metadata may hold. Step names are labels, not ids."""
    ids: list[str] = []
    for n in nodes:
        if n.record.get("kind") != "HFHubDataSource":
            continue
        for name in n.card.get("Dataset Name") or []:
            rid = repo_id(single_line(str(name), 200))
            if rid and rid not in ids:
                ids.append(rid)
    return ids


def _configs(splits: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The Hub's ``configs`` metadata: one config, each split's data files."""
    files = [{"split": k, "path": list(v["files"])} for k, v in splits.items()]
    return [{"config_name": "default", "data_files": files}]


def _front(rec: dict[str, Any], name: str, licenses: list[str], sources: list[str], synthetic: bool, splits: dict[str, dict[str, Any]] | None) -> Any:  # fmt: skip
    """The ``DatasetCardData`` of the YAML front matter."""
    from huggingface_hub import DatasetCardData

    rows = sum(v["rows"] for v in splits.values()) if splits else rec.get("rows")
    return DatasetCardData(
        pretty_name=yaml_value(name, 100),
        license=license_id(licenses),
        tags=["synthetic", "dreamer_lab", "datadreamer"]
        if synthetic
        else ["dreamer_lab", "datadreamer"],
        size_categories=[size_category(rows)],
        source_datasets=sources or None,
        language_creators=["machine-generated"] if synthetic else None,
        configs=_configs(splits) if splits else None,
    )


def data_card(
    step: Any,
    workspace: str | os.PathLike | Workspace | None = None,
    *,
    intended_use: str | None = None,
    limitations: str | None = None,
    synthetic: bool | None = None,
    splits: dict[str, dict[str, Any]] | None = None,
) -> Card:
    """The synthetic data card of ``step`` (a step, a fingerprint or a step name).

    Markdown with Hugging Face YAML front matter (license, ``synthetic`` tag, size category,
    the Hub datasets it was made from), how every upstream step made its rows (model,
    versions, prompt templates, parameters, row counts, fingerprints), a Mermaid lineage
    diagram, licenses, checked BibTeX citations, editable intended use and limitations, and
    a synthetic-data notice. ``card.data`` is the same content as JSON; ``card.save(folder)``
    writes both. ``synthetic``: from the lineage when None. ``splits`` (when publishing:
    ``{split: {"rows": n, "files": [paths in the repository]}}``) adds the Hub's ``configs``.
    """
    from huggingface_hub import DatasetCard

    ws = as_workspace(workspace if workspace is not None else getattr(step, "workspace", None))
    fp = resolve(step, ws)
    nodes = upstream(ws, fp)
    target = nodes[-1]
    if target.area != "steps":
        from dreamer_lab.errors import StepInputError

        raise StepInputError(
            f"{target.record.get('name')!r} is a trained model, not a step: use "
            "dreamer_lab.cards.model_card(...) for it."
        )
    rec = target.record
    name = rec.get("name", fp[:12])
    licenses = fragments(nodes, "License Information")
    models = fragments(nodes, "Model Name")
    sources = [n for n in nodes if n.record.get("kind") in DATA_SOURCE_KINDS]
    source_names = fragments(nodes, "Dataset Name") or [n.record.get("name", "") for n in sources]
    if synthetic is None:
        synthetic = any(is_synthetic(n) for n in nodes)
    entries, other = citations(nodes)
    edge_list = edges(nodes)
    mermaid = to_mermaid(diagram_nodes(nodes), edge_list)

    front = _front(rec, name, licenses, hub_source_datasets(nodes), synthetic, splits)
    title = f"# Dataset card: {md_inline(name, 100)}"
    lines = header_lines(front.to_dict(), title, SYNTHETIC_NOTICE if synthetic else None)
    lines += [
        *_summary_lines(rec, fp, len(nodes), models),
        *closing_sections(nodes, nodes, mermaid, (entries, other), intended_use, limitations),
    ]
    markdown = "\n".join(lines)
    DatasetCard(markdown)  # fails loudly if the front matter does not parse
    data = {
        "type": "dataset_card",
        "name": name,
        "fingerprint": fp,
        "rows": rec.get("rows"),
        "features": rec.get("features") or {},
        "synthetic": synthetic,
        "notice": SYNTHETIC_NOTICE if synthetic else None,
        "license": front.license,
        "licenses": licenses,
        "models": models,
        "source_datasets": source_names,
        **lineage_data(nodes, edge_list, mermaid, (entries, other), intended_use, limitations),
        "front_matter": front.to_dict(),
    }
    return Card(kind="dataset", markdown=markdown, data=redact(data))


def hub_data_card(
    step: Any,
    splits: dict[str, dict[str, Any]],
    is_synthetic: bool = True,
    intended_use: str | None = None,
    limitations: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The README.md and ``datadreamer.json`` that ``step.publish_to_hf_hub`` uploads: this
    module's data card with the published splits in its ``configs``, and its JSON form.

    ``is_synthetic`` (DataDreamer's argument) marks the data synthetic; False leaves it to
    the lineage."""
    card = data_card(
        step,
        synthetic=True if is_synthetic else None,
        splits=splits,
        intended_use=intended_use,
        limitations=limitations,
    )
    return card.markdown, card.to_dict()
