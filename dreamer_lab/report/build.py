"""Assemble a report from a notebook and its workspace: cells, run record, lineage, cards."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dreamer_lab.core.secrets import redact

FORMAT = "dreamer_lab.report/1"


def find_workspace(notebook_path: Path, workspace: Any = None) -> Any:
    """The workspace of a notebook: given, ``$DREAMER_LAB_WORKSPACE``, the folder of a
    ``DataDreamer('...')`` call in the notebook, or the default ``dreamer_workspace`` next to
    it. None when there is none."""
    from dreamer_lab.core.workspace import DEFAULT_WORKSPACE, MARKER, Workspace, open_workspace

    if isinstance(workspace, Workspace):
        return workspace
    if workspace is not None:
        return open_workspace(workspace)
    candidates = [os.environ.get("DREAMER_LAB_WORKSPACE")]
    try:
        text = notebook_path.read_text(encoding="utf-8", errors="replace")
        # DataDreamer('path') in a cell source (quotes may be JSON-escaped in the file).
        candidates += re.findall(r"DataDreamer\(\s*\\?[\"']([^\"'\\]+)\\?[\"']", text)
    except OSError:
        pass
    candidates.append(DEFAULT_WORKSPACE)
    for c in candidates:
        if not c:
            continue
        p = Path(c) if Path(c).is_absolute() else notebook_path.resolve().parent / c
        if (p / MARKER).exists():
            return open_workspace(p)
    return None


def notebook_fingerprints(
    ws: Any, notebook_path: Path, cells: list[dict[str, Any]]
) -> dict[str, str]:
    """``{step name: fingerprint}`` of the steps this notebook ran (the latest per name).

    From the cells' output stamps (``%%dream`` cells) plus the workspace runs recorded for
    this notebook (steps built in plain code carry no stamp), restricted to the notebook's
    last execution when its cells carry timings; else every fresh entry of the workspace.
    """
    from dreamer_lab.report.run_record import _ts

    stamped: dict[str, str] = {}
    for c in cells:
        for s in c["steps"]:
            if s.get("fingerprint") and s.get("status") not in ("failed", "running"):
                stamped[str(s.get("step") or s["fingerprint"][:12])] = s["fingerprint"]
    if ws is None:
        return stamped
    names = {
        notebook_path.name,
        notebook_path.stem,
        str(notebook_path),
        str(notebook_path.resolve()),
    }
    starts = [t for t in (_ts(c.get("started")) for c in cells) if t is not None]
    ends = [t for t in (_ts(c.get("finished")) for c in cells) if t is not None]
    window = (min(starts) - 1.0, max(ends) + 1.0) if starts and ends else None
    runs = [
        r
        for r in ws.lineage.runs(limit=1_000_000)  # newest first
        if r.get("notebook")
        and (r["notebook"] in names or Path(r["notebook"]).name == notebook_path.name)
        and r["status"] in ("done", "hit")
    ]
    in_window = [r for r in runs if window is None or window[0] <= r["ts"] <= window[1]]
    found: dict[str, str] = {}
    for run in in_window or runs:
        found.setdefault(run["name"], run["fingerprint"])
    found = dict(reversed(list(found.items())))
    # A stamp is the cell's own word: it wins over a run of the same name.
    found = {**found, **stamped} if found else stamped
    if found:
        return found
    from dreamer_lab.core.graph import build_graph

    return {n["name"]: n["fingerprint"] for n in build_graph(ws).nodes if n["status"] == "fresh"}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "card"


def build_report(
    notebook_path: str | os.PathLike,
    workspace: Any = None,
    *,
    hide_inputs: bool = False,
) -> dict[str, Any]:
    """The report as data (what ``report.json`` holds), plus the card objects under
    ``"_cards"`` (removed before writing JSON)."""
    from dreamer_lab.cards.card import node_summary
    from dreamer_lab.cards.data_card import diagram_nodes
    from dreamer_lab.cards.diagram import to_mermaid
    from dreamer_lab.cards.upstream import edges, last_run_status, read_node, upstream
    from dreamer_lab.report.notebook import cells as read_cells
    from dreamer_lab.report.notebook import read_notebook
    from dreamer_lab.report.run_record import run_record
    from dreamer_lab.report.saved_cards import saved_cards

    path = Path(notebook_path)
    nb = read_notebook(path)
    cells = read_cells(nb)
    ws = find_workspace(path, workspace)
    expected = notebook_fingerprints(ws, path, cells)
    nodes: dict[str, Any] = {}
    if ws is not None:
        for fp in expected.values():
            if read_node(ws, fp) is None:
                continue
            for n in upstream(ws, fp):
                nodes.setdefault(n.fingerprint, n)
        status = last_run_status(ws)
        for n in nodes.values():
            n.cache_hit = {"hit": True, "done": False}.get(status.get(n.fingerprint, ""))
    node_list = sorted(nodes.values(), key=lambda n: n.record.get("created") or 0)
    edge_list = edges(node_list)
    summaries = [node_summary(n) for n in node_list]
    # Exactly the cards the notebook saved, with the user's text (none invented here).
    cards = saved_cards(path, cells, set(nodes), ws.path if ws is not None else None)
    shown_cells = []
    for c in cells:
        c = dict(c)
        if hide_inputs and c["cell_type"] == "code":
            c["source"] = None
        shown_cells.append(c)
    report = {
        "format": FORMAT,
        "notebook": {"path": path.name, "hide_inputs": hide_inputs, "cells": shown_cells},
        "run": run_record(path, nb, cells, summaries),
        "workspace": str(ws.path) if ws is not None else None,
        "expected_fingerprints": expected,
        "lineage": {
            "nodes": summaries,
            "edges": [{"source": a, "target": b} for a, b in edge_list],
            "mermaid": to_mermaid(diagram_nodes(node_list), edge_list),
        },
        "cards": [
            {
                "kind": c.kind,
                "name": c.data["name"],
                "fingerprint": c.data["fingerprint"],
                "slug": f"{slug(c.data['name'])}-{c.data['fingerprint'][:8]}",
            }
            for c in cards
        ],
        "_cards": cards,
        "_diagram_nodes": diagram_nodes(node_list),
        "_edges": edge_list,
    }
    return redact(report) | {k: report[k] for k in ("_cards", "_diagram_nodes", "_edges")}


def write_report(
    notebook_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    hide_inputs: bool = False,
    workspace: Any = None,
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained), ``report.md``, ``report.json`` and the cards
    (``cards/<name>/README.md`` + ``card.json``) into ``out_dir``; returns the paths
    (keys ``html``, ``markdown``, ``json``, and ``card:<slug>`` per card)."""
    import json

    from dreamer_lab.report.html import render_html
    from dreamer_lab.report.markdown import render_markdown

    report = build_report(notebook_path, workspace, hide_inputs=hide_inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for meta, card in zip(report["cards"], report["_cards"], strict=True):
        saved = card.save(out / "cards" / meta["slug"])
        meta["markdown"] = f"cards/{meta['slug']}/README.md"
        meta["json"] = f"cards/{meta['slug']}/card.json"
        paths[f"card:{meta['slug']}"] = saved["markdown"]
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    paths["json"] = out / "report.json"
    paths["json"].write_text(json.dumps(public, indent=2, sort_keys=True, default=str) + "\n")
    paths["html"] = out / "report.html"
    paths["html"].write_text(render_html(report), encoding="utf-8")
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    return paths
