"""Request-level cache shared by every model call (LLMs, embedders, task models).

One SQLite file per backend under ``<workspace>/requests/`` (or a model's
``cache_folder_path``), WAL mode, committed per batch: a step killed halfway keeps every
batch it finished, and the rerun sends only the missing requests. Values are JSON (never pickles). Keys come from :func:`request_key`:
model identity + every generation parameter + the rendered prompt + the per-row seed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dreamer_lab.core import sqlite_db
from dreamer_lab.core.fingerprint import combine, hash_value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (strftime('%s','now'))
);
"""


def request_key(model_identity: str, params: dict[str, Any], prompt: Any, seed: Any = None) -> str:
    """Cache key of one request. ``model_identity`` is the model's fingerprint string."""
    return combine(
        model_identity,
        hash_value(params, label="generation parameters"),
        hash_value(prompt, label="prompt"),
        hash_value(seed, label="seed"),
    )


class RequestCache:
    """A persistent ``key -> JSON value`` map with batch commits."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        # An object-storage workspace shares the cache (core/remote_requests.RequestMirror).
        self.mirror: Any = None
        with self._db():
            pass

    @contextmanager
    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_db.connect(self.path, _SCHEMA, check_same_thread=False)
            self._local.db = db
        yield db

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values among ``keys`` (missing keys are absent from the result)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, Any] = {}
        if self.mirror is not None:
            self.mirror.pull()  # batches other machines committed (rate-limited)
        with self._db() as db:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                q = f"SELECT key, value FROM requests WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in db.execute(q, chunk):
                    out[k] = json.loads(v)
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def get(self, key: str) -> Any | None:
        return self.get_many([key]).get(key)

    def put_many(self, items: dict[str, Any]) -> None:
        """Store a batch of results in one transaction (durable when this returns)."""
        if not items:
            return
        rows = [(k, json.dumps(v)) for k, v in items.items()]
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO requests (key, value) VALUES (?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if self.mirror is not None:
            self.mirror.push(items)  # uploaded in the background

    def __len__(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


_CACHES: dict[Path, RequestCache] = {}
_LOCK = threading.Lock()


def request_cache_for(
    backend: str, workspace: Any = None, folder: str | Path | None = None
) -> RequestCache:
    """The request cache of ``backend`` (e.g. ``"hf_transformers"``) in a workspace, or in
    ``folder`` (a model's ``cache_folder_path``) when given."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", backend)
    ws = None
    if folder is not None:
        path = Path(folder).expanduser().resolve() / f"{safe}.sqlite"
    else:
        from dreamer_lab.core.workspace import current_workspace

        ws = workspace or current_workspace()
        path = ws.path / "requests" / f"{safe}.sqlite"
    with _LOCK:
        cache = _CACHES.get(path)
        if cache is None:
            cache = _CACHES[path] = RequestCache(path)
    attach = getattr(ws, "attach_request_cache", None) if folder is None else None
    if attach is not None:
        attach(cache, safe)
    return cache
