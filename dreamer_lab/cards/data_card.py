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
    size_category,
    yaml_value,
)
from dreamer_lab.cards.diagram import to_mermaid
from dreamer_lab.cards.escape import md_code_inline, md_inline
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


def data_card(
    step: Any,
    workspace: str | os.PathLike | Workspace | None = None,
    *,
    intended_use: str | None = None,
    limitations: str | None = None,
) -> Card:
    """The synthetic data card of ``step`` (a step, a fingerprint or a step name).

    Markdown with Hugging Face YAML front matter (license, ``synthetic`` tag, size category,
    source datasets), how every upstream step made its rows (model, versions, prompt
    templates, parameters, row counts, fingerprints), a Mermaid lineage diagram, licenses,
    checked BibTeX citations, editable intended use and limitations, and a synthetic-data
    notice. ``card.data`` is the same content as JSON; ``card.save(folder)`` writes both.
    """
    from huggingface_hub import DatasetCard, DatasetCardData

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
    synthetic = any(is_synthetic(n) for n in nodes)
    entries, other = citations(nodes)
    edge_list = edges(nodes)
    mermaid = to_mermaid(diagram_nodes(nodes), edge_list)

    front = DatasetCardData(
        pretty_name=yaml_value(name, 100),
        license=license_id(licenses),
        tags=["synthetic", "dreamer_lab", "datadreamer"]
        if synthetic
        else ["dreamer_lab", "datadreamer"],
        size_categories=[size_category(rec.get("rows"))],
        source_datasets=[yaml_value(s) for s in source_names] or None,
        language_creators=["machine-generated"] if synthetic else None,
    )
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
