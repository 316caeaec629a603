"""``concurrent(*funcs)``: run functions that run steps at the same time (DataDreamer's).

Each function runs in its own thread with a copy of the caller's context, so the open
workspace and an enclosing :class:`~dreamer_lab.steps.SuperStep` are seen inside it. The
results come back in argument order. Every function runs to its end; then the error of
the first failing one (in argument order) is raised.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any


def concurrent(*funcs: Callable[[], Any]) -> list[Any]:
    """Call every function in ``funcs`` concurrently; their results, in order.

    Example: ``a, b = concurrent(lambda: Prompt("a", ...), lambda: Prompt("b", ...))``.
    """
    bad = [i for i, f in enumerate(funcs) if not callable(f)]
    if bad:
        raise TypeError(
            f"All arguments to concurrent() must be functions; argument(s) {bad} are not. "
            "Wrap each step in a lambda: concurrent(lambda: MyStep(...), ...)."
        )
    if not funcs:
        return []
    from concurrent.futures import ThreadPoolExecutor

    import datasets

    # Steps switch datasets' caching off while they run and back on after: one switch for
    # the whole group keeps a finishing step from turning it on under a running one.
    caching = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        with ThreadPoolExecutor(len(funcs), thread_name_prefix="dreamer_lab-concurrent") as pool:
            futures = [pool.submit(contextvars.copy_context().run, f) for f in funcs]
            outcomes = [_outcome(f) for f in futures]
    finally:
        if caching:
            datasets.enable_caching()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def _outcome(future: Any) -> tuple[bool, Any]:
    try:
        return True, future.result()
    except BaseException as e:  # noqa: BLE001 - raised by concurrent() in argument order
        return False, e


__all__ = ["concurrent"]
