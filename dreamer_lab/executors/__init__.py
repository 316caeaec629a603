"""Executors: where a step's model work runs (``DataDreamer(executor="ray")``).

The default runs everything in this process. :class:`RayExecutor` shards an LLM run's
uncached requests over Ray actors, each holding one replica of the model, while this
process (the driver) keeps the request cache and the store; it also runs ``map``/``filter``
over large stored data as Ray tasks on shards of the rows (:func:`run_operation`).
Importing this package does not import ``ray``; :func:`make_executor` does, when a session
asks for it, and so does the first use of ``RayExecutor``.
"""

from __future__ import annotations

from typing import Any

EXECUTORS = ("local", "ray")


def make_executor(name: Any, **options: Any) -> Any | None:
    """The executor named ``name`` (``None``/``"local"``: none, run in this process).

    ``name`` may also be an executor object (``RayExecutor(map_min_rows=0, ...)``), used as
    it is; its options then belong to its constructor.
    """
    extra = {k: v for k, v in options.items() if v is not None}
    if hasattr(name, "handles") and hasattr(name, "close"):  # an executor object
        if extra:
            raise ValueError(
                f"DataDreamer(): {sorted(extra)} are options of the executor; pass them to "
                f"{type(name).__name__}(...) instead."
            )
        return name
    if name in (None, "local"):
        if extra:
            raise ValueError(
                f"DataDreamer(): {sorted(extra)} only apply to executor='ray'; pass "
                "executor='ray' or drop them."
            )
        return None
    if name == "ray":
        from dreamer_lab.executors.ray_executor import RayExecutor

        return RayExecutor(**extra)
    raise ValueError(
        f"DataDreamer(): executor={name!r} is not known; use one of {list(EXECUTORS)} or "
        "an executor object such as RayExecutor(...)."
    )


def current_executor() -> Any | None:
    """The executor of the innermost open session (``None``: this process runs everything).

    In a notebook after ``%dream config executor=ray``: ``current_executor().map_min_rows = 0``.
    """
    from dreamer_lab.core.run_options import session_executor

    return session_executor()


def run_operation(ds: Any, op: str, op_args: dict[str, Any], **how: Any) -> Any | None:
    """``ds.<op>(**op_args)`` (``map``/``filter``) on the session's executor, or ``None``
    when this process should run it (no executor, or the executor declines: too few rows).

    ``how``: ``where`` (the step, for errors), ``new_fingerprint`` (``datasets``'),
    ``progress`` (show a progress bar).
    """
    executor = current_executor()
    run = getattr(executor, "run_operation", None)
    return None if run is None else run(ds, op, op_args, **how)


def __getattr__(name: str) -> Any:
    if name == "RayExecutor":
        from dreamer_lab.executors.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXECUTORS", "RayExecutor", "current_executor", "make_executor", "run_operation"]
