"""A workspace in object storage: ``DataDreamer("s3://bucket/prefix")``.

The local store stays the one place where entries are written and verified. The object
store holds whole, verified entries and the local folder (the *read cache*) mirrors them::

    <url>/.dreamer_lab                         marker
    <url>/steps/<fp>/record.json               the entry's record, byte for byte (written last)
    <url>/steps/<fp>/v/<xxh3 of record>/...    the files the record lists (data/, objects/)
    <url>/models/<fp>/...                      trained models, same layout
    <url>/leases/<fp>.json                     who computes <fp> now (core/lease.py)
    <url>/requests/<backend>/<batch>.json.gz   request-cache batches, immutable
    <url>/checkpoints/<fp>/...                 a training run's checkpoints (remote_checkpoints.py)
    <url>/quarantine/<area>/<fp>.<time>/       records found corrupt, moved aside

Entries (commit, load, corrupt objects): core/remote_store.py. Request caches:
core/remote_requests.py. Lineage: core/remote_lineage.py.

Computing: the local file lock, then a lease in the bucket (core/lease.py), so two machines
asking for one fingerprint compute it once; the waiter then loads the holder's result.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import warnings
import weakref
from pathlib import Path
from typing import Any

import xxhash
from filelock import FileLock

from dreamer_lab.core.lease import Lease
from dreamer_lab.core.object_store import ObjectStore, normalize_url
from dreamer_lab.core.remote_checkpoints import CheckpointMirror
from dreamer_lab.core.remote_lineage import sync_lineage
from dreamer_lab.core.remote_requests import RequestMirror
from dreamer_lab.core.remote_store import MirroredStore
from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import ObjectStoreError, ObjectStoreWarning, WorkspaceError

URL_FILE = ".dreamer_lab_remote"
REMOTE_MARKER = ".dreamer_lab"


def default_cache_root() -> Path:
    """``$DREAMER_LAB_REMOTE_CACHE`` or ``~/.cache/dreamer_lab/remote``."""
    env = os.environ.get("DREAMER_LAB_REMOTE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dreamer_lab" / "remote"


def default_cache_dir(url: str) -> Path:
    """The read cache of ``url``: ``<cache root>/<first 16 hex of xxh3(url)>``."""
    return default_cache_root() / xxhash.xxh3_128(normalize_url(url).encode()).hexdigest()[:16]


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

    def checkpoint_mirror(
        self, fingerprint: str, with_checkpoint: tuple[str, ...] = ()
    ) -> CheckpointMirror:
        """The bucket's copy of the checkpoints of the training run ``fingerprint``
        (``with_checkpoint``: files next to them uploaded with each one)."""
        return CheckpointMirror(self.remote, fingerprint, with_checkpoint)

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
        return sync_lineage(self.lineage, self.remote)


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
