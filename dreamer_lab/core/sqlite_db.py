"""Opening the workspace's SQLite files safely from several processes at once.

Switching a database to WAL mode takes an exclusive lock, and SQLite may answer
"database is locked" to that switch without waiting on its busy timeout when two
processes open a new file together. So the first open of a file (schema + WAL switch)
happens under a file lock, once per process; later connections only set per-connection
options.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from filelock import FileLock

_ready: set[str] = set()
_ready_lock = threading.Lock()


def connect(path: Path, schema: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode with ``schema`` applied (autocommit mode)."""
    key = str(Path(path).resolve())
    with _ready_lock:
        if key not in _ready or not Path(key).exists():  # a deleted workspace starts anew
            with FileLock(key + ".lock"):
                db = sqlite3.connect(key, timeout=60, isolation_level=None)
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(schema)
                finally:
                    db.close()
            _ready.add(key)
    db = sqlite3.connect(key, timeout=60, isolation_level=None, check_same_thread=check_same_thread)
    db.execute("PRAGMA synchronous=NORMAL")
    return db
