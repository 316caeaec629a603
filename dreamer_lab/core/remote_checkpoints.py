"""Trainer checkpoints shared through an object-storage workspace.

A run killed on one machine (a preempted spot instance) resumes on another from the last
checkpoint that reached the bucket::

    <url>/checkpoints/<fp>/checkpoint-N/<file>    the files of one checkpoint (uploaded first)
    <url>/checkpoints/<fp>/checkpoint-N.json      its marker, written last: every file's size
                                                  and xxh3; a checkpoint without one is never used
    <url>/checkpoints/<fp>/state/<name>           small state files (a fine-tune job's ids, the
                                                  loss history as of the last checkpoint)

Uploads run in one background thread, one checkpoint at a time; a newer checkpoint replaces
one still queued. After a checkpoint is complete in the bucket, the bucket's checkpoints that
the local folder no longer keeps (the trainer's ``save_total_limit``) are deleted. A download
is checked file by file against the marker; a mismatch is refused with a
:class:`~dreamer_lab.errors.CorruptEntryWarning` and the next older checkpoint (or a fresh
start) is used instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import socket
import threading
import time
import warnings
from pathlib import Path

from dreamer_lab.core.object_store import ObjectStore
from dreamer_lab.core.store import file_digest  # the store's: read in chunks, never mapped
from dreamer_lab.errors import CorruptEntryWarning, ObjectStoreError, ObjectStoreWarning

log = logging.getLogger("dreamer_lab")

_MARKER = re.compile(r"^checkpoint-(\d+)\.json$")


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: Path) -> int:
    """The optimizer step of a ``checkpoint-N`` folder (-1 for any other name)."""
    m = _CHECKPOINT.match(path.name)
    return int(m.group(1)) if m else -1


class CheckpointMirror:
    """The bucket's copy of one run's checkpoints (``checkpoints/<fingerprint>/``)."""

    def __init__(
        self, remote: ObjectStore, fingerprint: str, with_checkpoint: tuple[str, ...] = ()
    ):
        self.remote = remote
        self.prefix = f"checkpoints/{fingerprint}"
        # Files next to the checkpoints uploaded (as state) with each one: the loss history.
        self.with_checkpoint = tuple(with_checkpoint)
        self._cond = threading.Condition()
        self._pending: Path | None = None
        self._closed = False
        self._warned = False
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"CheckpointMirror({self.remote.where(self.prefix)!r})"

    # -- upload ----------------------------------------------------------------------------
    def saved(self, folder: Path) -> None:
        """Queue the complete checkpoint ``folder`` for upload (replacing a queued one)."""
        with self._cond:
            if self._closed:
                return
            self._pending = Path(folder)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="dreamer_lab-checkpoint-upload", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def finish(self, *, upload_queued: bool, timeout: float = 600.0) -> bool:
        """Stop: the upload in flight completes; a queued one is uploaded only when
        ``upload_queued`` (a failed run, to resume elsewhere). False if it did not end in time."""
        with self._cond:
            self._closed = True
            if not upload_queued:
                self._pending = None
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                folder, self._pending = self._pending, None
                if folder is None:
                    return
            try:
                self._upload(folder)
            except ObjectStoreError as e:
                if not folder.is_dir():  # the trainer removed it meanwhile: a newer one follows
                    with contextlib.suppress(ObjectStoreError):
                        self.remote.delete_prefix(f"{self.prefix}/{folder.name}")
                    continue
                self._warn(f"{e} The checkpoint stays in this machine's cache only.")
            except Exception as e:  # noqa: BLE001 - a background thread must not die silently
                self._warn(f"Uploading {folder.name} failed: {type(e).__name__}: {e}")

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        if not self._warned:
            self._warned = True
            warnings.warn(message, ObjectStoreWarning, stacklevel=2)

    def _upload(self, folder: Path) -> None:
        started = time.monotonic()
        key = f"{self.prefix}/{folder.name}"
        try:
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            listed = {
                p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "xxh3": file_digest(p)}
                for p in files
            }
            self.remote.put_files([(p, f"{key}/{p.relative_to(folder).as_posix()}") for p in files])
        except FileNotFoundError:  # the trainer removed it meanwhile (save_total_limit)
            self.remote.delete_prefix(key)
            return
        marker = {
            "step": checkpoint_step(folder),
            "files": listed,
            "host": socket.gethostname(),
            "created": time.time(),
        }
        self.remote.put(f"{key}.json", json.dumps(marker, indent=1).encode())
        for name in self.with_checkpoint:
            if (folder.parent / name).is_file():
                self.put_state(folder.parent / name)
        log.info(
            "Checkpoint %s uploaded to %s in %.2f s",
            folder.name,
            self.remote.where(key),
            time.monotonic() - started,
        )
        self._prune(folder.parent, keep=folder.name)

    def _prune(self, local: Path, keep: str) -> None:
        """Delete the bucket's checkpoints that the local folder no longer keeps."""
        for _step, name in self.complete():
            if name != keep and not (local / name).is_dir():
                self.remote.delete(f"{self.prefix}/{name}.json")  # the marker first
                self.remote.delete_prefix(f"{self.prefix}/{name}")

    # -- download --------------------------------------------------------------------------
    def complete(self) -> list[tuple[int, str]]:
        """``(step, "checkpoint-N")`` of the bucket's complete checkpoints, newest first."""
        out = []
        for key in self.remote.list(self.prefix):
            m = _MARKER.match(key.rsplit("/", 1)[-1])
            if m:
                out.append((int(m.group(1)), f"checkpoint-{m.group(1)}"))
        return sorted(out, reverse=True)

    def restore(self, local: Path, have: Path | None) -> Path | None:
        """The checkpoint to resume from: ``have`` (the newest local one, or None), or a newer
        complete one from the bucket, downloaded into ``local`` and verified. Small state
        files missing locally are downloaded too."""
        try:
            self._restore_state(local)
            newer = [c for c in self.complete() if c[0] > (checkpoint_step(have) if have else -1)]
            for _step, name in newer:
                got = self._download(local, name)
                if got is not None:
                    return got
        except ObjectStoreError as e:
            warnings.warn(
                f"{e} Resuming from this machine's own checkpoints.", ObjectStoreWarning, 2
            )
        return have

    def _download(self, local: Path, name: str) -> Path | None:
        key = f"{self.prefix}/{name}"
        raw = self.remote.get(f"{key}.json")
        tmp = local / f".download-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            files = json.loads(raw or b"")["files"]
            pairs = [(f"{key}/{rel}", tmp / rel) for rel in files if _safe(rel)]
            if len(pairs) != len(files):
                raise ValueError("a file path in the marker leaves the checkpoint folder")
            for _, dst in pairs:
                dst.parent.mkdir(parents=True, exist_ok=True)
            self.remote.get_files(pairs)
            for rel, want in files.items():
                path = tmp / rel
                if path.stat().st_size != want["size"] or file_digest(path) != want["xxh3"]:
                    raise ValueError(f"file {rel} does not match its size and xxh3 in the marker")
        except (ValueError, KeyError, TypeError, AttributeError, FileNotFoundError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            reason = f"file {e} is missing" if isinstance(e, FileNotFoundError) else str(e)
            warnings.warn(
                f"Refused the checkpoint {self.remote.where(key)}: {reason}; nothing of it is "
                "used, training resumes from an older checkpoint or starts fresh.",
                CorruptEntryWarning,
                stacklevel=4,
            )
            return None
        dst = local / name
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
        log.info("Checkpoint %s downloaded from %s", name, self.remote.where(key))
        return dst

    # -- small state files -----------------------------------------------------------------
    def put_state(self, path: Path) -> None:
        """Upload a small state file now (its name under ``state/``)."""
        try:
            self.remote.put(f"{self.prefix}/state/{path.name}", path.read_bytes())
        except ObjectStoreError as e:
            warnings.warn(
                f"{e} {path.name} is kept on this machine only; another machine would not see it.",
                ObjectStoreWarning,
                stacklevel=3,
            )

    def delete_state(self, name: str) -> None:
        try:
            self.remote.delete(f"{self.prefix}/state/{name}")
        except ObjectStoreError as e:
            warnings.warn(f"{e}", ObjectStoreWarning, stacklevel=3)

    def _restore_state(self, local: Path) -> None:
        for key in self.remote.list(f"{self.prefix}/state"):
            name = key.rsplit("/", 1)[-1]
            if _safe(name) and not (local / name).exists():
                data = self.remote.get(key)
                if data is not None:
                    local.mkdir(parents=True, exist_ok=True)
                    (local / name).write_bytes(data)

    def clear(self) -> None:
        """Remove the run's checkpoints and state from the bucket (its model is committed)."""
        self.finish(upload_queued=False)
        self.remote.delete_prefix(self.prefix)


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and all(p not in ("", ".", "..") for p in parts)
