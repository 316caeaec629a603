"""Opening the workspace's SQLite files safely from several processes at once.

Switching a database to WAL mode takes an exclusive lock, and SQLite may answer
"database is locked" to that switch without waiting on its busy timeout when two
processes open a new file together. So the first open of a file (schema + WAL switch)
happens under a file lock, once per process; later connections only set per-connection
options.

Also here: telling corruption from other errors (:func:`is_corrupt`), replacing a corrupt
file by a rebuilt one under the same file lock (:func:`replace_corrupt`), and read-only
connections that create and change nothing (:func:`connect_readonly`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock

from dreamer_lab.errors import CorruptDatabaseError  # noqa: F401

_ready: set[str] = set()
_ready_lock = threading.RLock()

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CORRUPT_MESSAGES = ("malformed", "not a database", "could not decode to utf-8")


def is_corrupt(error: BaseException) -> bool:
    """True for SQLite's corruption errors (not for busy, locked, full or I/O errors)."""
    if isinstance(error, CorruptDatabaseError):
        return True
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    message = str(error).lower()
    return any(m in message for m in _CORRUPT_MESSAGES)


def quick_check(db: sqlite3.Connection) -> None:
    """Raise :class:`CorruptDatabaseError` unless SQLite's structural check passes."""
    rows = db.execute("PRAGMA quick_check").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        raise CorruptDatabaseError(f"PRAGMA quick_check: {'; '.join(str(r[0]) for r in rows[:3])}")


def connect(
    path: Path, schema: str, *, check_same_thread: bool = True, check: bool = False
) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode with ``schema`` applied (autocommit mode).

    ``check``: on the first open in this process, also run :func:`quick_check`.
    """
    key = str(Path(path).resolve())
    with _ready_lock:
        if key not in _ready or not Path(key).exists():  # a deleted workspace starts anew
            with FileLock(key + ".lock"):
                db = sqlite3.connect(key, timeout=60, isolation_level=None)
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(schema)
                    if check:
                        quick_check(db)
                finally:
                    db.close()
            _ready.add(key)
    db = sqlite3.connect(key, timeout=60, isolation_level=None, check_same_thread=check_same_thread)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def replace_corrupt(
    path: Path,
    schema: str,
    *,
    probe: Callable[[sqlite3.Connection], None],
    fill: Callable[[sqlite3.Connection], None],
    quarantine: Path,
    reason: str,
    scratch: Path | None = None,
) -> Path | None:
    """Move a corrupt database aside and put a rebuilt one in its place.

    Under the file lock of :func:`connect`, so that processes finding the corruption
    together rebuild it once: ``probe(db)`` raises if the file at ``path`` is (still)
    corrupt; when it passes, another process has rebuilt it and nothing is done (None).
    Otherwise a new database (``schema``, then ``fill(db)`` in one transaction) is built
    beside it, the corrupt file and its -wal/-shm are moved into a new folder under
    ``quarantine`` (returned) with ``reason``, and the new file replaces the old one.
    The new file is built in ``scratch`` (default: next to ``path``; same file system),
    named ``<name>-rebuild.<host>.<pid>.<rand>`` like the workspace's other partial writes.
    """
    key = str(Path(path).resolve())
    with _ready_lock, FileLock(key + ".lock"):
        if not Path(key).exists() or _passes(key, probe):
            return None
        tmp = str(
            Path(scratch or Path(key).parent)
            / f"{Path(key).name.replace('.', '-')}-rebuild.{socket.gethostname()}.{os.getpid()}"
            f".{uuid.uuid4().hex[:8]}"
        )
        try:
            db = sqlite3.connect(tmp, timeout=60, isolation_level=None)
            try:
                db.executescript(schema)
                db.execute("BEGIN IMMEDIATE")
                fill(db)
                db.execute("COMMIT")
                db.execute("PRAGMA journal_mode=WAL")
            finally:
                db.close()
            name = Path(key).name
            dst = quarantine / f"{name}.{int(time.time())}.{uuid.uuid4().hex[:6]}"
            dst.mkdir(parents=True)
            # Link (not move) the corrupt file, so that `path` names a database at all
            # times; the replace below then drops the old name.
            try:
                os.link(key, dst / name)
            except OSError:
                shutil.copy2(key, dst / name)
            for suffix in ("-wal", "-shm"):
                if os.path.lexists(key + suffix):
                    os.replace(key + suffix, dst / (name + suffix))
            (dst / "QUARANTINE_REASON.txt").write_text(reason + "\n")
            os.replace(tmp, key)
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp + suffix)
        _ready.add(key)
        return dst


def _passes(key: str, probe: Callable[[sqlite3.Connection], None]) -> bool:
    db = sqlite3.connect(key, timeout=60, isolation_level=None)
    try:
        probe(db)
        return True
    except sqlite3.DatabaseError as e:
        if is_corrupt(e):
            return False
        raise
    finally:
        db.close()


def connect_readonly(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection that creates no file and changes none.

    Opens the file ``path`` resolves to with ``mode=ro``. A WAL database that no
    connection has open has no -wal file; opening it ``mode=ro`` would create -wal and
    -shm (and leave them), so it is opened ``immutable=1`` instead: nothing else is
    writing it at that moment. While a writer is active its -wal/-shm exist and are
    used (a reader only marks its place in the -shm). Raises FileNotFoundError if
    ``path`` does not exist.
    """
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        raise FileNotFoundError(real)
    uri = f"file:{quote(real)}?mode=ro"
    if not os.path.exists(real + "-wal"):
        uri += "&immutable=1"
    return sqlite3.connect(
        uri, uri=True, timeout=60, isolation_level=None, check_same_thread=check_same_thread
    )
