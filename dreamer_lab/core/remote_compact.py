"""Compaction of an object-storage workspace's request-cache batches (``dreamer-lab compact``).

Every committed request batch is an immutable object ``requests/<backend>/<name>.json.gz``
(core/remote_requests.py), so a bucket used for months holds thousands of small objects that
every new machine lists and downloads. :func:`compact_requests` merges, per backend, every
batch it listed into one new batch of the same format (old clients read it like any other)
named ``<time>-compact-<host>-<pid>-<rand>-<xxh3>.json.gz``, plus a manifest of the batch
names it holds (``requests/<backend>/manifests/<same name>``). It then reads the new object
back and checks its digest and its requests, and only after that deletes the batches it
merged.

Safe while other machines read and write, without a lease:

* only batches this run listed, downloaded and decoded are deleted: one uploaded after the
  listing, or one that is refused (its bytes do not match its name, or are not a JSON object:
  a warning, left in place) is never deleted;
* every deleted batch's requests are in a compacted object that was verified before the
  delete, and a compacted object is itself deleted only by a later compaction that merged it
  into a newer verified one; so each request stays in some object at every moment;
* two compactions at once each write their own object and delete only their own inputs: an
  input the other deleted first is skipped (``vanished``), a deletion of one already gone is a
  no-op. The worst case is two compacted objects with overlapping requests, merged by the next
  run. A lease would only save that duplicate work, at the price of a holder that dies
  blocking every other compaction until it expires;
* a reader that lists a batch deleted before it downloads it skips it quietly (the object
  store's ``get_many`` omits missing objects, and the batch is not marked merged); its
  requests are in the compacted object, which its next pull lists.

Where two batches hold the same request key, the first in name (time) order wins, as on a
machine that merges them one by one.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from dreamer_lab.core.object_store import ObjectStore
from dreamer_lab.core.remote_requests import (
    COMPACT_TAG,
    decode_batch,
    encode_batch,
    encode_manifest,
    is_compacted,
    manifest_key,
    read_manifest,
)
from dreamer_lab.core.remote_workspace import REMOTE_MARKER as MARKER
from dreamer_lab.errors import CorruptEntryWarning, ObjectStoreError, ObjectStoreWarning


@dataclass
class CompactResult:
    """What :func:`compact_requests` did to one backend's batches."""

    backend: str
    listed: int  # batch objects listed
    merged: int = 0  # merged into the new object, then deleted
    requests: int = 0  # requests in the new object
    bytes_before: int = 0  # of the merged batches
    bytes_after: int = 0  # of the new object
    written: str | None = None  # the new object's key (None: nothing to merge)
    refused: list[str] = field(default_factory=list)  # corrupt batches left in place
    vanished: int = 0  # listed, not downloaded (deleted meanwhile, or unreadable): left alone
    seconds: float = 0.0


def compact_requests(
    url: str | ObjectStore, *, storage_options: dict[str, Any] | None = None
) -> list[CompactResult]:
    """Merge each backend's request-cache batches in the workspace at ``url`` into one.

    Raises :class:`ObjectStoreError` when the bucket cannot be reached or ``url`` holds no
    workspace; warns (:class:`CorruptEntryWarning`) for each batch left in place.
    """
    store = url if isinstance(url, ObjectStore) else ObjectStore(url, storage_options)
    try:
        if not store.exists(MARKER):
            raise ObjectStoreError(
                f"{store.url} holds no dreamer_lab workspace (no {MARKER} object). Check the "
                "URL, that the bucket exists, and that your credentials can read it."
            )
        keys = store.glob("requests/*/*.json.gz")
    except ObjectStoreError as e:
        raise ObjectStoreError(f"Cannot compact {store.url}: {e}") from None
    backends: dict[str, list[str]] = {}
    for key in keys:
        backends.setdefault(key.split("/")[1], []).append(key)
    return [compact_backend(store, b, sorted(ks)) for b, ks in sorted(backends.items())]


def compact_backend(store: ObjectStore, backend: str, keys: list[str]) -> CompactResult:
    """Merge the batches ``keys`` (listed under ``requests/<backend>``) into one object."""
    t0 = time.perf_counter()
    result = CompactResult(backend, len(keys))
    if len(keys) < 2:
        return result
    got = store.get_many(keys)
    manifests = store.get_many([manifest_key(k) for k in keys if is_compacted(k) and k in got])
    items: dict[str, Any] = {}
    inputs: list[str] = []
    covers: set[str] = set()
    for key in keys:
        if key not in got:
            result.vanished += 1
            continue
        name = key.rsplit("/", 1)[-1]
        try:
            batch = decode_batch(name, got[key])
        except ValueError as e:
            result.refused.append(key)
            warnings.warn(
                f"Left the request-cache batch {store.where(key)} in place ({e}); its requests "
                "are not in the compacted batch, and every machine refuses it too. Delete it "
                "once you have looked at it.",
                CorruptEntryWarning,
                stacklevel=3,
            )
            continue
        for k, v in batch.items():
            items.setdefault(k, v)
        inputs.append(key)
        result.bytes_before += len(got[key])
        covers |= read_manifest(manifests.get(manifest_key(key))) or {name}
    if len(inputs) >= 2:
        _replace(store, f"requests/{backend}", items, inputs, covers, result)
    result.seconds = time.perf_counter() - t0
    return result


def _replace(
    store: ObjectStore,
    prefix: str,
    items: dict[str, Any],
    inputs: list[str],
    covers: set[str],
    result: CompactResult,
) -> None:
    """Write ``items`` as one verified batch, then delete ``inputs`` (and their manifests)."""
    name, data = encode_batch(items, COMPACT_TAG)
    key = f"{prefix}/{name}"
    # The manifest first: a reader that lists the new object finds its manifest.
    store.put(manifest_key(key), encode_manifest(covers))
    if store.put_new(key, data) is None:
        raise ObjectStoreError(f"{store.where(key)} already exists; nothing was deleted.")
    back = store.get(key)
    try:
        if back is None or decode_batch(name, back) != items:
            raise ValueError("it reads back different")
    except ValueError as e:
        raise ObjectStoreError(
            f"The compacted batch {store.where(key)} did not verify ({e}); nothing was deleted."
        ) from None
    result.written, result.requests, result.bytes_after = key, len(items), len(data)
    try:
        store.delete_many(inputs)
        # Manifests after their objects: a reader that lists an object finds its manifest
        # (without it the reader downloads the object whole: slower, never wrong).
        store.delete_many([manifest_key(k) for k in inputs if is_compacted(k)])
        left = set(inputs) & set(store.list(prefix))
    except ObjectStoreError as e:
        raise ObjectStoreError(
            f"{e} The compacted batch {store.where(key)} holds every request of the batches "
            "not deleted yet; run the compaction again to delete them."
        ) from None
    result.merged = len(inputs) - len(left)
    if left:
        warnings.warn(
            f"{len(left)} batches merged into {store.where(key)} were not deleted (the "
            "store refused; check that your credentials may delete objects); they only "
            "repeat its requests.",
            ObjectStoreWarning,
            stacklevel=3,
        )
