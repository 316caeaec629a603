"""Top-level functions: ``lineage()`` and ``explain()``."""

from __future__ import annotations

import os
from typing import Any

from dreamer_lab.core.explain import Explanation
from dreamer_lab.core.explain import explain as _explain
from dreamer_lab.core.graph import LineageGraph, build_graph
from dreamer_lab.core.workspace import Workspace, current_workspace, open_workspace


def lineage(workspace: str | os.PathLike | Workspace | None = None) -> LineageGraph:
    """The lineage graph (nodes with status fresh/stale/running/failed, and edges)."""
    if workspace is None:
        ws = current_workspace()
    elif isinstance(workspace, Workspace):
        ws = workspace
    else:
        ws = open_workspace(workspace)
    return build_graph(ws)


def explain(step: Any) -> Explanation:
    """Why ``step`` hit or missed the cache, versus the previous run of the same name."""
    return _explain(step)
