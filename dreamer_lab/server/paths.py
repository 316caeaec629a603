"""Resolve user-supplied paths strictly inside the Jupyter server root."""

from __future__ import annotations

import os
import re
from pathlib import Path

MARKER = ".dreamer_lab"
RECORD = "record.json"
INDEX_FILES = ("lineage.sqlite", "lineage.sqlite-wal", "lineage.sqlite-shm")
_FINGERPRINT = re.compile(r"^[0-9a-f]{8,128}$")
_SKIP = {"node_modules", "__pycache__", ".git", ".venv", "venv", "site-packages"}


class PathRefused(ValueError):
    """A path that escapes the server root or names something that is not a workspace."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def resolve_inside(root: Path, rel: str, *, allow_hidden: bool = False) -> Path:
    """``root/rel`` resolved (symlinks followed); refuses anything outside ``root``."""
    if "\x00" in rel:
        raise PathRefused("path contains a NUL byte", 400)
    rel = rel.replace("\\", "/").strip()
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        raise PathRefused("absolute paths are refused; pass a path relative to the server root")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathRefused("'..' is refused; pass a path inside the server root")
    if not allow_hidden and any(p.startswith(".") for p in parts):
        raise PathRefused("hidden path segments are refused (ContentsManager.allow_hidden)")
    root = root.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and not target.is_relative_to(root):
        raise PathRefused("the path resolves outside the server root")
    return target


def workspace_at(root: Path, rel: str, *, allow_hidden: bool = False) -> Path:
    """The workspace folder named by ``rel``, or PathRefused (404 if it is not one)."""
    path = resolve_inside(root, rel, allow_hidden=allow_hidden)
    if not (path / MARKER).is_file():
        raise PathRefused(
            f"{rel or '.'!r} is not a dreamer_lab workspace (no {MARKER} marker); "
            "run a step with DataDreamer(...) there first",
            404,
        )
    return path


def outside(root: Path, path: Path) -> bool:
    """True when ``path`` exists (a dangling link included) and resolves outside ``root``."""
    if not os.path.lexists(path):
        return False
    real = path.resolve()
    root = root.resolve()
    return real != root and not real.is_relative_to(root)


def _linked_out(what: str) -> PathRefused:
    return PathRefused(
        f"{what} in this workspace is a link that resolves outside the server root; refused. "
        "Replace the link by the file itself, or move its target under the server root."
    )


def check_index(root: Path, ws: Path) -> None:
    """Refuse (403) a lineage index whose file, -wal or -shm resolves outside ``root``.

    SQLite opens the -wal/-shm next to the file the index resolves to: those are checked too.
    """
    for name in INDEX_FILES:
        if outside(root, ws / name):
            raise _linked_out(name)
    real = (ws / INDEX_FILES[0]).resolve()
    for suffix in ("-wal", "-shm"):
        if outside(root, Path(f"{real}{suffix}")):
            raise _linked_out(f"the {suffix[1:]} file of {INDEX_FILES[0]}")


def entry_inside(root: Path, entry: Path) -> bool:
    """Whether an entry folder and its record.json resolve inside ``root``."""
    return not outside(root, entry) and not outside(root, entry / RECORD)


def check_entry(root: Path, ws: Path, fp: str) -> None:
    """Refuse (403) an entry (``steps/<fp>``, ``models/<fp>``) that is, or holds, a link
    resolving outside ``root``. Linked folders inside the root are followed (once each)."""
    for area in ("steps", "models"):
        entry = ws / area / fp
        if outside(root, entry):
            raise _linked_out(f"{area}/{fp}")
        if not entry.is_dir():
            continue
        seen: set[str] = set()
        stack = [entry]
        while stack:
            folder = stack.pop()
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            try:
                items = list(os.scandir(folder))
            except OSError:
                continue
            for item in items:
                p = Path(item.path)
                if outside(root, p):
                    raise _linked_out(p.relative_to(ws).as_posix())
                try:
                    if item.is_dir():
                        stack.append(p)
                except OSError:
                    continue


def check_fingerprint(fp: str) -> str:
    if not _FINGERPRINT.match(fp):
        raise PathRefused("a fingerprint is 8 to 128 lowercase hex characters", 400)
    return fp


def find_workspaces(
    root: Path, start: str = "", *, max_depth: int = 3, limit: int = 200, allow_hidden: bool = False
) -> list[str]:
    """Workspace folders under ``root/start`` (relative POSIX paths), breadth first."""
    root = root.resolve()
    base = resolve_inside(root, start, allow_hidden=allow_hidden)
    found: list[str] = []
    level = [base]
    for _depth in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in level:
            if (folder / MARKER).is_file():
                found.append(folder.relative_to(root).as_posix() if folder != root else "")
                if len(found) >= limit:
                    return found
                continue  # a workspace's own folders hold no workspaces
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if e.name in _SKIP or (e.name.startswith(".") and not allow_hidden):
                    continue
                try:
                    if not e.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                nxt.append(Path(e.path))
        level = nxt
    return found
