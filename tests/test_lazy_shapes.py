"""More of DataDreamer's lazy ``run()`` shapes (a list of columns with generator functions,
datasets side by side with an ``IterableDataset``, batches of one column, a lazy column),
its refusal of a lazy column mixing value types, and progress advancing as rows are read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import datasets
import pytest

from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
from dreamer_lab.errors import StepOutputTypeError
from dreamer_lab.steps import LazyRowBatches, LazyRows, Step


def lazy_step(outputs: list[str], make: Any, name: str = "shapes") -> Step:
    class Shapes(Step):
        def setup(self) -> None:
            for o in outputs:
                self.register_output(o)

        def run(self) -> Any:
            return make()

    return Shapes(name, force=True)


def letters() -> Iterator[str]:
    yield from "abc"


def letter_batches() -> Iterator[list[str]]:
    yield ["a", "b"]
    yield ["c"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LazyRows([letters], total_num_rows=3),
        lambda: LazyRowBatches([letter_batches], total_num_rows=3),
        lambda: LazyRowBatches(lambda: iter([[["a", "b"]], [["c"]]]), total_num_rows=3),
        lambda: LazyRowBatches(lambda: iter([[iter("ab")], [iter("c")]]), total_num_rows=3),
    ],
    ids=["list-of-genfn", "list-of-genfn-batched", "batch-of-one-column", "batch-of-iterator"],
)
def test_one_column_shapes_stream_rows(workspace, make):
    step = lazy_step(["out"], make)
    assert isinstance(step.output, OutputIterableDataset)
    assert list(step.output) == [{"out": "a"}, {"out": "b"}, {"out": "c"}]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LazyRows([letters, [1, 2, 3]], total_num_rows=3),
        lambda: LazyRowBatches([letter_batches, [[1, 2], [3]]], total_num_rows=3),
    ],
    ids=["rows", "batches"],
)
def test_list_of_columns_with_a_generator_function(workspace, make):
    step = lazy_step(["s", "n"], make)
    assert isinstance(step.output, OutputIterableDataset)
    assert [(r["s"], r["n"]) for r in step.output] == [("a", 1), ("b", 2), ("c", 3)]


@pytest.mark.parametrize("container", [list, tuple])
def test_dataset_beside_an_iterable_dataset_is_one_lazy_output(workspace, container):
    def more() -> Iterator[dict[str, int]]:
        for i in range(1, 4):
            yield {"n": i}

    def make() -> LazyRows:
        eager = datasets.Dataset.from_dict({"s": ["a", "b", "c"]})
        lazy = datasets.IterableDataset.from_generator(more)
        return LazyRows(container([eager, lazy]), total_num_rows=3)

    step = lazy_step(["s", "n"], make)
    assert isinstance(step.output, OutputIterableDataset)
    assert list(step.output) == [{"s": "a", "n": 1}, {"s": "b", "n": 2}, {"s": "c", "n": 3}]


def test_a_lazy_column_of_another_step_is_the_output(workspace):
    source = lazy_step(["foo"], lambda: LazyRows(letters, total_num_rows=3), name="source")
    step = lazy_step(["out"], lambda: LazyRows(source.output["foo"], total_num_rows=3))
    assert isinstance(step.output, OutputIterableDataset)
    assert [r["out"] for r in step.output] == ["a", "b", "c"]


def test_a_one_item_list_holding_a_column_is_that_column(workspace):
    source = lazy_step(["foo"], lambda: {"foo": ["a", "b", "c"]}, name="source")
    step = lazy_step(["out"], lambda: [source.output["foo"]])
    assert isinstance(step.output, OutputDataset)
    assert list(step.output["out"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "rows",
    [
        [{"out": [5]}, {"out": ["a"]}],
        [{"out": 5}, {"out": "a"}],
        [{"out": {"k": 1}}, {"out": {"k": "x"}}],
    ],
    ids=["inside-list", "top-level", "inside-dict"],
)
def test_a_lazy_column_mixing_int_and_str_is_refused(workspace, rows):
    step = lazy_step(["out"], lambda: LazyRows(lambda: iter(rows), total_num_rows=2))
    with pytest.raises(StepOutputTypeError, match="column 'out'.*one type"):
        list(step.output)


def test_nested_values_are_cast_to_the_first_rows_types(workspace):
    rows = [{"out": ["a"]}, {"out": [5]}]  # an int can be stored as str, as in DataDreamer
    step = lazy_step(["out"], lambda: LazyRows(lambda: iter(rows), total_num_rows=2))
    assert [r["out"] for r in step.output] == [["a"], ["5"]]


def test_a_dict_of_another_shape_is_refused(workspace):
    rows = [{"out": {"foo": 5}}, {"out": {"foo": {"baz": 6}, "bar": 7}}]
    step = lazy_step(["out"], lambda: LazyRows(lambda: iter(rows), total_num_rows=2))
    with pytest.raises(StepOutputTypeError, match="column 'out'"):
        list(step.output)


def test_none_values_do_not_fix_a_column_type(workspace):
    rows = [{"out": [None, 1]}, {"out": None}, {"out": [2]}]
    step = lazy_step(["out"], lambda: LazyRows(lambda: iter(rows), total_num_rows=3))
    assert [r["out"] for r in step.output] == [[None, 1], None, [2]]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LazyRows(letters, total_num_rows=3),
        lambda: LazyRowBatches(lambda: iter([["a", "b", "c"]]), total_num_rows=3),
        lambda: LazyRows(
            datasets.Dataset.from_dict({"out": list("abc")}).to_iterable_dataset(),
            total_num_rows=3,
        ),
    ],
    ids=["rows", "batched", "iterable-dataset"],
)
def test_progress_advances_as_rows_are_read_and_never_goes_back(workspace, make):
    step = lazy_step(["out"], make)
    assert step.progress == 0.0
    rows = iter(step.output)
    next(rows)
    assert step.progress == pytest.approx(1 / 3)
    next(rows)
    assert step.progress == pytest.approx(2 / 3)
    assert list(rows) == [{"out": "c"}]
    assert step.progress == 1.0
    next(iter(step.output))  # a second pass starts over, progress stays at 1
    assert step.progress == 1.0
    assert step.workspace is not None
    progress_file = step.workspace.progress_file(step.fingerprint)
    assert not progress_file.exists(), "reading a lazy output leaves no 'running' progress file"


def test_progress_without_total_stays_at_zero(workspace):
    step = lazy_step(["out"], lambda: LazyRows(letters, auto_progress=False))
    assert list(step.output) == [{"out": "a"}, {"out": "b"}, {"out": "c"}]
    assert step.progress == 0.0
