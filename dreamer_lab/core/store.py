"""Content-addressed store of completed steps: ``steps/<fingerprint>/``.

An entry is written into ``tmp/``, fsynced, then renamed into place, so an entry is
either complete or invisible (a ``kill -9`` mid-write leaves only a ``tmp/`` folder,
cleaned on the next start). Each entry holds ``record.json`` (written last, listing every
file with its size and digest), ``data/`` (Arrow, via ``datasets.save_to_disk``) and
``objects/`` (signed joblib files).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import hash_file
from dreamer_lab.core.signing import dump_signed, load_signed

RECORD = "record.json"


class CorruptEntryWarning(UserWarning):
    """A workspace entry was unreadable; it was quarantined and will be recomputed."""


class CorruptEntryError(RuntimeError):
    """Raised internally when an entry fails validation."""


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (and ``path`` itself)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_files(entry: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for p in sorted(entry.rglob("*")):
        if p.is_file() and p.name != RECORD:
            files[p.relative_to(entry).as_posix()] = {
                "size": p.stat().st_size,
                "xxh3": hash_file(p),
            }
    return files


class Entry:
    """A completed entry on disk. Data and objects load lazily."""

    def __init__(self, path: Path, record: dict[str, Any], *, trust: bool = False):
        self.path = path
        self.record = record
        self._trust = trust
        self._dataset = None

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    @property
    def has_data(self) -> bool:
        return (self.path / "data").is_dir()

    def dataset(self):
        """The entry's data as a memory-mapped ``datasets.Dataset``."""
        if self._dataset is None:
            from datasets import load_from_disk

            self._dataset = load_from_disk(str(self.path / "data"))
        return self._dataset

    def object_names(self) -> list[str]:
        d = self.path / "objects"
        return sorted(p.stem for p in d.glob("*.joblib")) if d.is_dir() else []

    def load_object(self, name: str) -> Any:
        return load_signed(self.path / "objects" / f"{name}.joblib", trust=self._trust)


class StepStore:
    """Completed entries under ``root`` (``steps/`` or ``models/``), keyed by fingerprint."""

    def __init__(self, root: Path, tmp: Path, quarantine: Path, *, trust: bool = False):
        self.root = root
        self.tmp = tmp
        self.quarantine_dir = quarantine
        self.trust = trust

    def path(self, fingerprint: str) -> Path:
        return self.root / fingerprint

    def exists(self, fingerprint: str) -> bool:
        return (self.path(fingerprint) / RECORD).is_file()

    def fingerprints(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / RECORD).is_file())

    def read_record(self, fingerprint: str) -> dict[str, Any]:
        path = self.path(fingerprint) / RECORD
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise CorruptEntryError(f"unreadable record.json ({e})") from e
        if record.get("fingerprint") != fingerprint:
            raise CorruptEntryError("record.json names another fingerprint")
        return record

    def load(self, fingerprint: str, *, check_data: bool = True) -> Entry | None:
        """Load an entry, or None if absent. A corrupt entry is quarantined (with a warning)."""
        entry_path = self.path(fingerprint)
        if not entry_path.exists():
            return None
        try:
            record = self.read_record(fingerprint)
            for rel, meta in record.get("files", {}).items():
                f = entry_path / rel
                if not f.is_file() or f.stat().st_size != meta["size"]:
                    raise CorruptEntryError(f"file {rel} is missing or has the wrong size")
            entry = Entry(entry_path, record, trust=self.trust)
            if check_data and entry.has_data:
                entry.dataset()
            return entry
        except Exception as e:  # noqa: BLE001 - any failure to read means corrupt
            self.quarantine(fingerprint, str(e))
            return None

    def verify(self, fingerprint: str) -> list[str]:
        """Full integrity check (every file's digest). Returns the problems found."""
        problems = []
        try:
            record = self.read_record(fingerprint)
        except CorruptEntryError as e:
            return [str(e)]
        actual = list_files(self.path(fingerprint))
        for rel, meta in record.get("files", {}).items():
            got = actual.pop(rel, None)
            if got is None:
                problems.append(f"{rel}: missing")
            elif got["xxh3"] != meta["xxh3"]:
                problems.append(f"{rel}: content changed (digest mismatch)")
        for rel in actual:
            problems.append(f"{rel}: unexpected file")
        return problems

    def quarantine(self, fingerprint: str, reason: str) -> Path | None:
        src = self.path(fingerprint)
        if not src.exists():
            return None
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        dst = self.quarantine_dir / f"{fingerprint}.{int(time.time())}.{uuid.uuid4().hex[:6]}"
        try:
            os.replace(src, dst)
        except OSError:
            return None  # another process moved it first
        (dst / "QUARANTINE_REASON.txt").write_text(reason + "\n")
        warnings.warn(
            f"Workspace entry {fingerprint} was corrupt ({reason}); moved it to {dst} "
            "and it will be recomputed.",
            CorruptEntryWarning,
            stacklevel=3,
        )
        return dst

    def new_tmp(self, fingerprint: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        d = self.tmp / f"{fingerprint}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        d.mkdir()
        return d

    def commit(
        self,
        fingerprint: str,
        write: Callable[[Path], None],
        record: dict[str, Any],
        objects: dict[str, Any] | None = None,
    ) -> Entry:
        """Write an entry atomically. ``write(folder)`` fills ``folder/data`` etc."""
        tmp = self.new_tmp(fingerprint)
        try:
            write(tmp)
            if objects:
                (tmp / "objects").mkdir(exist_ok=True)
                for name, obj in objects.items():
                    dump_signed(obj, tmp / "objects" / f"{name}.joblib")
            record = dict(record, fingerprint=fingerprint, files=list_files(tmp))
            (tmp / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            fsync_tree(tmp)
            self.root.mkdir(parents=True, exist_ok=True)
            dst = self.path(fingerprint)
            if dst.exists() and not self.exists(fingerprint):
                self.quarantine(fingerprint, "incomplete entry found while committing")
            try:
                os.rename(tmp, dst)
            except OSError:
                # Another process committed the same fingerprint first: keep theirs.
                shutil.rmtree(tmp, ignore_errors=True)
            fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = self.load(fingerprint, check_data=False)
        assert entry is not None
        return entry

    def delete(self, fingerprint: str) -> int:
        """Remove an entry; returns the bytes freed."""
        path = self.path(fingerprint)
        size = dir_size(path)
        shutil.rmtree(path, ignore_errors=True)
        return size


def entry_fingerprint_for(path: str | os.PathLike) -> str | None:
    """The fingerprint of the ``models/<fp>/`` (or ``steps/<fp>/``) entry holding ``path``."""
    try:
        p = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return None
    for folder in (p, *p.parents):
        if (
            folder.parent.name in ("models", "steps")
            and len(folder.name) == 32
            and all(c in "0123456789abcdef" for c in folder.name)
            and (folder / RECORD).is_file()
        ):
            return folder.name
    return None


def dir_size(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
