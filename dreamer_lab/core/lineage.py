"""The lineage index: ``lineage.sqlite`` over all records in a workspace.

The records on disk are the truth; this index makes queries cheap (names ->
fingerprints, edges, run history, running/failed status) and can be rebuilt from the
records at any time (:meth:`LineageIndex.rebuild`). SQLite in WAL mode lets several
kernels write to it at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dreamer_lab.core import sqlite_db

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


class LineageIndex:
    """Queries and updates over ``lineage.sqlite``."""

    def __init__(self, path: Path):
        self.path = path
        with self._connect():
            pass

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite_db.connect(self.path, _SCHEMA)
        try:
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    # -- writes -----------------------------------------------------------------------
    def add_step(self, record: dict[str, Any], area: str = "steps") -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?)",
                (
                    record["fingerprint"],
                    record.get("name", ""),
                    record.get("kind", ""),
                    record.get("created", time.time()),
                    record.get("rows"),
                    (record.get("timings") or {}).get("seconds"),
                    area,
                ),
            )
            for parent in record.get("parents", []):
                db.execute(
                    "INSERT OR IGNORE INTO edges VALUES (?,?)", (parent, record["fingerprint"])
                )
            db.execute("COMMIT")

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
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO runs (name, kind, fingerprint, ts, status, components, parents, error,"
                " notebook, cell_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
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
                ),
            )
            return int(cur.lastrowid)

    def remove_steps(self, fingerprints: list[str]) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            for fp in fingerprints:
                db.execute("DELETE FROM steps WHERE fingerprint=?", (fp,))
                db.execute("DELETE FROM edges WHERE child=?", (fp,))
            db.execute("COMMIT")

    def rebuild(self, records: list[tuple[dict[str, Any], str]]) -> None:
        """Re-create the steps and edges tables from records (the truth on disk)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM steps")
            db.execute("DELETE FROM edges")
            db.execute("COMMIT")
        for record, area in records:
            self.add_step(record, area)

    # -- reads ------------------------------------------------------------------------
    def steps(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM steps ORDER BY created")]

    def edges(self) -> list[tuple[str, str]]:
        with self._connect() as db:
            return [(r["parent"], r["child"]) for r in db.execute("SELECT * FROM edges")]

    def runs(self, name: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self._connect() as db:
            if name is None:
                rows = db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = db.execute(
                    "SELECT * FROM runs WHERE name=? ORDER BY id DESC LIMIT ?", (name, limit)
                )
            out = []
            for r in rows:
                d = dict(r)
                d["components"] = json.loads(d["components"] or "{}")
                d["parents"] = json.loads(d["parents"] or "[]")
                out.append(d)
            return out

    def latest_runs_by_name(self) -> dict[str, dict[str, Any]]:
        """For each step name, its most recent run (any status)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT r.* FROM runs r JOIN (SELECT name, MAX(id) AS id FROM runs GROUP BY name)"
                " m ON r.id = m.id"
            )
            out = {}
            for r in rows:
                d = dict(r)
                d["components"] = json.loads(d["components"] or "{}")
                d["parents"] = json.loads(d["parents"] or "[]")
                out[d["name"]] = d
            return out
