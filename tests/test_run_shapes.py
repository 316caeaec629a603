"""The shapes ``run()`` may return, read as DataDreamer 0.46 reads them, and its errors for
the shapes it refuses (``StepOutputError``; values Arrow cannot store: ``StepOutputTypeError``)."""

from __future__ import annotations

from typing import Any

import pytest

from dreamer_lab.errors import StepOutputError, StepOutputTypeError
from dreamer_lab.steps import DataSource, Step


def run_step(outputs: list[str], value: Any) -> Any:
    """A step registering ``outputs`` whose ``run()`` returns ``value``; its rows."""

    class Shaped(Step):
        def setup(self) -> None:
            for name in outputs:
                self.register_output(name)

        def run(self) -> Any:
            return value() if callable(value) else value

    step = Shaped("shaped", force=True)
    return step.output.dataset.to_dict()


@pytest.mark.parametrize(
    "outputs, value, rows",
    [
        (["a", "b"], {"a": [1, 2], "b": ["x", "y"]}, {"a": [1, 2], "b": ["x", "y"]}),
        (["a", "b"], {"a": 1, "b": "x"}, {"a": [1], "b": ["x"]}),  # all scalars: one row
        (["a", "b"], ([1, 2], ["x", "y"]), {"a": [1, 2], "b": ["x", "y"]}),  # tuple: columns
        (["a", "b"], [(1, "x"), (2, "y")], {"a": [1, 2], "b": ["x", "y"]}),  # list: rows
        (["a", "b"], [[1, "x"], [2, "y"]], {"a": [1, 2], "b": ["x", "y"]}),
        (["a", "b"], [{"b": "x", "a": 1}, {"a": 2, "b": "y"}], {"a": [1, 2], "b": ["x", "y"]}),
        (["a", "b"], [[1, 2, 3], ["x", "y", "z"]], {"a": [1, 2, 3], "b": ["x", "y", "z"]}),
        (["out"], [1, 2, 3], {"out": [1, 2, 3]}),  # one output: the list is the column
        (["out"], [("p",), ("q",)], {"out": ["p", "q"]}),  # one-value tuple row: the value
        (["out"], [[1, 2], [3]], {"out": [[1, 2], [3]]}),  # lists stay values
        (["out"], "just one", {"out": ["just one"]}),  # a scalar: one row
        (["out"], None, {"out": []}),  # None: no rows
        (
            ["a", "b"],
            lambda: ({"a": i, "b": -i} for i in range(3)),
            {"a": [0, 1, 2], "b": [0, -1, -2]},
        ),
        (["out"], lambda: iter(["x", "y"]), {"out": ["x", "y"]}),
        (["out"], range(3), {"out": [0, 1, 2]}),  # any iterable: its items
        (["a"], {"a": (v for v in "ab")}, {"a": ["a", "b"]}),  # a generator column
    ],
)
def test_accepted_shapes(workspace, outputs, value, rows):
    assert run_step(outputs, value) == rows


def test_datasets_and_other_steps_outputs(workspace):
    import datasets

    src = DataSource("src", {"a": [1, 2], "b": ["x", "y"]})
    both = {"a": [1, 2], "b": ["x", "y"]}
    assert run_step(["a", "b"], datasets.Dataset.from_dict({"b": ["x", "y"], "a": [1, 2]})) == both
    assert run_step(["a", "b"], src.output) == both
    assert run_step(["b"], src.output["b"]) == {"b": ["x", "y"]}  # a column: its values
    left, right = (
        datasets.Dataset.from_dict({"a": [1, 2]}),
        datasets.Dataset.from_dict({"b": ["x", "y"]}),
    )
    assert run_step(["a", "b"], [left, right]) == both  # Datasets side by side
    assert run_step(["a", "b"], (src.output["a"], src.output["b"])) == both


@pytest.mark.parametrize(
    "outputs, value, error, match",
    [
        (["a"], {"b": [1]}, StepOutputError, r"missing \['a'\]; unexpected \['b'\]"),
        (["a", "b"], [{"a": 1, "b": 2}, {"a": 1}], StepOutputError, "as dict keys instead of"),
        (["a", "b"], ([1], [2], [3]), StepOutputError, "expected 2 outputs"),
        (["a", "b"], [1, 2, 3], StepOutputError, "expected 2 outputs"),
        (["a", "b"], [1], StepOutputError, "expected 2 outputs"),
        (["a", "b"], None, StepOutputError, "expected 2 outputs"),
        (["out"], [1, "two"], StepOutputTypeError, "cannot be stored as Arrow"),
        (["out"], [object()], StepOutputTypeError, "cannot be stored as Arrow"),
        (["a", "b"], {"a": [1, 2], "b": [1]}, StepOutputTypeError, "different lengths"),
    ],
)
def test_refused_shapes(workspace, outputs, value, error, match):
    with pytest.raises(error, match=match):
        run_step(outputs, value)


def test_refused_dataset_shapes(workspace):
    import datasets

    ds = datasets.Dataset.from_dict({"a": [1]})
    with pytest.raises(StepOutputError, match="must use LazyRows"):
        run_step(["a"], ds.to_iterable_dataset())
    lazy = DataSource("l", {"a": [1]}).select_columns("a", lazy=True)
    with pytest.raises(StepOutputError, match="must use LazyRows"):
        run_step(["a"], lazy.output)
    with pytest.raises(StepOutputError, match="supply a Dataset instead"):
        run_step(["a"], datasets.DatasetDict({"train": ds}))
    with pytest.raises(StepOutputError, match="must be of type Dataset"):
        run_step(["a", "b"], [ds, [1]])
    with pytest.raises(StepOutputError, match=r"unexpected \['a'\]"):
        run_step(["b"], ds)
    # StepOutputTypeError is a StepOutputError (and a TypeError), as DataDreamer's is a TypeError
    assert issubclass(StepOutputTypeError, StepOutputError)
    assert issubclass(StepOutputTypeError, TypeError)


def test_renamed_outputs_follow_the_shapes(workspace):
    class Pair(Step):
        def setup(self) -> None:
            self.register_output("a")
            self.register_output("b")

        def run(self) -> Any:
            return [(1, "x")]

    step = Pair("pair", outputs={"a": "first"})
    assert step.output.dataset.to_dict() == {"first": [1], "b": ["x"]}
