"""The ``steps/`` and ``models/`` areas of an object-storage workspace (core/remote_workspace.py).

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
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
import warnings
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import xxhash

from dreamer_lab.core.entry_record import RECORD, parse_record
from dreamer_lab.core.store import Entry, StepStore, _files_of, check_files
from dreamer_lab.errors import (
    CorruptEntryError,
    CorruptEntryWarning,
    ObjectStoreError,
    ObjectStoreWarning,
)

if TYPE_CHECKING:
    from dreamer_lab.core.remote_workspace import RemoteWorkspace

log = logging.getLogger("dreamer_lab")

PUBLISHED = "published"  # <cache>/published/<area>/<fp>: this entry is in the bucket


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
            self.install(tmp, fp, files, "downloading")
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
