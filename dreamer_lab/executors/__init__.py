"""Executors: where a step's model work runs (``DataDreamer(executor="ray")``).

The default runs everything in this process. :class:`RayExecutor` shards an LLM run's
uncached requests over Ray actors, each holding one replica of the model, while this
process (the driver) keeps the request cache and the store. Importing this package does
not import ``ray``; :func:`make_executor` does, when a session asks for it.
"""

from __future__ import annotations

from typing import Any

EXECUTORS = ("local", "ray")


def make_executor(name: str | None, **options: Any) -> Any | None:
    """The executor named ``name`` (``None``/``"local"``: none, run in this process)."""
    if name in (None, "local"):
        extra = {k: v for k, v in options.items() if v is not None}
        if extra:
            raise ValueError(
                f"DataDreamer(): {sorted(extra)} only apply to executor='ray'; pass "
                "executor='ray' or drop them."
            )
        return None
    if name == "ray":
        from dreamer_lab.executors.ray_executor import RayExecutor

        return RayExecutor(**{k: v for k, v in options.items() if v is not None})
    raise ValueError(
        f"DataDreamer(): executor={name!r} is not known; use one of {list(EXECUTORS)}."
    )


__all__ = ["EXECUTORS", "make_executor"]
