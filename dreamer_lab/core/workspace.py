"""A workspace: one folder on disk that holds every step, model, cache and index.

Layout (see docs/architecture.md)::

    <workspace>/steps/<fp>/   models/<fp>/   requests/   lineage.sqlite   locks/   tmp/
    quarantine/

The current workspace is a process-wide stack: ``DataDreamer(path)`` pushes one, and a
notebook that never opens one gets ``./dreamer_workspace`` (or
``$DREAMER_LAB_WORKSPACE``) the first time a step needs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from dreamer_lab.core.lineage import LineageIndex
from dreamer_lab.core.object_store import is_url
from dreamer_lab.core.store import StepStore
from dreamer_lab.errors import WorkspaceError  # noqa: F401

DEFAULT_WORKSPACE = "dreamer_workspace"
MARKER = ".dreamer_lab"


class Workspace:
    """An open workspace folder."""

    def __init__(self, path: str | os.PathLike, *, trust: bool = False):
        self.path = Path(path).expanduser().resolve()
        self.trust = trust
        try:
            for sub in ("steps", "models", "requests", "locks", "tmp", "quarantine"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            probe = self.path / "tmp" / f".probe.{os.getpid()}.{threading.get_ident()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise WorkspaceError(
                f"Cannot use {str(self.path)!r} as a workspace: {e.strerror or e}. "
                f"Choose a folder you can write to, e.g. DataDreamer('./{DEFAULT_WORKSPACE}'), "
                "or set $DREAMER_LAB_WORKSPACE."
            ) from None
        marker = self.path / MARKER
        if not marker.exists():
            marker.write_text("dreamer_lab workspace v1\n")
        self.steps = StepStore(
            self.path / "steps", self.path / "tmp", self.path / "quarantine", trust=trust
        )
        self.models = StepStore(
            self.path / "models", self.path / "tmp", self.path / "quarantine", trust=trust
        )
        self.lineage = LineageIndex(self.path / "lineage.sqlite")
        self._clean_tmp()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def lock(self, fingerprint: str) -> FileLock:
        """Cross-process lock: one computation per fingerprint at a time."""
        return FileLock(str(self.path / "locks" / f"{fingerprint}.lock"))

    def progress_file(self, fingerprint: str) -> Path:
        return self.path / "locks" / f"{fingerprint}.progress.json"

    def _clean_tmp(self) -> None:
        """Remove partial writes left by processes on this host that no longer run."""
        host = socket.gethostname()
        for d in (self.path / "tmp").iterdir():
            # <fp>.<host>.<pid>.<rand>, where the host name may itself contain dots.
            first, _, rest = d.name.partition(".")
            parts = [first, *rest.rsplit(".", 2)] if rest else [first]
            if len(parts) < 4 or parts[1] != host:
                # Other hosts' writes: remove only when clearly abandoned (a day old).
                try:
                    if time.time() - d.stat().st_mtime > 86400:
                        shutil.rmtree(d, ignore_errors=True)
                except OSError:
                    pass
                continue
            try:
                pid = int(parts[2])
            except ValueError:
                continue
            if not _pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------
_stack: list[Workspace] = []
_default: Workspace | None = None
_lock = threading.Lock()


def push_workspace(ws: Workspace) -> None:
    with _lock:
        _stack.append(ws)


def pop_workspace(ws: Workspace) -> None:
    with _lock:
        if ws in _stack:
            # Remove the most recent occurrence.
            idx = len(_stack) - 1 - _stack[::-1].index(ws)
            _stack.pop(idx)


def active_workspace() -> Workspace | None:
    """The workspace opened with ``DataDreamer(...)``, if any."""
    return _stack[-1] if _stack else None


def current_workspace() -> Workspace:
    """The active workspace, or the default one (created on first use)."""
    global _default
    ws = active_workspace()
    if ws is not None:
        return ws
    with _lock:
        location = os.environ.get("DREAMER_LAB_WORKSPACE") or DEFAULT_WORKSPACE
        if is_url(location):  # an object-storage workspace (core/remote_workspace.py)
            if getattr(_default, "url", None) != location.rstrip("/"):
                _default = make_workspace(location)
            return _default
        path = Path(location).resolve()
        if _default is None or _default.path != path or hasattr(_default, "url"):
            _default = Workspace(path)
        return _default


def make_workspace(
    location: str | os.PathLike, *, trust: bool = False, **remote_options: Any
) -> Workspace:
    """A folder path opens a local :class:`Workspace`; a URL (``s3://bucket/prefix``,
    ``gs://``, ``az://``, ``memory://``, ``file://``) opens an object-storage workspace
    (:class:`~dreamer_lab.core.remote_workspace.RemoteWorkspace`), which takes
    ``cache_dir``, ``storage_options`` and ``lease_ttl``."""
    if is_url(location):
        from dreamer_lab.core.remote_workspace import RemoteWorkspace

        return RemoteWorkspace(str(location), trust=trust, **remote_options)
    given = sorted(k for k, v in remote_options.items() if v is not None)
    if given:
        raise WorkspaceError(
            f"{given} apply to object-storage workspaces (s3://bucket/prefix, gs://, az://, "
            f"file://...), not to the folder {str(location)!r}; remove them or pass a URL."
        )
    return Workspace(location, trust=trust)


def open_workspace(path: str | os.PathLike, *, trust: bool = False) -> Workspace:
    """Open a workspace by path (or object-store URL) without making it current (for tools
    and the CLI)."""
    if is_url(path):
        return make_workspace(path, trust=trust)
    p = Path(path).expanduser()
    if not (p / MARKER).exists() and not (p / "steps").is_dir():
        raise WorkspaceError(
            f"{str(p)!r} is not a dreamer_lab workspace (no {MARKER} marker or steps/ folder). "
            "Pass the folder given to DataDreamer(...)."
        )
    return Workspace(p, trust=trust)
