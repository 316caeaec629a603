"""Each step operation returns an instance of its own class, named and importable as in
DataDreamer (``datadreamer.steps.step.MapStep`` ...), so ``isinstance`` checks written for
DataDreamer hold; the class changes nothing else (names, fingerprints, outputs)."""

from __future__ import annotations

import importlib
import warnings

import pytest

from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
from dreamer_lab.steps import DataSource, Step, concat, zipped
from dreamer_lab.steps import step as step_module
from dreamer_lab.steps.operation_step import OperationStep

# DataDreamer 0.46's operation step classes (datadreamer/steps/step.py), one per operation.
DD_CLASSES = [
    "AddItemStep",
    "ConcatStep",
    "CopyStep",
    "FilterStep",
    "MapStep",
    "RemoveColumnsStep",
    "RenameColumnStep",
    "RenameColumnsStep",
    "ReverseStep",
    "SaveStep",
    "SelectColumnsStep",
    "SelectStep",
    "ShardStep",
    "ShuffleStep",
    "SkipStep",
    "SortStep",
    "SplitStep",
    "TakeStep",
    "ZippedStep",
]


def test_every_operation_class_is_importable_from_the_step_module():
    module = importlib.import_module("dreamer_lab.steps.step")
    for name in DD_CLASSES:
        cls = getattr(module, name)
        assert issubclass(cls, OperationStep) and issubclass(cls, Step), name
        assert cls.__name__ == name
    ns: dict[str, object] = {}
    exec("from dreamer_lab.steps.step import MapStep, SaveStep", ns)  # the `from` form too
    assert ns["MapStep"] is step_module.MapStep
    with pytest.raises(AttributeError):
        step_module.NoSuchStep  # noqa: B018


def _source() -> Step:
    return DataSource("rows", {"a": [3, 1, 2], "b": ["x", "y", "z"]})


def test_each_operation_returns_its_class(workspace):
    src = _source()
    other = DataSource("other", {"c": [7, 8, 9]})
    made = {
        "AddItemStep": src.add_item({"a": 4, "b": "w"}),
        "ConcatStep": concat(src, src),
        "CopyStep": src.copy(),
        "FilterStep": src.filter(lambda r: r["a"] > 1),
        "MapStep": src.map(lambda r: {"c": r["a"] * 2}),
        "RemoveColumnsStep": src.remove_columns(["b"]),
        "RenameColumnStep": src.rename_column("a", "n"),
        "RenameColumnsStep": src.rename_columns({"a": "n"}),
        "ReverseStep": src.reverse(),
        "SaveStep": src.save(),
        "SelectColumnsStep": src.select_columns(["a"]),
        "SelectStep": src.select([2, 0]),
        "ShardStep": src.shard(num_shards=2, index=0),
        "ShuffleStep": src.shuffle(seed=1),
        "SkipStep": src.skip(1),
        "SortStep": src.sort("a"),
        "TakeStep": src.take(2),
        "ZippedStep": zipped(src, other),
    }
    for name, step in made.items():
        cls = getattr(step_module, name)
        assert type(step) is cls, (name, type(step))
        assert isinstance(step.output, OutputDataset)
    for part in src.splits(train_size=2, test_size=1).values():
        assert type(part) is step_module.SplitStep
    # The class is the operation's: rows are what the operation computes.
    assert made["SortStep"].output["a"].to_list() == [1, 2, 3]
    assert made["ReverseStep"].output["b"].to_list() == ["z", "y", "x"]


def test_lazy_operations_have_their_class_too(workspace):
    src = _source()
    with pytest.warns(UserWarning, match="total_num_rows"):  # DataDreamer's warning
        mapped = src.map(lambda r: {"c": r["a"]}, lazy=True)
    assert type(mapped) is step_module.MapStep
    assert isinstance(mapped.output, OutputIterableDataset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with the count (or auto_progress=False): silent
        kept = src.filter(lambda r: r["a"] > 1, lazy=True, total_num_rows=2)
        quiet = src.map(lambda r: {"c": 1}, lazy=True, auto_progress=False)
    assert type(kept) is step_module.FilterStep and kept.output.num_rows == 2
    assert type(quiet) is step_module.MapStep
    assert type(src.take(2, lazy=True)) is step_module.TakeStep


def test_the_class_does_not_change_names_or_fingerprints(workspace):
    src = _source()
    one, many = src.rename_column("a", "n"), src.rename_columns({"a": "n"})
    assert type(one) is not type(many)
    # One operation, two DataDreamer names: the same stored result.
    assert one.fingerprint == many.fingerprint
    assert many.cache_hit
    # Operation steps are named "<parent> / <operation>" here (DataDreamer: "<parent> (op)").
    assert src.map(lambda r: r).name == "rows / map"
    assert src.save().name == "rows / save"
    assert src.save(name="kept").name == "kept"
    assert concat(src, src).name == "concat(rows, rows)"


def test_skip_past_the_end_and_bad_arguments(workspace):
    src = _source()
    empty = src.skip(5)
    assert type(empty) is step_module.SkipStep
    assert len(empty.output) == 0 and empty.output["a"].to_list() == []
    assert src.skip(3).output.num_rows == 0
    with pytest.raises(ValueError, match="at least one step"):
        concat()
    with pytest.raises(TypeError, match=r"concat\(\) takes steps, got int"):
        concat(5)
    with pytest.raises(ValueError, match="at least one step"):
        zipped()
    with pytest.raises(TypeError, match=r"zipped\(\) takes steps, got str"):
        zipped(src, "rows")


def test_concat_fills_missing_columns_with_none(workspace):
    a = DataSource("a", {"out1": ["a", "b"]})
    b = DataSource("b", {"out2": ["d"]})
    rows = [{"out1": "a", "out2": None}, {"out1": "b", "out2": None}, {"out1": None, "out2": "d"}]
    assert concat(a, b).export_to_list() == rows
    lazy = concat(a, b, lazy=True)
    assert type(lazy) is step_module.ConcatStep and list(lazy.output) == rows


def test_zipped_of_uneven_steps(workspace):
    from dreamer_lab.errors import StepInputError, StepOutputTypeError

    a = DataSource("a", {"out1": ["a", "b", "c"]})
    b = DataSource("b", {"out2": ["d", "e", "f", "g"]})
    with pytest.raises(StepOutputTypeError, match="different row counts"):
        zipped(a, b)
    with pytest.raises(StepInputError):  # still an input error for code catching those
        zipped(a, b, lazy=False)
    padded = zipped(a, b, lazy=True)
    assert padded.output.num_rows == 4
    assert list(padded.output)[-1] == {"out1": None, "out2": "g"}
    assert padded.save().output["out1"].to_list() == ["a", "b", "c", None]
