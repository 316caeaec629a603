"""The request caches of an object-storage workspace (core/remote_workspace.py).

``requests/<backend>.sqlite`` lives in the cache as in a local workspace; every committed
batch is also uploaded (in a background thread, coalesced) as an immutable
``requests/<backend>/<name>.json.gz`` object whose name ends with the xxh3 of its bytes; on
open and then at most every ``request_sync_interval`` seconds, batches this machine has not
merged are downloaded, checked and merged (``INSERT OR IGNORE``). A killed run therefore
leaves every uploaded batch to the next machine.

``dreamer-lab compact`` (core/remote_compact.py) merges a backend's batches into one batch
of the same format, named ``<time>-compact-...-<xxh3>.json.gz``, with a manifest
``requests/<backend>/manifests/<same name>`` (gzipped JSON: the uploaded batches it holds,
transitively); old clients never list the ``manifests/`` folder. A machine that has merged
every batch a manifest names marks the compacted object merged without downloading it.
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

COMPACT_TAG = "-compact-"


def encode_batch(items: dict[str, Any], tag: str = "") -> tuple[str, bytes]:
    """``(name, bytes)`` of a batch object holding ``items``; the name ends with its xxh3."""
    data = gzip.compress(json.dumps(items, sort_keys=True).encode(), compresslevel=5, mtime=0)
    stamp = f"{time.time_ns():020d}{tag or '-'}{socket.gethostname()}-{os.getpid()}"
    return f"{stamp}-{uuid.uuid4().hex[:8]}-{xxhash.xxh3_128(data).hexdigest()}.json.gz", data


def decode_batch(name: str, data: bytes) -> dict[str, Any]:
    """The requests of the batch object ``name``; ValueError if its bytes are not valid."""
    digest = name.removesuffix(".json.gz").rsplit("-", 1)[-1]
    if xxhash.xxh3_128(data).hexdigest() != digest:
        raise ValueError("its bytes do not match the digest in its name")
    try:
        items = json.loads(gzip.decompress(data))
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"not gzipped JSON: {e}") from None
    if not isinstance(items, dict):
        raise ValueError("not a JSON object")
    return items


def is_compacted(key: str) -> bool:
    return COMPACT_TAG in key.rsplit("/", 1)[-1]


def manifest_key(key: str) -> str:
    """``requests/<backend>/manifests/<name>`` of the compacted object ``key``."""
    folder, name = key.rsplit("/", 1)
    return f"{folder}/manifests/{name}"


def encode_manifest(batches: set[str]) -> bytes:
    return gzip.compress(json.dumps({"batches": sorted(batches)}).encode(), mtime=0)


def read_manifest(data: bytes | None) -> set[str] | None:
    """The batch names a manifest lists; None when it is missing, unreadable or empty."""
    if data is None:
        return None
    try:
        names = json.loads(gzip.decompress(data)).get("batches")
    except (ValueError, OSError, EOFError, AttributeError):
        return None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return None
    return set(names)


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
        self.skipped = 0  # compacted objects marked merged without a download
        with cache._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS remote_batches (name TEXT PRIMARY KEY, merged REAL)"
            )
        self.pull(force=True)

    # -- download ------------------------------------------------------------------------
    def pull(self, force: bool = False) -> int:
        """Merge the batches other machines uploaded; returns the requests added.

        A batch listed here but deleted before it is downloaded (a compaction merged it,
        core/remote_compact.py) is skipped quietly: the compacted object holds its requests
        and the next pull lists it. A compacted object whose manifest names only batches
        this machine has merged is marked merged without being downloaded.
        """
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
            covers = self._manifests([n for n in new if is_compacted(n)])
            skip = [n for n in new if n in covers and covers[n] <= known]
            self._mark(skip, covers)
            added = 0
            for key, data in self.remote.get_many([n for n in new if n not in skip]).items():
                added += self._merge(key, data, covers.get(key, set()))
            self.skipped += len(skip)
            return added

    def _manifests(self, keys: list[str]) -> dict[str, set[str]]:
        """The batch names each compacted object in ``keys`` replaces (from its manifest)."""
        if not keys:
            return {}
        try:
            got = self.remote.get_many([manifest_key(k) for k in keys])
        except ObjectStoreError:
            return {}
        out = {}
        for key in keys:
            names = read_manifest(got.get(manifest_key(key)))
            if names is not None:
                out[key] = names
        return out

    def _mark(self, keys: list[str], covers: dict[str, set[str]]) -> None:
        """Record ``keys`` (compacted objects whose requests are all here) as merged."""
        if not keys:
            return
        now = time.time()
        rows = {k.rsplit("/", 1)[-1] for k in keys}.union(*(covers[k] for k in keys))
        with self.cache._db() as db:
            db.executemany(
                "INSERT OR IGNORE INTO remote_batches VALUES (?, ?)", [(n, now) for n in rows]
            )

    def _merge(self, key: str, data: bytes, covered: set[str]) -> int:
        """Merge one downloaded batch; the requests added."""
        name = key.rsplit("/", 1)[-1]
        try:
            items: dict[str, Any] | None = decode_batch(name, data)
        except ValueError as e:
            warnings.warn(
                f"Refused the request-cache batch {self.remote.where(self.prefix)}/{name} "
                f"({e}); none of its requests were used.",
                CorruptEntryWarning,
                stacklevel=3,
            )
            items, covered = None, set()
        now = time.time()
        with self.cache._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                added = 0
                if items is not None:
                    before = db.total_changes
                    db.executemany(
                        "INSERT OR IGNORE INTO requests (key, value) VALUES (?, ?)",
                        [(k, json.dumps(v)) for k, v in items.items()],
                    )
                    added = db.total_changes - before
                db.executemany(
                    "INSERT OR IGNORE INTO remote_batches VALUES (?, ?)",
                    [(n, now) for n in {name, *covered}],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return added

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
        name, data = encode_batch(items)
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
