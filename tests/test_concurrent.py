"""concurrent(*funcs) (DataDreamer's): functions run at the same time, results come back in
argument order, errors propagate, and steps run inside see the open workspace."""

from __future__ import annotations

import threading
import time

import pytest

from dreamer_lab.steps import DataSource, concurrent


def test_functions_run_at_the_same_time_and_results_keep_their_order():
    barrier = threading.Barrier(3, timeout=10)  # breaks unless all three wait together

    def work(value: int, delay: float):
        def call() -> int:
            barrier.wait()
            time.sleep(delay)
            return value

        return call

    # The barrier is the check that all three ran at once (one after another, the first would
    # wait alone and break it); the delays make them finish out of order.
    assert concurrent(work(1, 0.3), work(2, 0.0), work(3, 0.1)) == [1, 2, 3]
    assert concurrent() == []


def test_the_first_error_in_argument_order_is_raised_after_all_finished():
    finished: list[str] = []

    def slow_ok() -> str:
        time.sleep(0.2)
        finished.append("slow")
        return "ok"

    def fails(msg: str):
        def call() -> None:
            raise ValueError(msg)

        return call

    with pytest.raises(ValueError, match="first"):
        concurrent(slow_ok, fails("first"), fails("second"))
    assert finished == ["slow"]  # the other functions still ran to their end


def test_non_callables_are_a_clear_type_error():
    with pytest.raises(TypeError, match=r"argument\(s\) \[1\] are not"):
        concurrent(lambda: 1, "not a function")  # type: ignore[arg-type]


def test_steps_run_concurrently_in_the_open_workspace(workspace):
    a, b = concurrent(
        lambda: DataSource("a", {"x": [1, 2, 3]}),
        lambda: DataSource("b", {"y": ["p", "q"]}).map(lambda row: {"y": row["y"] * 2}),
    )
    assert a.output["x"].to_list() == [1, 2, 3]
    assert b.output["y"].to_list() == ["pp", "qq"]
    assert a.workspace.path == workspace.resolve() and b.workspace == a.workspace
    again = concurrent(lambda: DataSource("a", {"x": [1, 2, 3]}))
    assert again[0].cache_hit is True
