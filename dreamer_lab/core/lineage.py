"""The lineage index: ``lineage.sqlite`` over all records in a workspace.

The records on disk are the truth; this index makes queries cheap (names ->
fingerprints, edges, run history, running/failed status) and can be rebuilt from the
records at any time. SQLite in WAL mode lets several kernels write to it at once. A corrupt
index is moved to ``quarantine/`` and rebuilt from the records; readers use
:class:`ReadOnlyLineageIndex`, which never writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dreamer_lab.core import sqlite_db
from dreamer_lab.core.sqlite_db import CorruptDatabaseError, is_corrupt, quick_check
from dreamer_lab.errors import CorruptIndexWarning  # noqa: F401

T = TypeVar("T")
RECORD = "record.json"
AREAS = ("steps", "models")
TABLES = ("steps", "edges", "runs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    fingerprint TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    rows INTEGER,
    seconds REAL,
    area TEXT NOT NULL DEFAULT 'steps'
);
CREATE TABLE IF NOT EXISTS edges (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    PRIMARY KEY (parent, child)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ts REAL NOT NULL,
    status TEXT NOT NULL,          -- running | done | hit | failed
    components TEXT,               -- JSON: what the fingerprint was made of
    parents TEXT,                  -- JSON list of parent fingerprints
    error TEXT,
    notebook TEXT,
    cell_id TEXT
);
CREATE INDEX IF NOT EXISTS runs_name ON runs(name, id);
CREATE INDEX IF NOT EXISTS runs_fp ON runs(fingerprint, id);
"""


def read_records(
    workspace: Path, *, entry_ok: Callable[[Path], bool] | None = None
) -> list[tuple[dict[str, Any], str]]:
    """``(record, area)`` for every entry under ``steps/`` and ``models/``, oldest first.

    Entries whose record.json is missing, unreadable or names another fingerprint are
    skipped (the store quarantines them when they are next loaded); so are entries for
    which ``entry_ok(path)`` is false.
    """
    out: list[tuple[dict[str, Any], str]] = []
    for area in AREAS:
        try:
            entries = sorted(os.scandir(workspace / area), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            path = Path(e.path)
            if entry_ok is not None and not entry_ok(path):
                continue
            try:
                record = json.loads((path / RECORD).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("fingerprint") == e.name:
                out.append((record, area))
    out.sort(key=lambda ra: _number(ra[0].get("created")) or 0.0)
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _insert_step(db: sqlite3.Connection, record: dict[str, Any], area: str) -> None:
    db.execute(
        "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?)",
        (
            record["fingerprint"],
            str(record.get("name", "")),
            str(record.get("kind", "")),
            _number(record.get("created")) or time.time(),
            record.get("rows") if isinstance(record.get("rows"), int) else None,
            _number((record.get("timings") or {}).get("seconds")),
            area,
        ),
    )
    for parent in record.get("parents") or []:
        db.execute("INSERT OR IGNORE INTO edges VALUES (?,?)", (str(parent), record["fingerprint"]))


def _fill(db: sqlite3.Connection, records: list[tuple[dict[str, Any], str]]) -> None:
    """Steps, edges and one 'done' run per record (oldest first, so ids follow time)."""
    for record, area in records:
        _insert_step(db, record, area)
        db.execute(
            "INSERT INTO runs (name, kind, fingerprint, ts, status, components, parents, error,"
            " notebook, cell_id) VALUES (?,?,?,?,'done',?,?,NULL,?,?)",
            (
                str(record.get("name", "")),
                str(record.get("kind", "")),
                record["fingerprint"],
                _number(record.get("created")) or time.time(),
                json.dumps(record.get("components") or {}, sort_keys=True, default=str),
                json.dumps([str(p) for p in record.get("parents") or []]),
                record.get("notebook"),
                record.get("cell_id"),
            ),
        )


def _decode_run(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    try:
        d["components"] = json.loads(d["components"] or "{}")
        d["parents"] = json.loads(d["parents"] or "[]")
    except ValueError as e:
        raise CorruptDatabaseError(f"run {d.get('id')} holds invalid JSON ({e})") from None
    return d


def _probe(db: sqlite3.Connection) -> None:
    """Raise if any page or value of the index cannot be read back."""
    quick_check(db)
    db.row_factory = sqlite3.Row
    for table in ("steps", "edges"):
        db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed names
    for row in db.execute("SELECT * FROM runs"):
        _decode_run(row)


RunListener = Callable[..., None]
#: Called after every recorded run with ``name``, ``fingerprint``, ``status`` and ``error``
#: (keywords), in the process that recorded it. Exported scripts use it to collect the
#: fingerprints a run arrives at (:mod:`dreamer_lab.report.replay`).
RUN_LISTENERS: list[RunListener] = []


class LineageIndex:
    """Queries and updates over ``lineage.sqlite``.

    Every query goes through :meth:`_call`, the one place that handles a corrupt index:
    it is moved to ``quarantine/`` and rebuilt from the records (with a
    :class:`CorruptIndexWarning`), then the query runs again. An empty index next to
    existing records (a deleted file) is filled from them on open, silently.
    """

    def __init__(self, path: Path):
        self.path = path
        self._call(self._fill_if_empty)

    @property
    def workspace(self) -> Path:
        return self.path.parent

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        for attempt in range(3):
            try:
                db = sqlite_db.connect(self.path, _SCHEMA, check=True)
                try:
                    db.row_factory = sqlite3.Row
                    return fn(db)
                finally:
                    db.close()
            except sqlite3.DatabaseError as e:
                if attempt == 2 or not is_corrupt(e):
                    raise
                self._recover(e)
        raise AssertionError("unreachable")

    def _recover(self, error: BaseException) -> None:
        count = 0

        def fill(db: sqlite3.Connection) -> None:
            nonlocal count
            records = read_records(self.workspace)
            count = len(records)
            _fill(db, records)

        moved = sqlite_db.replace_corrupt(
            self.path,
            _SCHEMA,
            probe=_probe,
            fill=fill,
            quarantine=self.workspace / "quarantine",
            reason=f"lineage index corrupt: {error}",
            scratch=scratch if (scratch := self.workspace / "tmp").is_dir() else None,
        )
        if moved is None:
            return  # another process (or thread) rebuilt it first
        warnings.warn(
            f"The lineage index {self.path} was corrupt ({error}). The corrupt copy was moved "
            f"to {moved}, and the index was rebuilt from the {count} records in steps/ and "
            "models/. The run history cannot be rebuilt from records: earlier, failed and "
            "cache-hit runs are gone, and each entry now has one 'done' run. Entries and their "
            "data are untouched.",
            CorruptIndexWarning,
            stacklevel=4,
        )

    def _fill_if_empty(self, db: sqlite3.Connection) -> None:
        def empty() -> bool:
            return not any(db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in TABLES)

        if not empty():
            return
        records = read_records(self.workspace)
        if not records:
            return
        db.execute("BEGIN IMMEDIATE")
        if empty():  # not filled by another process meanwhile
            _fill(db, records)
        db.execute("COMMIT")

    # -- writes -----------------------------------------------------------------------
    def add_step(self, record: dict[str, Any], area: str = "steps") -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            _insert_step(db, record, area)
            db.execute("COMMIT")

        self._call(run)

    def add_run(
        self,
        *,
        name: str,
        kind: str,
        fingerprint: str,
        status: str,
        components: dict[str, Any] | None = None,
        parents: list[str] | None = None,
        error: str | None = None,
        notebook: str | None = None,
        cell_id: str | None = None,
    ) -> int:
        row = (
            name,
            kind,
            fingerprint,
            time.time(),
            status,
            json.dumps(components or {}, sort_keys=True),
            json.dumps(parents or []),
            error,
            notebook,
            cell_id,
        )

        def run(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO runs (name, kind, fingerprint, ts, status, components, parents, error,"
                " notebook, cell_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            return int(cur.lastrowid or 0)

        run_id = self._call(run)
        for listener in list(RUN_LISTENERS):
            listener(name=name, fingerprint=fingerprint, status=status, error=error)
        return run_id

    def remove_steps(self, fingerprints: list[str]) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            for fp in fingerprints:
                db.execute("DELETE FROM steps WHERE fingerprint=?", (fp,))
                db.execute("DELETE FROM edges WHERE child=?", (fp,))
            db.execute("COMMIT")

        self._call(run)

    def rebuild(self, records: list[tuple[dict[str, Any], str]]) -> None:
        """Re-create the steps and edges tables from records (the truth on disk)."""

        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM steps")
            db.execute("DELETE FROM edges")
            for record, area in records:
                _insert_step(db, record, area)
            db.execute("COMMIT")

        self._call(run)

    # -- reads ------------------------------------------------------------------------
    def steps(self) -> list[dict[str, Any]]:
        return self._call(
            lambda db: [dict(r) for r in db.execute("SELECT * FROM steps ORDER BY created")]
        )

    def edges(self) -> list[tuple[str, str]]:
        return self._call(
            lambda db: [(r["parent"], r["child"]) for r in db.execute("SELECT * FROM edges")]
        )

    def runs(self, name: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        def run(db: sqlite3.Connection) -> list[dict[str, Any]]:
            if name is None:
                rows = db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = db.execute(
                    "SELECT * FROM runs WHERE name=? ORDER BY id DESC LIMIT ?", (name, limit)
                )
            return [_decode_run(r) for r in rows]

        return self._call(run)

    def latest_runs_by_name(self) -> dict[str, dict[str, Any]]:
        """For each step name, its most recent run (any status)."""

        def run(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            rows = db.execute(
                "SELECT r.* FROM runs r JOIN (SELECT name, MAX(id) AS id FROM runs GROUP BY name)"
                " m ON r.id = m.id"
            )
            return {d["name"]: d for d in map(_decode_run, rows)}

        return self._call(run)


class ReadOnlyLineageIndex(LineageIndex):
    """The same queries over ``lineage.sqlite`` opened read-only: creates and changes nothing.

    For readers (server routes, ``dreamer-lab ls``). A missing index reads as one built
    from the records in memory; so does a corrupt one, and :attr:`problem` then says so
    (repairing it is left to the next writer). ``entry_ok(path)`` filters the entries
    read in that case.
    """

    def __init__(self, path: Path, *, entry_ok: Callable[[Path], bool] | None = None):
        self.path = path
        self.entry_ok = entry_ok
        self.problem: str | None = None
        self._memory: sqlite3.Connection | None = None

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._memory is None:
            error: BaseException | None = None
            for _attempt in range(2):  # an immutable read can race a writer's checkpoint
                try:
                    db = sqlite_db.connect_readonly(self.path)
                except FileNotFoundError:
                    break
                try:
                    db.row_factory = sqlite3.Row
                    return fn(db)
                except sqlite3.DatabaseError as e:
                    if not is_corrupt(e) and "no such table" not in str(e):
                        raise
                    error = e  # a corrupt index, or one being created right now
                finally:
                    db.close()
            if error is not None and is_corrupt(error):
                self.problem = (
                    f"the lineage index {self.path.name} is corrupt ({error}); the graph was "
                    "built from the entries' records instead (without run history). The next "
                    "step run or `dreamer-lab verify` moves it to quarantine/ and rebuilds it."
                )
            self._memory = self._from_records()
        return fn(self._memory)

    def _from_records(self) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.executescript(_SCHEMA)
        _fill(db, read_records(self.workspace, entry_ok=self.entry_ok))
        db.row_factory = sqlite3.Row
        return db

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(f"{self.path} is open read-only; open the workspace to write")

    add_step = add_run = remove_steps = rebuild = _refuse  # type: ignore[assignment]
