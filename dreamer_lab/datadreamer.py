"""``DataDreamer``: the session object that selects the workspace steps are stored in."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from dreamer_lab.core.run_options import executor_scope, resolve_log_level, session_logging
from dreamer_lab.core.workspace import (
    DEFAULT_WORKSPACE,
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

    While the session is open, ``log_level`` is the level of the ``dreamer_lab`` logger
    (INFO when ``verbose=True`` and no level is given; a stderr handler is added if logging
    is not configured), and ``verbose`` is the default of model runs that pass none
    (``False``: no progress bars or progress lines).

    ``executor="ray"`` runs LLM generation on a Ray cluster (``ray_address``: ``None`` for a
    local one, ``"auto"``, ``"ray://host:10001"``), ``replicas`` actors per model with
    ``resources_per_replica`` each (e.g. ``{"num_gpus": 1}``); this process keeps the
    request cache and the store. See docs/scaling.md.
    """

    def __init__(
        self,
        output_folder_path: str | os.PathLike = DEFAULT_WORKSPACE,
        verbose: bool | None = None,
        log_level: int | None = None,
        trust: bool = False,
        executor: str | None = None,
        ray_address: str | None = None,
        replicas: int | None = None,
        resources_per_replica: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"DataDreamer() got unexpected keyword argument(s) {sorted(kwargs)}; it takes "
                "output_folder_path, verbose, log_level, trust, executor, ray_address, "
                "replicas and resources_per_replica."
            )
        from dreamer_lab.executors import make_executor

        self.executor = make_executor(
            executor,
            address=ray_address,
            replicas=replicas,
            resources_per_replica=resources_per_replica,
        )
        if verbose is not None and not isinstance(verbose, bool):
            raise TypeError(f"DataDreamer(): verbose must be True, False or None, not {verbose!r}.")
        self.log_level = resolve_log_level(log_level)  # a clear error now, not at start()
        self._logging: contextlib.ExitStack | None = None
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
            self._logging = contextlib.ExitStack()
            self._logging.enter_context(session_logging(self.verbose, self.log_level))
            self._logging.enter_context(executor_scope(self.executor))
        return self

    def stop(self) -> None:
        if self._logging is not None:
            self._logging.close()
            self._logging = None
        if self.executor is not None:
            self.executor.close()
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
