"""Object-storage workspaces in the sidebar: ``?workspace=s3://bucket/prefix``.

The routes read such a workspace through its local read cache (core/remote_workspace.py),
the same folder a kernel on this machine uses by default: the lineage comes from the
bucket's records (synced at most every ``SYNC_SECONDS``), and an entry a route opens is
downloaded and verified into the cache first (a corrupt one is refused with a 409, never
read). The server never creates a workspace in a bucket, and only object-store schemes are
accepted (no ``http://`` or ``file://``: a browser must not make the server fetch URLs).
The routes keep every file they open inside that cache folder.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from dreamer_lab.core.object_store import is_url
from dreamer_lab.errors import CorruptEntryError, ObjectStoreError
from dreamer_lab.server.paths import PathRefused

SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
SYNC_SECONDS = 5.0
_OPEN: dict[str, tuple[Any, float]] = {}
_LOCK = threading.Lock()


def is_remote(rel: str) -> bool:
    return is_url(rel)


def _workspace(url: str) -> Any:
    from dreamer_lab.core.remote_workspace import RemoteWorkspace

    scheme = url.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise PathRefused(
            f"{scheme}:// workspaces are not served; the sidebar reads object storage "
            f"({', '.join(s + '://' for s in SCHEMES)}) or folders under the server root",
            400,
        )
    with _LOCK:
        key = url.rstrip("/")
        ws, synced = _OPEN.get(key, (None, 0.0))
        try:
            if ws is None:
                ws = RemoteWorkspace(key, create=False)  # syncs the lineage on open
                synced = time.monotonic()
            elif time.monotonic() - synced > SYNC_SECONDS:
                ws.sync_lineage()
                synced = time.monotonic()
        except ObjectStoreError as e:
            raise PathRefused(str(e), 404) from None
        _OPEN[key] = (ws, synced)
        return ws


def known_urls() -> list[str]:
    """Object-storage workspaces opened on this machine (their caches under the default
    cache root name them), for the sidebar's workspace list."""
    from dreamer_lab.core.remote_workspace import URL_FILE, default_cache_root

    found = set()
    try:
        for f in default_cache_root().glob(f"*/{URL_FILE}"):
            url = f.read_text().strip()
            if is_url(url) and url.split("://", 1)[0].lower() in SCHEMES:
                found.add(url)
    except OSError:
        return []
    return sorted(found)


def cache_folder(url: str) -> Path:
    """The local read cache of ``url``, its lineage synced from the bucket."""
    return _workspace(url).path


def fetch_entry(url: str, fp: str) -> None:
    """Download and verify ``fp`` into the cache (if it is in the bucket and not cached)."""
    from dreamer_lab.server.views import CORRUPT_HINT, CorruptEntry

    ws = _workspace(url)
    for store in (ws.steps, ws.models):
        if store.exists(fp):
            return
        try:
            if store.fetch(fp):
                return
        except CorruptEntryError as e:
            raise CorruptEntry(f"{e}. {CORRUPT_HINT}") from None
        except ObjectStoreError as e:
            raise PathRefused(str(e), 404) from None
