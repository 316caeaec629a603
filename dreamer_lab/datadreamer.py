"""``DataDreamer``: the session object that selects the workspace steps are stored in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dreamer_lab.core.workspace import (
    Workspace,
    active_workspace,
    current_workspace,
    pop_workspace,
    push_workspace,
)


class DataDreamer:
    """Open a workspace folder for the steps created inside it.

    Use it as DataDreamer scripts do::

        with DataDreamer("./output"):
            ...

    or, in a notebook, without a block: ``dd = DataDreamer("./output"); dd.start()``
    (``dd.stop()`` to close). Steps created outside any session use the default
    workspace ``./dreamer_workspace``. ``":memory:"`` opens a temporary workspace.
    ``trust=True`` allows loading objects this user did not sign (see the security notes).
    """

    def __init__(
        self,
        output_folder_path: str | os.PathLike = "dreamer_workspace",
        verbose: bool | None = None,
        log_level: int | None = None,
        trust: bool = False,
        **kwargs: Any,
    ):
        self._tmp = None
        if str(output_folder_path) == ":memory:":
            self._tmp = tempfile.TemporaryDirectory(prefix="dreamer_lab_")
            output_folder_path = self._tmp.name
        self.path = Path(output_folder_path)
        self.trust = trust
        self.verbose = verbose
        self.workspace: Workspace | None = None

    def start(self) -> DataDreamer:
        if self.workspace is None:
            self.workspace = Workspace(self.path, trust=self.trust)
            push_workspace(self.workspace)
        return self

    def stop(self) -> None:
        if self.workspace is not None:
            pop_workspace(self.workspace)
            self.workspace = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DataDreamer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DataDreamer({str(self.path)!r}, active={self.workspace is not None})"

    @staticmethod
    def initialized() -> bool:
        """True inside a ``with DataDreamer(...)`` block (or after ``start()``)."""
        return active_workspace() is not None

    @staticmethod
    def get_output_folder_path() -> Path:
        """The folder of the current workspace."""
        return current_workspace().path
