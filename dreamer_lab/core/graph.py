"""The lineage graph of a workspace: nodes with status, and edges, for every UI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamer_lab.core.lineage import ReadOnlyLineageIndex
from dreamer_lab.core.status import node_state
from dreamer_lab.core.workspace import MARKER, Workspace, WorkspaceError, _pid_alive


@dataclass
class LineageGraph:
    """Nodes (``fingerprint, name, kind, status, rows, ...``) and ``(parent, child)`` edges."""

    workspace: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "nodes": self.nodes,
            "edges": [{"source": a, "target": b} for a, b in self.edges],
        }

    def node(self, name_or_fp: str) -> dict[str, Any]:
        for n in reversed(self.nodes):
            if n["fingerprint"] == name_or_fp or n["name"] == name_or_fp:
                return n
        raise KeyError(name_or_fp)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (labels are escaped: names can contain anything)."""
        lines = ["flowchart TD"]
        for n in self.nodes:
            label = _mermaid_escape(f"{n['name']} ({n['kind']}, {n.get('rows', '?')} rows)")
            lines.append(f'  n{n["fingerprint"][:12]}["{label}"]')
        for a, b in self.edges:
            lines.append(f"  n{a[:12]} --> n{b[:12]}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = ["| name | kind | status | rows | fingerprint |", "|---|---|---|---|---|"]
        for n in self.nodes:
            rows.append(
                f"| {_md_escape(n['name'])} | {_md_escape(n['kind'])} | {n['status']} | "
                f"{n.get('rows', '')} | `{n['fingerprint'][:12]}` |"
            )
        return "\n".join(rows)


def _mermaid_escape(text: str) -> str:
    return "".join(c if c.isalnum() or c in " _-.,:/()" else f"#{ord(c)};" for c in text)


def _md_escape(text: str) -> str:
    import html

    return html.escape(str(text)).replace("|", "&#124;").replace("`", "&#96;")


class ReadOnlyWorkspace:
    """A workspace folder opened for reading only: creates and changes nothing.

    What :func:`build_graph` needs (``path`` and ``lineage``) for readers: the server
    routes and ``dreamer-lab ls``. ``lineage.problem`` says when the index was corrupt
    and the graph comes from the records instead.
    """

    def __init__(self, path: str | os.PathLike, *, entry_ok: Callable[[Path], bool] | None = None):
        self.path = Path(path).expanduser().resolve()
        self.lineage = ReadOnlyLineageIndex(self.path / "lineage.sqlite", entry_ok=entry_ok)

    @classmethod
    def open(cls, path: str | os.PathLike) -> ReadOnlyWorkspace:
        """Like :func:`~dreamer_lab.core.workspace.open_workspace`, without writing."""
        p = Path(path).expanduser()
        if not (p / MARKER).exists() and not (p / "steps").is_dir():
            raise WorkspaceError(
                f"{str(p)!r} is not a dreamer_lab workspace (no {MARKER} marker or steps/ "
                "folder). Pass the folder given to DataDreamer(...)."
            )
        return cls(p)


def running_steps(ws: Workspace | ReadOnlyWorkspace) -> dict[str, dict[str, Any]]:
    """Steps being computed now (by any process on this host), keyed by fingerprint."""
    out = {}
    for f in (ws.path / "locks").glob("*.progress.json"):
        if f.is_symlink():  # written by the workspace itself, never a link: don't follow one
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if data.get("status") == "running" and _pid_alive(int(data.get("pid", -1))):
            out[data["fingerprint"]] = data
    return out


def build_graph(ws: Workspace | ReadOnlyWorkspace) -> LineageGraph:
    """Compute node status: fresh, stale (with the reason), running or failed."""
    steps = ws.lineage.steps()
    edges = ws.lineage.edges()
    latest = ws.lineage.latest_runs_by_name()
    running = running_steps(ws)
    nodes: dict[str, dict[str, Any]] = {}
    for s in steps:
        nodes[s["fingerprint"]] = {
            "fingerprint": s["fingerprint"],
            "name": s["name"],
            "kind": s["kind"],
            "rows": s["rows"],
            "seconds": s["seconds"],
            "created": s["created"],
            "area": s["area"],
            "status": "fresh",
            "stale_reason": None,
        }
    for name, run in latest.items():
        fp = run["fingerprint"]
        if fp not in nodes and run["status"] in ("failed", "running"):
            nodes[fp] = {
                "fingerprint": fp,
                "name": name,
                "kind": run["kind"],
                "rows": None,
                "seconds": None,
                "created": run["ts"],
                "area": "steps",
                "status": "failed",
                "stale_reason": None,
                "error": run.get("error"),
            }
            for parent in run["parents"]:
                edges.append((parent, fp))
    for fp, info in running.items():
        node = nodes.setdefault(
            fp,
            {
                "fingerprint": fp,
                "name": info.get("name", "?"),
                "kind": info.get("kind", "?"),
                "rows": None,
                "seconds": None,
                "created": info.get("updated"),
                "area": "steps",
                "stale_reason": None,
            },
        )
        node["status"] = "running"
        node["progress"] = info.get("progress")
    # A step is stale when its name's most recent run produced another fingerprint.
    for n in nodes.values():
        run = latest.get(n["name"])
        if n["status"] == "fresh" and run is not None and run["fingerprint"] != n["fingerprint"]:
            n["status"] = "stale"
            n["stale_reason"] = f"a newer run of {n['name']!r} produced {run['fingerprint'][:12]}"
    # ... and so is everything downstream of a stale step.
    children: dict[str, list[str]] = {}
    for a, b in edges:
        children.setdefault(a, []).append(b)
    stack = [fp for fp, n in nodes.items() if n["status"] == "stale"]
    while stack:
        fp = stack.pop()
        for child in children.get(fp, []):
            c = nodes.get(child)
            if c is not None and c["status"] == "fresh":
                c["status"] = "stale"
                c["stale_reason"] = f"upstream step {nodes[fp]['name']!r} is stale"
                stack.append(child)
    # The one status vocabulary of every view (core/status.py): computed, loaded from cache...
    last_code = {r["fingerprint"]: r["status"] for r in latest.values()}
    for n in nodes.values():
        n["state"] = str(node_state(n, last_code.get(n["fingerprint"])))
    edges = [(a, b) for a, b in dict.fromkeys(edges) if a in nodes and b in nodes]
    ordered = sorted(nodes.values(), key=lambda n: n.get("created") or 0)
    return LineageGraph(workspace=os.fspath(ws.path), nodes=ordered, edges=edges)
