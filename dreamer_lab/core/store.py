"""Content-addressed store of completed steps: ``steps/<fingerprint>/``.

An entry is written into ``tmp/``, fsynced, then renamed into place, so an entry is
either complete or invisible (a ``kill -9`` mid-write leaves only a ``tmp/`` folder,
cleaned on the next start). Each entry holds ``record.json`` (written last, listing every
file with its size and xxh3 digest, and ending with a digest of its own bytes), ``data/``
(Arrow, via ``datasets.save_to_disk``) and ``objects/`` (joblib files signed for their
entry and name, see :mod:`dreamer_lab.core.signing`).

Integrity: loading an entry checks record.json's own digest, then every listed file's size
and content digest *before* Arrow maps anything, so same-size damage is caught instead of
served (or crashing the process). A file verified once in a process is not hashed again
while its ``(path, device, inode, size, mtime_ns, ctime_ns)`` are unchanged.
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

import xxhash

from dreamer_lab.core.entry_record import (  # noqa: F401 - re-exported
    NO_RECORD_DIGEST,
    RECORD,
    RECORD_FORMAT,
    dump_record,
    fsync_dir,
    fsync_tree,
    parse_record,
)
from dreamer_lab.core.signing import SIG_SUFFIX, check_signature, dump_signed, load_bytes
from dreamer_lab.errors import CorruptEntryError, CorruptEntryWarning  # noqa: F401

# -- content digests, memoized per process ---------------------------------------------
_VERIFIED: dict[str, tuple[tuple[int, ...], str]] = {}
_VERIFIED_MAX = 200_000
_CHUNK = 1 << 18  # fits in L2: reading and hashing overlap best (~9 GB/s from page cache)


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hash_path(path: str) -> str:
    h = xxhash.xxh3_128()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """xxh3-128 of a file's bytes (as ``fingerprint.hash_file``), memoized in this process.

    The memo is keyed by the absolute path and trusted only while the file's device, inode,
    size, mtime and ctime are unchanged (any write changes ctime), so the first check in a
    process always reads the file. Files are read, never memory-mapped: hashing a damaged
    or shrinking file cannot crash the process.
    """
    key = os.path.abspath(path)
    st = _stat_key(os.stat(key))
    hit = _VERIFIED.get(key)
    if hit is not None and hit[0] == st:
        return hit[1]
    digest = _hash_path(key)
    if _stat_key(os.stat(key)) == st:  # unchanged while we read it
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = (st, digest)
    return digest


def forget_digests() -> None:
    """Empty this process's memo of verified files (the next check reads every file)."""
    _VERIFIED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_digests)


def check_files(entry: Path, files: dict[str, Any]) -> None:
    """Raise :class:`CorruptEntryError` unless each listed file has its recorded size and digest."""
    for rel, meta in files.items():
        f = entry / rel
        try:
            size_ok = isinstance(meta, dict) and f.stat().st_size == meta.get("size")
            if not size_ok:
                raise CorruptEntryError(f"file {rel} has the wrong size")
            if file_digest(f) != meta.get("xxh3"):
                raise CorruptEntryError(f"file {rel} changed on disk (content digest mismatch)")
        except OSError:
            raise CorruptEntryError(f"file {rel} is missing or unreadable") from None


def _files_of(record: dict[str, Any]) -> dict[str, Any]:
    files = record.get("files")
    if not isinstance(files, dict):
        raise CorruptEntryError("record.json does not list the entry's files")
    return files


def check_data_files(entry: Path, record: dict[str, Any]) -> None:
    """Check every file Arrow will map for ``entry/data`` before it is opened.

    ``state.json`` and ``dataset_info.json`` must be listed in the record and match their
    digests, and each Arrow file that ``state.json`` names must be listed and match too.
    """
    files = _files_of(record)
    data = {rel: meta for rel, meta in files.items() if rel.startswith("data/")}
    for need in ("data/state.json", "data/dataset_info.json"):
        if need not in data:
            raise CorruptEntryError(f"record.json does not list {need}")
    check_files(entry, data)
    try:
        state = json.loads((entry / "data" / "state.json").read_bytes())
        names = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CorruptEntryError(f"data/state.json is unreadable ({e})") from None
    for name in names:
        if not isinstance(name, str) or f"data/{name}" not in data:
            raise CorruptEntryError(f"data file {name!r} is not listed in record.json")


def list_files(entry: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``entry`` but record.json: relative path -> size and xxh3 digest."""
    files = {}
    for p in sorted(entry.rglob("*")):
        if p.is_file() and p.name != RECORD:
            files[p.relative_to(entry).as_posix()] = {
                "size": p.stat().st_size,
                "xxh3": file_digest(p),
            }
    return files


def _carry_digests(tmp: Path, dst: Path, files: dict[str, Any]) -> None:
    """After ``tmp`` was renamed to ``dst``: its files keep the digests hashed at commit.

    A renamed folder's files keep their inode, size, mtime and ctime; any file whose stat
    differs is left out and hashed again on its first check.
    """
    for rel in files:
        hit = _VERIFIED.pop(os.path.abspath(tmp / rel), None)
        if hit is None:
            continue
        new = os.path.abspath(dst / rel)
        try:
            if _stat_key(os.stat(new)) == hit[0]:
                _VERIFIED[new] = hit
        except OSError:
            pass


class Entry:
    """A completed entry on disk. Data and objects load lazily, each checked first.

    ``store`` (when given) is where a file found damaged at this point is quarantined;
    read-only callers (the server) leave it out.
    """

    def __init__(
        self,
        path: Path,
        record: dict[str, Any],
        *,
        trust: bool = False,
        store: StepStore | None = None,
    ):
        self.path = path
        self.record = record
        self._trust = trust
        self._store = store
        self._dataset = None

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    @property
    def has_data(self) -> bool:
        return (self.path / "data").is_dir()

    def _corrupt(self, e: CorruptEntryError) -> CorruptEntryError:
        if self._store is not None and self._store.quarantine(self.fingerprint, str(e)):
            fix = "it was moved to quarantine/; run the step again to recompute it."
        else:
            fix = "run the step again to recompute it (`dreamer-lab verify` lists corrupt entries)."
        return CorruptEntryError(f"Workspace entry {self.fingerprint} is corrupt ({e}); {fix}")

    def dataset(self):
        """The entry's data as a memory-mapped ``datasets.Dataset`` (digests checked first)."""
        if self._dataset is None:
            try:
                check_data_files(self.path, self.record)
            except CorruptEntryError as e:
                raise self._corrupt(e) from None
            from datasets import Dataset

            self._dataset = Dataset.load_from_disk(str(self.path / "data"))
        return self._dataset

    def object_names(self) -> list[str]:
        d = self.path / "objects"
        return sorted(p.stem for p in d.glob("*.joblib")) if d.is_dir() else []

    def load_object(self, name: str) -> Any:
        """Unpickle object ``name``: its signature must bind it to this entry and name."""
        rel = f"objects/{name}.joblib"
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not an object name; use one of {self.object_names()}")
        path = self.path / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(
                f"Entry {self.fingerprint[:12]} has no object {name!r}; it has {self.object_names()}."
            ) from None
        if not self._trust:
            check_signature(
                data,
                Path(str(path) + SIG_SUFFIX),
                entry=self.fingerprint,
                name=name,
                shown=path,
            )
        meta = _files_of(self.record).get(rel)
        if not isinstance(meta, dict) or xxhash.xxh3_128(data).hexdigest() != meta.get("xxh3"):
            raise self._corrupt(
                CorruptEntryError(f"file {rel} changed on disk (content digest mismatch)")
            )
        return load_bytes(data)


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
        """The entry's record, after checking its digest; raises :class:`CorruptEntryError`."""
        return self._read_record(fingerprint)[0]

    def _read_record(self, fingerprint: str) -> tuple[dict[str, Any], bool]:
        try:
            raw = (self.path(fingerprint) / RECORD).read_bytes()
        except OSError as e:
            raise CorruptEntryError(f"unreadable record.json ({e})") from e
        return parse_record(raw, fingerprint)

    def load(self, fingerprint: str, *, check_data: bool = True) -> Entry | None:
        """Load an entry, or None if absent. A corrupt entry is quarantined (with a warning).

        Always checks record.json's digest and every listed file's size and content digest
        (memoized per process); ``check_data`` also opens the data and checks its row count.
        """
        entry_path = self.path(fingerprint)
        if not entry_path.exists():
            return None
        try:
            record = self.read_record(fingerprint)
            check_files(entry_path, _files_of(record))
            entry = Entry(entry_path, record, trust=self.trust)
            if check_data and entry.has_data:
                rows = entry.dataset().num_rows
                if isinstance(record.get("rows"), int) and rows != record["rows"]:
                    raise CorruptEntryError(
                        f"record.json says {record['rows']} rows, the data has {rows}"
                    )
            entry._store = self
            return entry
        except Exception as e:  # noqa: BLE001 - any failure to read means corrupt
            self.quarantine(fingerprint, str(e))
            return None

    def verify(self, fingerprint: str) -> list[str]:
        """Full integrity check (every file's digest). Returns the problems found."""
        return self.inspect(fingerprint)[0]

    def inspect(self, fingerprint: str) -> tuple[list[str], list[str]]:
        """Full integrity check, reading every file: ``(problems, notes)``.

        Problems: record.json unreadable or edited (digest), files missing, changed or
        unexpected, a row count or column list the data contradicts, objects whose
        signature does not bind them to this entry under your key. Notes: facts that are
        not corruption (a record written before records had digests).
        """
        notes: list[str] = []
        try:
            record, has_digest = self._read_record(fingerprint)
            files = _files_of(record)
        except CorruptEntryError as e:
            return [f"record.json: {e}"], notes
        if not has_digest:
            notes.append(NO_RECORD_DIGEST)
        entry_path = self.path(fingerprint)
        problems = []
        actual = {
            p.relative_to(entry_path).as_posix(): p
            for p in sorted(entry_path.rglob("*"))
            if p.is_file() and p.name != RECORD
        }
        for rel, meta in files.items():
            got = actual.pop(rel, None)
            if got is None:
                problems.append(f"{rel}: missing")
                continue
            forget = os.path.abspath(got)
            _VERIFIED.pop(forget, None)  # verify reads every byte again
            try:
                check_files(entry_path, {rel: meta})
            except CorruptEntryError:
                problems.append(f"{rel}: content changed (digest mismatch)")
        for rel in actual:
            problems.append(f"{rel}: unexpected file")
        if not problems:
            problems += self._check_contents(Entry(entry_path, record, trust=True))
        return problems, notes

    def _check_contents(self, entry: Entry) -> list[str]:
        """Cross-check a digest-clean entry: rows and columns against the data; signatures."""
        problems = []
        record = entry.record
        if entry.has_data:
            try:
                ds = entry.dataset()
            except Exception as e:  # noqa: BLE001 - reported
                return [f"data: unreadable ({type(e).__name__}: {e})"]
            if isinstance(record.get("rows"), int) and ds.num_rows != record["rows"]:
                problems.append(
                    f"record.json: rows is {record['rows']}, the data has {ds.num_rows}"
                )
            columns = record.get("columns")
            if isinstance(columns, list) and columns != list(ds.column_names):
                problems.append(
                    f"record.json: columns are {columns}, the data has {list(ds.column_names)}"
                )
        return problems

    def untrusted_objects(self, fingerprint: str) -> list[str]:
        """Objects whose signature does not bind them to this entry under your key."""
        out = []
        entry_path = self.path(fingerprint)
        for p in sorted((entry_path / "objects").glob("*.joblib")):
            try:
                check_signature(
                    p.read_bytes(), Path(str(p) + SIG_SUFFIX), entry=fingerprint, name=p.stem
                )
            except Exception as e:  # noqa: BLE001 - reported
                out.append(f"objects/{p.name}: {e}")
        return out

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

    def install(self, tmp: Path, fingerprint: str, files: dict[str, Any], doing: str) -> None:
        """Rename a complete entry folder ``tmp`` (record.json written) into the store, synced.

        A half-written folder in its place is quarantined first ("incomplete entry found
        while <doing>"); when another process put the entry there first, theirs is kept.
        """
        fsync_tree(tmp)
        self.root.mkdir(parents=True, exist_ok=True)
        dst = self.path(fingerprint)
        if dst.exists() and not self.exists(fingerprint):
            self.quarantine(fingerprint, f"incomplete entry found while {doing}")
        try:
            os.rename(tmp, dst)
            _carry_digests(tmp, dst, files)
        except OSError:
            # Another process committed the same fingerprint first: keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
        fsync_dir(self.root)

    def commit(
        self,
        fingerprint: str,
        write: Callable[[Path], None],
        record: dict[str, Any],
        objects: dict[str, Any] | None = None,
    ) -> Entry:
        """Write an entry atomically. ``write(folder)`` fills ``folder/data`` etc."""
        tmp = self.new_tmp(fingerprint)
        files: dict[str, dict[str, Any]] = {}
        try:
            write(tmp)
            if objects:
                (tmp / "objects").mkdir(exist_ok=True)
                for name, obj in objects.items():
                    dump_signed(
                        obj, tmp / "objects" / f"{name}.joblib", entry=fingerprint, name=name
                    )
            files = list_files(tmp)
            record = dict(record, fingerprint=fingerprint, files=files)
            (tmp / RECORD).write_bytes(dump_record(record))
            self.install(tmp, fingerprint, files, "committing")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            for rel in files:
                _VERIFIED.pop(os.path.abspath(tmp / rel), None)
        entry = self.load(fingerprint, check_data=False)
        assert entry is not None
        return entry

    def discard(self, fingerprint: str) -> None:
        """Remove an entry about to be replaced (``force=True``), if there is one."""
        if self.exists(fingerprint):
            name = f"replaced.{fingerprint}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
            self.tmp.mkdir(parents=True, exist_ok=True)
            os.replace(self.path(fingerprint), self.tmp / name)
            shutil.rmtree(self.tmp / name, ignore_errors=True)

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
