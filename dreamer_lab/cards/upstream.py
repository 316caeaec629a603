"""Reading a step's or model's lineage from the workspace records (the truth on disk)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dreamer_lab.core.workspace import Workspace, current_workspace, open_workspace
from dreamer_lab.errors import StepInputError

DATA_SOURCE_KINDS = {
    "DataSource",
    "JSONDataSource",
    "CSVDataSource",
    "TextDataSource",
    "HFDatasetDataSource",
    "HFHubDataSource",
}


@dataclass
class Node:
    """One upstream entry: its record, its store (``steps`` or ``models``), its last run."""

    record: dict[str, Any]
    area: str
    cache_hit: bool | None = None

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    @property
    def card(self) -> dict[str, list[Any]]:
        return self.record.get("card") or {}


def as_workspace(workspace: str | os.PathLike | Workspace | None) -> Workspace:
    if workspace is None:
        return current_workspace()
    if isinstance(workspace, Workspace):
        return workspace
    return open_workspace(workspace)


def resolve(target: Any, ws: Workspace) -> str:
    """The fingerprint of a step, trainer, fingerprint (or unique prefix) or step name."""
    fp = getattr(target, "fingerprint", None)
    if isinstance(fp, str):
        return fp
    if isinstance(target, str):
        for store in (ws.steps, ws.models):
            matches = [f for f in store.fingerprints() if f.startswith(target)]
            if len(matches) == 1:
                return matches[0]
        for run in ws.lineage.runs(target, limit=50):
            if run["status"] in ("done", "hit") and (
                ws.steps.exists(run["fingerprint"]) or ws.models.exists(run["fingerprint"])
            ):
                return run["fingerprint"]
    raise StepInputError(
        f"No step or model {target!r} in the workspace {str(ws.path)!r}. Pass a step, a trainer, "
        "a fingerprint or a step name (`dreamer-lab ls` lists them)."
    )


def read_node(ws: Workspace, fp: str) -> Node | None:
    for area, store in (("steps", ws.steps), ("models", ws.models)):
        if store.exists(fp):
            try:
                return Node(store.read_record(fp), area)
            except Exception:  # noqa: BLE001 - a corrupt record is skipped, verify reports it
                return None
    return None


def last_run_status(ws: Workspace) -> dict[str, str]:
    """Fingerprint -> status of its most recent run (``hit``, ``done``, ``failed`` ...)."""
    out: dict[str, str] = {}
    for run in reversed(ws.lineage.runs(limit=1_000_000)):
        out[run["fingerprint"]] = run["status"]
    return out


def upstream(ws: Workspace, fp: str) -> list[Node]:
    """The entry and all its ancestors, parents before children.

    Nodes carry no last-run status (``cache_hit`` stays None): a card describes the data,
    so re-running a workflow from the cache gives the same card (the report adds run status).
    """
    nodes: dict[str, Node] = {}
    order: list[str] = []

    def visit(f: str, stack: tuple[str, ...]) -> None:
        if f in nodes or f in stack:
            return
        node = read_node(ws, f)
        if node is None:
            return
        for parent in node.record.get("parents") or []:
            visit(parent, (*stack, f))
        nodes[f] = node
        order.append(f)

    visit(fp, ())
    if fp not in nodes:
        raise StepInputError(
            f"The entry {fp} has no readable record in {str(ws.path)!r}; run `dreamer-lab verify`."
        )
    return [nodes[f] for f in order]


def edges(nodes: list[Node]) -> list[tuple[str, str]]:
    present = {n.fingerprint for n in nodes}
    return [
        (p, n.fingerprint) for n in nodes for p in (n.record.get("parents") or []) if p in present
    ]


def is_synthetic(node: Node) -> bool:
    """Made (at least partly) by a model: the step registered a model name."""
    return bool(node.card.get("Model Name")) and node.area == "steps"
