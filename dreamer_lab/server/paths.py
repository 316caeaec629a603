"""Resolve user-supplied paths strictly inside the Jupyter server root."""

from __future__ import annotations

import os
import re
from pathlib import Path

MARKER = ".dreamer_lab"
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
    if not (path / MARKER).is_file() or not (path / "lineage.sqlite").is_file():
        raise PathRefused(
            f"{rel or '.'!r} is not a dreamer_lab workspace (no {MARKER} marker or "
            "lineage.sqlite); run a step with DataDreamer(...) there first",
            404,
        )
    return path


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
