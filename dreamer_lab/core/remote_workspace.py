"""A workspace in object storage: ``DataDreamer("s3://bucket/prefix")``.

The local store stays the one place where entries are written and verified. The object
store holds whole, verified entries and the local folder (the *read cache*) mirrors them::

    <url>/.dreamer_lab                         marker
    <url>/steps/<fp>/record.json               the entry's record, byte for byte (written last)
    <url>/steps/<fp>/v/<xxh3 of record>/...    the files the record lists (data/, objects/)
    <url>/models/<fp>/...                      trained models, same layout
    <url>/leases/<fp>.json                     who computes <fp> now (core/lease.py)
    <url>/requests/<backend>/<batch>.json.gz   request-cache batches, immutable
    <url>/quarantine/<area>/<fp>.<time>/       records found corrupt, moved aside

Commit: the entry is committed in the local cache as in a local workspace; its files are
uploaded under a folder named by its record's digest (two machines committing different
results never overwrite each other's files); record.json is uploaded last with a conditional
create, so an entry is visible only when complete and the first commit wins. A machine whose
upload lost takes the winner's entry. Load: the local cache first; on a miss, record.json is
downloaded and its digest checked, every listed file is downloaded into ``tmp/`` and its
size and xxh3 checked by the local store's own code, and only then is the folder renamed into
the cache, where ``StepStore.load`` checks it again before Arrow maps it. A corrupt entry in
the bucket is never served: its record is moved to ``quarantine/`` in the bucket (with a
``CorruptEntryWarning``) and the step recomputes.

Computing: the local file lock, then a lease in the bucket (core/lease.py), so two machines
asking for one fingerprint compute it once; the waiter then loads the holder's result.

Request caches: ``requests/<backend>.sqlite`` in the cache as in a local workspace; every
committed batch is also uploaded (in a background thread, coalesced) as an immutable
``requests/<backend>/<name>.json.gz`` object whose name ends with the xxh3 of its bytes; on
open and then at most every ``request_sync_interval`` seconds, batches this machine has not
merged are downloaded, checked and merged (``INSERT OR IGNORE``). A killed run therefore
leaves every uploaded batch to the next machine.

Lineage: records are the shared truth. On open, every record in the bucket that the local
index does not know is downloaded, checked, and added (steps, edges, one 'done' run). Each
machine's run history (hits, failures) stays in its cache.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
import warnings
import weakref
from pathlib import Path, PurePosixPath
from typing import Any

import xxhash
from filelock import FileLock

from dreamer_lab.core.entry_record import RECORD, fsync_dir, fsync_tree, parse_record
from dreamer_lab.core.lease import Lease
from dreamer_lab.core.object_store import ObjectStore, normalize_url
from dreamer_lab.core.store import Entry, StepStore, _carry_digests, _files_of, check_files
from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import (
    CorruptEntryError,
    CorruptEntryWarning,
    ObjectStoreError,
    ObjectStoreWarning,
    WorkspaceError,
)

log = logging.getLogger("dreamer_lab")

URL_FILE = ".dreamer_lab_remote"
REMOTE_MARKER = ".dreamer_lab"
PUBLISHED = "published"  # <cache>/published/<area>/<fp>: this entry is in the bucket


def default_cache_root() -> Path:
    """``$DREAMER_LAB_REMOTE_CACHE`` or ``~/.cache/dreamer_lab/remote``."""
    env = os.environ.get("DREAMER_LAB_REMOTE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dreamer_lab" / "remote"


def default_cache_dir(url: str) -> Path:
    """The read cache of ``url``: ``<cache root>/<first 16 hex of xxh3(url)>``."""
    return default_cache_root() / xxhash.xxh3_128(normalize_url(url).encode()).hexdigest()[:16]


def blob_folder(raw_record: bytes) -> str:
    """The folder holding an entry's files: named by the record's own bytes."""
    return "v/" + xxhash.xxh3_128(raw_record).hexdigest()


def _safe_rel(rel: str) -> bool:
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and "\\" not in rel


class MirroredStore(StepStore):
    """``steps/`` or ``models/`` of a remote workspace: the local cache, backed by the bucket."""

    def __init__(self, ws: RemoteWorkspace, area: str):
        super().__init__(ws.path / area, ws.path / "tmp", ws.path / "quarantine", trust=ws.trust)
        self.ws = ws
        self.area = area
        self.remote = ws.remote
        self._committing = threading.local()  # commit() publishes itself, after its load

    def _key(self, fp: str, rel: str = RECORD) -> str:
        return f"{self.area}/{fp}/{rel}"

    def _published(self, fp: str) -> Path:
        return self.ws.path / PUBLISHED / self.area / fp

    def _mark_published(self, fp: str) -> None:
        p = self._published(fp)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()

    # -- reads ---------------------------------------------------------------------------
    def fingerprints(self) -> list[str]:
        remote = {k.split("/")[1] for k in self.remote.glob(f"{self.area}/*/{RECORD}")}
        return sorted(set(super().fingerprints()) | remote)

    def remote_exists(self, fp: str) -> bool:
        return self.remote.exists(self._key(fp))

    def load(self, fingerprint: str, *, check_data: bool = True) -> Entry | None:
        """The cached entry, else the bucket's (downloaded and verified), else None.

        A local hit not yet in the bucket (its upload was interrupted) is uploaded now.
        """
        entry = super().load(fingerprint, check_data=check_data)
        if entry is not None:
            if (
                getattr(self._committing, "fp", None) == fingerprint
                or self._published(fingerprint).exists()
                or self._publish_quietly(fingerprint)
            ):
                return entry
            # Another machine committed this fingerprint first (our upload was cut off).
            super().discard(fingerprint)
            entry = None
        try:
            fetched = self.fetch(fingerprint)
        except CorruptEntryError as e:
            self.quarantine_remote(fingerprint, str(e))
            return None
        except ObjectStoreError as e:
            warnings.warn(
                f"{e} Computing {self.area}/{fingerprint} locally instead.",
                ObjectStoreWarning,
                stacklevel=2,
            )
            return None
        return super().load(fingerprint, check_data=check_data) if fetched else None

    def fetch(self, fp: str) -> bool:
        """Download the bucket's entry into the cache, verified. False when there is none.

        Raises :class:`CorruptEntryError` (the entry is not served) when record.json's digest,
        a file's size or a file's xxh3 digest does not match.
        """
        key = self._key(fp)
        raw = self.remote.get(key)
        if raw is None:
            return False
        where = self.remote.where(f"{self.area}/{fp}")
        try:
            record, has_digest = parse_record(raw, fp)
            if not has_digest:
                raise CorruptEntryError("record.json has no digest")
            files = _files_of(record)
            for rel, meta in files.items():
                if not _safe_rel(rel) or not isinstance(meta, dict):
                    raise CorruptEntryError(f"record.json lists an invalid file name {rel!r}")
        except CorruptEntryError as e:
            raise CorruptEntryError(f"{where} is corrupt in the object store: {e}") from None
        folder = f"{self.area}/{fp}/{blob_folder(raw)}"
        tmp = self.new_tmp(fp)
        try:
            pairs = []
            for rel in files:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                pairs.append((f"{folder}/{rel}", tmp / rel))
            try:
                self.remote.get_files(pairs)
            except FileNotFoundError as e:
                missing = str(e.args[0] if e.args else e).removeprefix(f"{folder}/")
                raise CorruptEntryError(f"file {missing} is missing") from None
            try:
                check_files(tmp, files)
            except CorruptEntryError as e:
                msg = str(e).replace("changed on disk", "does not match record.json")
                raise CorruptEntryError(msg) from None
            (tmp / RECORD).write_bytes(raw)
            fsync_tree(tmp)
            self.root.mkdir(parents=True, exist_ok=True)
            dst = self.path(fp)
            if dst.exists() and not self.exists(fp):
                self.quarantine(fp, "incomplete entry found while downloading")
            try:
                os.rename(tmp, dst)
                _carry_digests(tmp, dst, files)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process put it there first
            fsync_dir(self.root)
        except CorruptEntryError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CorruptEntryError(f"{where} is corrupt in the object store: {e}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._mark_published(fp)
        return True

    def _move_aside(self, fp: str, reason: str) -> str:
        """Move an entry's record to ``quarantine/`` in the bucket; says what happened."""
        self._published(fp).unlink(missing_ok=True)
        stamp = f"{int(time.time())}.{uuid.uuid4().hex[:6]}"
        aside = f"quarantine/{self.area}/{fp}.{stamp}"
        try:
            raw = self.remote.get(self._key(fp))
            if raw is None:
                return "left in place (it was already gone)"
            self.remote.put(f"{aside}/{RECORD}", raw)
            self.remote.put(f"{aside}/QUARANTINE_REASON.txt", (reason + "\n").encode())
            self.remote.delete(self._key(fp))
            return f"its record was moved to {self.remote.where(aside)}/"
        except ObjectStoreError as e:
            return f"it could not be moved aside ({e})"

    def discard(self, fingerprint: str) -> None:
        """``force=True``: the cached entry and the bucket's are replaced by the new result."""
        super().discard(fingerprint)
        self._move_aside(fingerprint, "replaced by a run with force=True")

    def quarantine_remote(self, fp: str, reason: str) -> None:
        """Move a corrupt entry's record aside in the bucket (so it can be committed anew)."""
        moved = self._move_aside(fp, reason)
        warnings.warn(
            f"Refused {reason}; nothing of it was served. {moved[:1].upper()}{moved[1:]}, and "
            "the step will be recomputed.",
            CorruptEntryWarning,
            stacklevel=3,
        )

    # -- writes --------------------------------------------------------------------------
    def commit(self, fingerprint, write, record, objects=None) -> Entry:  # noqa: ANN001
        """Commit in the local cache, then publish to the bucket (record.json last)."""
        self._committing.fp = fingerprint
        try:
            entry = super().commit(fingerprint, write, record, objects)
        finally:
            self._committing.fp = None
        try:
            won = self.publish(fingerprint)
        except ObjectStoreError as e:
            warnings.warn(
                f"{e} The entry is committed in the local cache ({self.path(fingerprint)}) and "
                "will be uploaded the next time this machine loads it.",
                ObjectStoreWarning,
                stacklevel=2,
            )
            return entry
        if won:
            return entry
        # Another machine committed this fingerprint first: entries are immutable, keep theirs.
        super().discard(fingerprint)
        loaded = self.load(fingerprint, check_data=False)
        if loaded is None:
            raise ObjectStoreError(
                f"{self.remote.where(self._key(fingerprint))} was committed by another machine "
                "but could not be loaded; run the step again."
            )
        return loaded

    def publish(self, fp: str) -> bool:
        """Upload the cached entry: files first, record.json last and only if absent.

        True when the bucket now holds this entry, False when it holds another commit of
        the same fingerprint (made first).
        """
        raw = (self.path(fp) / RECORD).read_bytes()
        record, _ = parse_record(raw, fp)
        key = self._key(fp)
        existing = self.remote.get(key)
        if existing is not None:
            if existing == raw:
                self._mark_published(fp)
            return existing == raw
        folder = f"{self.area}/{fp}/{blob_folder(raw)}"
        self.remote.put_files(
            [(self.path(fp) / rel, f"{folder}/{rel}") for rel in _files_of(record)]
        )
        if self.remote.put_new(key, raw) is None:
            if self.remote.get(key) == raw:
                self._mark_published(fp)
                return True
            self.remote.delete_prefix(folder)  # our files: nobody's record points at them
            return False
        self._mark_published(fp)
        return True

    def _publish_quietly(self, fp: str) -> bool:
        """Publish; False only when the bucket holds another commit (made first)."""
        try:
            return self.publish(fp)
        except (ObjectStoreError, CorruptEntryError, OSError) as e:
            log.warning("could not upload %s/%s: %s", self.area, fp, e)
            return True  # keep serving the cached entry; retried on the next load


class RemoteLock:
    """The local file lock (processes sharing this cache), then the lease in the bucket."""

    def __init__(self, local: FileLock, lease: Lease):
        self.local = local
        self.lease = lease

    def __enter__(self) -> RemoteLock:
        self.local.acquire()
        self.leased = False
        try:
            self.lease.acquire()
            self.leased = True
        except ObjectStoreError as e:  # the bucket is unreachable: compute, commit locally
            warnings.warn(
                f"{e} Computing without the lease (another machine may compute the same "
                "step); the result is committed locally and uploaded on a later load.",
                ObjectStoreWarning,
                stacklevel=2,
            )
        except BaseException:
            self.local.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.leased:
                self.lease.release()
        finally:
            self.local.release()


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


_OPEN: weakref.WeakSet[RemoteWorkspace] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for ws in list(_OPEN):
        with contextlib.suppress(Exception):  # best effort at exit
            ws.flush(timeout=30)


class RemoteWorkspace(Workspace):
    """A workspace whose entries, records and request caches live in object storage.

    ``cache_dir``: the local read cache (default ``~/.cache/dreamer_lab/remote/<hash of
    url>``, or under ``$DREAMER_LAB_REMOTE_CACHE``); it is a complete local workspace folder.
    ``storage_options``: passed to fsspec (``client_kwargs={"endpoint_url": ...}``,
    ``profile=...``, ``key``/``secret``; credential values are registered as secrets).
    ``lease_ttl``: seconds without renewal after which a lease is taken over.
    ``create=False`` (readers: the sidebar) refuses a URL that holds no workspace instead of
    marking it as one.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | os.PathLike | None = None,
        storage_options: dict[str, Any] | None = None,
        trust: bool = False,
        lease_ttl: float = 60.0,
        lease_poll: float = 0.5,
        request_sync_interval: float = 2.0,
        create: bool = True,
    ):
        self.url = normalize_url(url)
        self.remote = ObjectStore(self.url, storage_options)
        self.lease_ttl = float(lease_ttl)
        self.lease_poll = float(lease_poll)
        self.request_sync_interval = float(request_sync_interval)
        local = Path(cache_dir).expanduser() if cache_dir else default_cache_dir(self.url)
        _claim_cache(local, self.url)
        super().__init__(local, trust=trust)
        self.steps = MirroredStore(self, "steps")
        self.models = MirroredStore(self, "models")
        self._mirrors: dict[str, RequestMirror] = {}
        self._check_store(create)
        self.sync_lineage()
        _OPEN.add(self)

    def __repr__(self) -> str:
        return f"RemoteWorkspace({self.url!r}, cache_dir={str(self.path)!r})"

    def _check_store(self, create: bool) -> None:
        """Reach the bucket once at open: a clear error now, not in the middle of a step."""
        try:
            if not self.remote.exists(REMOTE_MARKER):
                if not create:
                    raise ObjectStoreError(
                        f"{self.url} is not a dreamer_lab workspace (no {REMOTE_MARKER} object); "
                        "run a step with DataDreamer(url) first"
                    )
                self.remote.put_new(REMOTE_MARKER, b"dreamer_lab workspace v1\n")
        except ObjectStoreError as e:
            raise ObjectStoreError(f"Cannot open the workspace {self.url}: {e}") from None

    def lock(self, fingerprint: str) -> RemoteLock:  # type: ignore[override]
        """This cache's file lock, then the bucket's lease on ``fingerprint``."""
        return RemoteLock(
            super().lock(fingerprint),
            Lease(
                self.remote, f"leases/{fingerprint}.json", ttl=self.lease_ttl, poll=self.lease_poll
            ),
        )

    def attach_request_cache(self, cache: Any, backend: str) -> None:
        """Share ``cache`` (this workspace's ``requests/<backend>.sqlite``) through the bucket."""
        if getattr(cache, "mirror", None) is None:
            mirror = self._mirrors[backend] = RequestMirror(self, cache, backend)
            cache.mirror = mirror

    def flush(self, timeout: float = 120.0) -> bool:
        """Upload every queued request-cache batch; False if one did not finish in time."""
        return all(m.flush(timeout) for m in list(self._mirrors.values()))

    def close(self) -> None:
        """Wait for the queued request-cache batches (leaving a ``DataDreamer`` block)."""
        if not self.flush():
            warnings.warn(
                f"Some request-cache batches were not uploaded to {self.url} within 120 s "
                "(they are kept in this machine's cache, and uploaded while this process runs); "
                "other machines will send those requests again.",
                ObjectStoreWarning,
                stacklevel=2,
            )

    def sync_lineage(self) -> int:
        """Add the bucket's records that the local index lacks; returns how many."""
        from dreamer_lab.core.lineage import AREAS, _fill

        known = {s["fingerprint"] for s in self.lineage.steps()}
        keys = [
            k
            for area in AREAS
            for k in self.remote.glob(f"{area}/*/{RECORD}")
            if k.split("/")[1] not in known
        ]
        found = []
        for key, raw in self.remote.get_many(keys).items():
            area, fp = key.split("/")[:2]
            try:
                record, _ = parse_record(raw, fp)
            except CorruptEntryError as e:
                log.warning("skipped %s: %s", self.remote.where(key), e)
                continue
            found.append((record, area))
        if found:
            found.sort(key=lambda ra: float(ra[0].get("created") or 0))

            def fill(db: Any) -> None:
                db.execute("BEGIN IMMEDIATE")
                _fill(db, found)
                db.execute("COMMIT")

            self.lineage._call(fill)
        return len(found)


def _claim_cache(local: Path, url: str) -> None:
    """Mark ``local`` as the cache of ``url``; refuse a folder that belongs to another."""
    try:
        local.mkdir(parents=True, exist_ok=True)
        f = local / URL_FILE
        if f.exists():
            owner = f.read_text().strip()
            if owner != url:
                raise WorkspaceError(
                    f"The cache folder {str(local)!r} belongs to {owner}, not {url}; pass another "
                    "cache_dir= (each object-storage workspace needs its own)."
                )
        else:
            f.write_text(url + "\n")
    except OSError as e:
        raise WorkspaceError(
            f"Cannot use {str(local)!r} as the local cache of {url}: {e.strerror or e}. Pass "
            "cache_dir= a folder you can write to, or set $DREAMER_LAB_REMOTE_CACHE."
        ) from None


def open_remote(url: str, **options: Any) -> RemoteWorkspace:
    """Open the workspace at ``url`` (``DataDreamer(url)`` and the CLI use this)."""
    return RemoteWorkspace(url, **options)
