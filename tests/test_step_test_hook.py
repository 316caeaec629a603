"""DataDreamer's step test hook: a class carrying ``_INTERNAL_TEST_KEY`` does not run on
construction; ``_set_output(value)`` stores ``value`` as if ``run()`` had returned it."""

from __future__ import annotations

from typing import Any

import pytest

from dreamer_lab.errors import StepOutputError
from dreamer_lab.steps import DataSource, LazyRows, Step
from dreamer_lab.steps.step import _INTERNAL_TEST_KEY


def make_test_step(outputs: list[str], name: str = "t", **kwargs: Any) -> Step:
    ran: list[bool] = []

    class HookStep(Step):
        def setup(self) -> None:
            for o in outputs:
                self.register_output(o)

        def run(self) -> Any:
            ran.append(True)
            return {o: [] for o in outputs}

    setattr(HookStep, _INTERNAL_TEST_KEY, True)
    step = HookStep(name, **kwargs)
    assert not ran, "a test step must not run on construction"
    return step


def test_no_output_before_set_output(workspace):
    step = make_test_step(["out1"])
    assert step.progress is None
    with pytest.raises(StepOutputError, match="has not been run"):
        step.output  # noqa: B018
    step.progress = 0.25
    assert step.progress == 0.25
    with pytest.raises(StepOutputError, match="still running"):
        step.output  # noqa: B018


def test_set_output_normalizes_like_run(workspace):
    columns = make_test_step(["a", "b"], name="cols")
    columns._set_output((["x", "y"], [1, 2]))  # a tuple of lists is columns
    rows = make_test_step(["a", "b"], name="rows")
    rows._set_output([("x", 1), ("y", 2)])  # a list of tuples is rows
    for step in (columns, rows):
        assert step.output.column_names == ["a", "b"]
        assert list(step.output["a"]) == ["x", "y"] and list(step.output["b"]) == [1, 2]
        assert step.progress == 1.0
    single = make_test_step(["a"], name="single")
    single._set_output(x for x in ["p", "q"])  # a generator of values
    assert list(single.output["a"]) == ["p", "q"]


def test_bad_values_raise_and_leave_the_step_settable(workspace):
    step = make_test_step(["out1", "out2"])
    with pytest.raises(StepOutputError):
        step._set_output({"out1": ["a"], "out3": [1]})
    with pytest.raises(StepOutputError):
        step._set_output(5)
    step._set_output({"out1": ["a"], "out2": [1]})
    with pytest.raises(StepOutputError, match="already been run"):
        step._set_output({"out1": ["b"], "out2": [2]})
    assert list(step.output["out1"]) == ["a"]


def test_value_is_part_of_the_stored_identity(workspace):
    first = make_test_step(["out1"])
    first._set_output({"out1": ["a", "b"]})
    second = make_test_step(["out1"])
    second._set_output({"out1": ["c"]})
    assert first.fingerprint != second.fingerprint
    assert second.cache_hit is False and list(second.output["out1"]) == ["c"]
    assert list(first.output["out1"]) == ["a", "b"]
    again = make_test_step(["out1"])
    again._set_output({"out1": ["a", "b"]})
    assert again.fingerprint == first.fingerprint and again.cache_hit is True


def test_test_step_feeds_a_real_step(workspace):
    step = make_test_step(["text"])
    step._set_output({"text": ["hi", "there"]})
    upper = step.map(lambda row: {"text": row["text"].upper()})
    assert list(upper.output["text"]) == ["HI", "THERE"]


def test_lazy_value_streams(workspace):
    step = make_test_step(["n"])

    def rows() -> Any:
        yield from ({"n": i} for i in range(3))

    step._set_output(LazyRows(rows, total_num_rows=3))
    assert [row["n"] for row in step.output] == [0, 1, 2]


def test_set_output_is_refused_on_ordinary_steps(workspace):
    source = DataSource("src", data={"a": [1]})
    with pytest.raises(StepOutputError, match="only for test steps"):
        source._set_output({"a": [2]})


def test_values_pickled_before_set_output_read_back(workspace):
    step = make_test_step(["obj"])
    step._set_output({"obj": [step.pickle({"k": 1}), step.pickle({2, 3})]})
    assert list(step.output["obj"]) == [{"k": 1}, {2, 3}]
    assert step.export_to_dict()["obj"] == [{"k": 1}, {2, 3}]
