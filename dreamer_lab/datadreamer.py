"""``DataDreamer``: the session object that selects the workspace steps are stored in."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from dreamer_lab.core.object_store import is_url
from dreamer_lab.core.run_options import executor_scope, resolve_log_level, session_logging
from dreamer_lab.core.workspace import (
    DEFAULT_WORKSPACE,
    Workspace,
    active_workspace,
    current_workspace,
    make_workspace,
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
    request cache and the store. ``map_min_rows=N`` also runs ``map``/``filter`` of stored
    steps with at least N rows as Ray tasks (default: in this process). ``executor`` may
    be an executor object (``RayExecutor(...)``). See docs/scaling.md.

    An object-storage URL (``"s3://bucket/prefix"``, ``gs://``, ``az://``, ``file://``)
    keeps the entries, records and request caches in the bucket, shared by every machine
    that opens it, with a local read cache (``cache_dir``, default
    ``~/.cache/dreamer_lab/remote/<hash of url>``). ``storage_options`` go to fsspec (e.g.
    ``{"client_kwargs": {"endpoint_url": ...}}``); credentials otherwise come from the usual
    provider chain. ``lease_ttl`` (seconds, default 60) is how long a machine that stopped
    renewing its lease on a fingerprint blocks the others. See docs/scaling.md.
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
        map_min_rows: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        storage_options: dict[str, Any] | None = None,
        lease_ttl: float | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"DataDreamer() got unexpected keyword argument(s) {sorted(kwargs)}; it takes "
                "output_folder_path, verbose, log_level, trust, executor, ray_address, "
                "replicas, resources_per_replica, map_min_rows, cache_dir, storage_options and "
                "lease_ttl."
            )
        from dreamer_lab.executors import make_executor

        self.executor = make_executor(
            executor,
            address=ray_address,
            replicas=replicas,
            resources_per_replica=resources_per_replica,
            map_min_rows=map_min_rows,
        )
        if verbose is not None and not isinstance(verbose, bool):
            raise TypeError(f"DataDreamer(): verbose must be True, False or None, not {verbose!r}.")
        self.log_level = resolve_log_level(log_level)  # a clear error now, not at start()
        self._logging: contextlib.ExitStack | None = None
        self._tmp = None
        if str(output_folder_path) == ":memory:":
            self._tmp = tempfile.TemporaryDirectory(prefix="dreamer_lab_")
            output_folder_path = self._tmp.name
        # An object-storage URL (s3://bucket/prefix, gs://, az://, file://) keeps the store in
        # the bucket with a local read cache (core/remote_workspace.py; docs/scaling.md).
        self.url = str(output_folder_path) if is_url(output_folder_path) else None
        self._remote_options = {
            k: v
            for k, v in (
                ("cache_dir", cache_dir),
                ("storage_options", storage_options),
                ("lease_ttl", lease_ttl),
            )
            if v is not None
        }
        if self._remote_options and self.url is None:
            raise TypeError(
                f"DataDreamer(): {sorted(self._remote_options)} apply to an object-storage "
                f"workspace (s3://bucket/prefix, gs://, az://, file://...), not to the folder "
                f"{str(output_folder_path)!r}."
            )
        self.path = Path(output_folder_path) if self.url is None else None
        self.trust = trust
        self.verbose = verbose
        self.workspace: Workspace | None = None

    def start(self) -> DataDreamer:
        if self.workspace is None:
            if self.url is not None:
                self.workspace = make_workspace(self.url, trust=self.trust, **self._remote_options)
            else:
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
            close = getattr(self.workspace, "close", None)
            if close is not None:
                close()  # an object-storage workspace uploads its queued request batches
            self.workspace = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DataDreamer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url or str(self.path)
        return f"DataDreamer({where!r}, active={self.workspace is not None})"

    @staticmethod
    def initialized() -> bool:
        """True inside a ``with DataDreamer(...)`` block (or after ``start()``)."""
        return active_workspace() is not None

    @staticmethod
    def get_output_folder_path() -> Path:
        """The folder of the current workspace."""
        return current_workspace().path
