"""The request caches of an object-storage workspace (core/remote_workspace.py).

``requests/<backend>.sqlite`` lives in the cache as in a local workspace; every committed
batch is also uploaded (in a background thread, coalesced) as an immutable
``requests/<backend>/<name>.json.gz`` object whose name ends with the xxh3 of its bytes; on
open and then at most every ``request_sync_interval`` seconds, batches this machine has not
merged are downloaded, checked and merged (``INSERT OR IGNORE``). A killed run therefore
leaves every uploaded batch to the next machine.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import threading
import time
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import xxhash

from dreamer_lab.errors import CorruptEntryWarning, ObjectStoreError

if TYPE_CHECKING:
    from dreamer_lab.core.remote_workspace import RemoteWorkspace

log = logging.getLogger("dreamer_lab")


class RequestMirror:
    """Shares one backend's request cache through immutable batch objects in the bucket."""

    def __init__(self, ws: RemoteWorkspace, cache: Any, backend: str):
        self.remote = ws.remote
        self.cache = cache
        self.prefix = f"requests/{backend}"
        self.interval = ws.request_sync_interval
        self._pending: dict[str, Any] = {}
        self._cond = threading.Condition()
        self._uploading = False
        self._thread: threading.Thread | None = None
        self._last_pull = 0.0
        self._pull_lock = threading.Lock()
        self._failed: str | None = None
        self.uploaded = 0  # batch objects this process wrote
        with cache._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS remote_batches (name TEXT PRIMARY KEY, merged REAL)"
            )
        self.pull(force=True)

    # -- download ------------------------------------------------------------------------
    def pull(self, force: bool = False) -> int:
        """Merge the batches other machines uploaded; returns the requests added."""
        now = time.monotonic()
        if not force and now - self._last_pull < self.interval:
            return 0
        with self._pull_lock:
            self._last_pull = now
            try:
                names = self.remote.list(self.prefix)
            except ObjectStoreError as e:
                log.warning("request cache not synced: %s", e)
                return 0
            with self.cache._db() as db:
                known = {r[0] for r in db.execute("SELECT name FROM remote_batches")}
            new = [n for n in names if n.rsplit("/", 1)[-1] not in known]
            added = 0
            for key, data in self.remote.get_many(new).items():
                name = key.rsplit("/", 1)[-1]
                items = self._decode(name, data)
                with self.cache._db() as db:
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        if items is not None:
                            before = db.total_changes
                            db.executemany(
                                "INSERT OR IGNORE INTO requests (key, value) VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in items.items()],
                            )
                            added += db.total_changes - before
                        db.execute(
                            "INSERT OR IGNORE INTO remote_batches VALUES (?, ?)",
                            (name, time.time()),
                        )
                        db.execute("COMMIT")
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
            return added

    def _decode(self, name: str, data: bytes) -> dict[str, Any] | None:
        digest = name.removesuffix(".json.gz").rsplit("-", 1)[-1]
        try:
            if xxhash.xxh3_128(data).hexdigest() != digest:
                raise ValueError("its bytes do not match the digest in its name")
            items = json.loads(gzip.decompress(data))
            if not isinstance(items, dict):
                raise ValueError("not a JSON object")
            return items
        except (ValueError, OSError, EOFError) as e:
            warnings.warn(
                f"Refused the request-cache batch {self.remote.where(self.prefix)}/{name} "
                f"({e}); none of its requests were used.",
                CorruptEntryWarning,
                stacklevel=4,
            )
            return None

    # -- upload --------------------------------------------------------------------------
    def push(self, items: dict[str, Any]) -> None:
        """Queue a committed batch for upload (returns at once)."""
        with self._cond:
            self._pending.update(items)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="dreamer-lab-request-upload", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(timeout=30):
                        self._thread = None
                        return
                items, self._pending = self._pending, {}
                self._uploading = True
            try:
                self._upload(items)
            except Exception as e:  # noqa: BLE001 - kept queued, retried with the next batch
                with self._cond:
                    self._pending = {**items, **self._pending}
                if self._failed is None:
                    self._failed = str(e)
                    log.warning("request-cache batch not uploaded yet: %s", e)
                time.sleep(1.0)
            finally:
                with self._cond:
                    self._uploading = False
                    self._cond.notify_all()

    def _upload(self, items: dict[str, Any]) -> None:
        data = gzip.compress(json.dumps(items, sort_keys=True).encode(), compresslevel=5, mtime=0)
        stamp = f"{time.time_ns():020d}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        name = f"{stamp}-{xxhash.xxh3_128(data).hexdigest()}.json.gz"
        self.remote.put(f"{self.prefix}/{name}", data)
        self.uploaded += 1
        self._failed = None
        with self.cache._db() as db:  # our own batch: never downloaded back
            db.execute("INSERT OR IGNORE INTO remote_batches VALUES (?, ?)", (name, time.time()))

    def flush(self, timeout: float = 120.0) -> bool:
        """Wait until every queued batch is uploaded; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._uploading:
                alive = self._thread is not None and self._thread.is_alive()
                if self._pending and not alive:
                    self.push({})
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, 0.5))
        return True
