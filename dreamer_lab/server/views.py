"""The data behind the routes, independent of tornado: plain dicts, JSON-safe, read-only.

Nothing here writes to a workspace: no folders are created, no entry is quarantined
(a corrupt entry is reported, and the kernel that next loads it deals with it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamer_lab.core.graph import ReadOnlyWorkspace, build_graph
from dreamer_lab.core.secrets import redact
from dreamer_lab.core.store import (
    RECORD,
    CorruptEntryError,
    Entry,
    check_data_files,
    parse_record,
)

MAX_CELL_CHARS = 2000
_RECORD_FIELDS = (
    "fingerprint",
    "kind",
    "name",
    "parents",
    "inputs",
    "args",
    "rows",
    "columns",
    "features",
    "timings",
    "created",
    "versions",
    "notebook",
    "cell_id",
)


class WorkspaceView(ReadOnlyWorkspace):
    """What :func:`dreamer_lab.core.graph.build_graph` needs, opened without side effects.

    The index is opened read-only (never created, converted or locked); a missing or
    corrupt one reads as the records' index, built in memory.
    """


def lineage_payload(
    ws_path: Path, rel: str, *, entry_ok: Callable[[Path], bool] | None = None
) -> dict[str, Any]:
    """Nodes, edges and, for each node, the notebook cell that last produced it.

    ``index_warning`` says when the index was corrupt and the graph comes from the records.
    ``entry_ok(path)`` filters the entries read in that case.
    """
    view = WorkspaceView(ws_path, entry_ok=entry_ok)
    try:
        graph = build_graph(view)
        cells: dict[str, dict[str, Any]] = {}
        for run in reversed(view.lineage.runs(limit=100_000)):  # oldest first: newest wins
            if run.get("cell_id"):
                cells[run["fingerprint"]] = {"cell_id": run["cell_id"], "notebook": run["notebook"]}
    finally:
        view.lineage.close()
    data = graph.to_dict()
    for node in data["nodes"]:
        node.update(cells.get(node["fingerprint"], {"cell_id": None, "notebook": None}))
        if node.get("error"):
            node["error"] = redact(node["error"])
    data["workspace"] = rel
    data["running"] = sum(1 for n in data["nodes"] if n["status"] == "running")
    data["index_warning"] = view.lineage.problem
    return data


def _entry_path(ws_path: Path, fp: str) -> Path | None:
    for area in ("steps", "models"):
        p = ws_path / area / fp
        if (p / RECORD).is_file():
            return p
    return None


class CorruptEntry(ValueError):
    """An entry failed its integrity check; the routes report it and never read its data."""

    status = 409


CORRUPT_HINT = (
    "Its data was not read. The next kernel run that uses this step moves it to quarantine/ "
    "and recomputes it; `dreamer-lab verify` lists the corrupt entries of a workspace."
)


def read_record(ws_path: Path, fp: str) -> dict[str, Any] | None:
    """The entry's record (its digest checked), None if absent; raises :class:`CorruptEntry`."""
    path = _entry_path(ws_path, fp)
    if path is None:
        return None
    try:
        return parse_record((path / RECORD).read_bytes(), fp)[0]
    except (OSError, CorruptEntryError) as e:
        raise CorruptEntry(f"Workspace entry {fp} is corrupt ({e}). {CORRUPT_HINT}") from None


def _json_cell(value: Any) -> Any:
    """A JSON-safe, size-bounded version of one cell value (the browser escapes it)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_CELL_CHARS else value[:MAX_CELL_CHARS] + "…"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [_json_cell(v) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k): _json_cell(v) for k, v in list(value.items())[:50]}
    return _json_cell(str(value))


def step_payload(ws_path: Path, fp: str, limit: int = 10) -> dict[str, Any] | None:
    """A step's record (secrets redacted) and its first ``limit`` rows.

    A corrupt entry (edited record, or a file whose digest does not match) is reported in
    ``sample.error`` with ``corrupt: true``; its data is never memory-mapped.
    """
    path = _entry_path(ws_path, fp)
    if path is None:
        return None
    error = None
    try:
        record = read_record(ws_path, fp) or {}
    except CorruptEntry as e:
        record, error = {"fingerprint": fp}, str(e)
    out = {k: record.get(k) for k in _RECORD_FIELDS}
    out["args"] = redact(out.get("args") or {})
    out["area"] = path.parent.name
    out["corrupt"] = error is not None
    rows: list[dict[str, Any]] = []
    if error is None and (path / "data").is_dir() and limit > 0:
        try:
            check_data_files(path, record)  # before Arrow maps anything
        except CorruptEntryError as e:
            out["corrupt"] = True
            error = f"Workspace entry {fp} is corrupt ({e}). {CORRUPT_HINT}"
        else:
            try:
                ds = Entry(path, record).dataset()
                n = min(limit, ds.num_rows)
                rows = [{k: _json_cell(v) for k, v in r.items()} for r in ds.select(range(n))]
            except Exception as e:  # noqa: BLE001 - reported, never fatal for the sidebar
                error = f"could not read the step's data: {type(e).__name__}: {e}"
    out["sample"] = {"rows": rows, "limit": limit, "error": redact(error) if error else None}
    return out


def card_payload(ws_path: Path, fp: str) -> dict[str, Any] | None:
    """The step's card. For now the record's card fragments as JSON.

    Seam: when ``dreamer_lab.cards`` renders Markdown cards, add ``"markdown"`` here
    (escaped by the renderer); the sidebar shows ``markdown`` when present, else the
    fragments.
    """
    record = read_record(ws_path, fp)
    if record is None:
        return None
    return {
        "fingerprint": fp,
        "name": record.get("name"),
        "format": "fragments",
        "fragments": redact(record.get("card") or {}),
    }
