"""Data sources as DataDreamer documents them: a generator function or an
``IterableDataset`` streams (an ``OutputIterableDataset``, no ``LazyRows`` needed, nothing
stored until ``.save()``), with its warning when ``total_num_rows`` is missing; a folder or
file that is not there is a ``FileNotFoundError``."""

from __future__ import annotations

import logging
import warnings

import datasets
import pytest

from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource, HFDatasetDataSource, JSONDataSource


def _stored(workspace) -> int:
    return len(list(workspace.glob("steps/*/record.json")))


def test_a_generator_function_streams(workspace, tmp_path):
    calls = tmp_path / "calls.txt"

    def rows():
        with open(calls, "a") as f:
            f.write("x")
        for i in range(1, 4):
            yield {"n": i, "sq": i * i}

    before = _stored(workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # total_num_rows given: no warning
        src = DataSource("gen", rows, total_num_rows=3)
    assert isinstance(src.output, OutputIterableDataset)
    assert src.output.num_rows == 3 and src.output.column_names == ["n", "sq"]
    assert _stored(workspace) == before  # streamed, not stored
    assert list(src.output["sq"]) == [1, 4, 9]
    assert list(src.output["n"]) == [1, 2, 3]  # every pass calls the function again
    assert calls.read_text().count("x") >= 2
    saved = src.save()
    assert isinstance(saved.output, OutputDataset)
    assert saved.output["sq"].to_list() == [1, 4, 9]
    assert _stored(workspace) == before + 1
    assert src.save().cache_hit  # the same generator code: the same stored copy


def test_a_generator_without_a_count_warns(workspace):
    def rows():
        yield {"x": 1}

    with pytest.warns(UserWarning, match=r"DataSource\(\.\.\., total_num_rows=#\)"):
        src = DataSource("gen", rows)
    assert src.output.num_rows is None and list(src.output["x"]) == [1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataSource("gen", rows, auto_progress=False)


def test_an_iterable_dataset_streams(workspace):
    ids = datasets.Dataset.from_dict({"x": list(range(5))}).to_iterable_dataset()
    src = DataSource("ids", ids, total_num_rows=5)
    assert isinstance(src.output, OutputIterableDataset)
    assert list(src.output["x"]) == [0, 1, 2, 3, 4]
    # Fingerprinted by what it streams: the same rows, the same step; others differ.
    same = datasets.Dataset.from_dict({"x": list(range(5))}).to_iterable_dataset()
    other = datasets.Dataset.from_dict({"x": list(range(1, 6))}).to_iterable_dataset()
    assert DataSource("ids", same, total_num_rows=5).fingerprint == src.fingerprint
    assert DataSource("ids", other, total_num_rows=5).fingerprint != src.fingerprint
    assert src.map(lambda r: {"y": r["x"] * 2}).output["y"].to_list() == [0, 2, 4, 6, 8]


def test_streamed_rows_report_progress(workspace, caplog):
    def rows():
        yield from ({"x": i} for i in range(3))

    caplog.set_level(logging.INFO, logger="dreamer_lab")
    src = DataSource("gen", rows, total_num_rows=3, progress_interval=0)
    it = iter(src.output)
    next(it)
    assert src.progress == pytest.approx(1 / 3)
    list(it)
    assert src.progress == 1.0
    lines = [r.getMessage() for r in caplog.records]
    for pct in ("33%", "66%", "100%"):
        assert f"Step 'gen' progress: {pct} 🔄" in lines
    caplog.clear()
    quiet = DataSource("quiet", rows, total_num_rows=3, auto_progress=False)
    list(quiet.output)
    assert not quiet.progress  # auto_progress=False: the step's own business
    assert not [r for r in caplog.records if "progress" in r.getMessage()]


def test_rows_read_are_logged_without_a_count(workspace, caplog):
    from dreamer_lab.steps import LazyRows, Step

    class Stream(Step):
        def setup(self) -> None:
            self.register_output("x")

        def run(self):
            return LazyRows(lambda: iter([1, 2, 3]), auto_progress=True)

    caplog.set_level(logging.INFO, logger="dreamer_lab")
    with pytest.warns(UserWarning, match="total_num_rows"):
        step = Stream("stream", progress_interval=0)
    assert list(step.output["x"]) == [1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    for n in (1, 2, 3):
        assert f"Step 'stream' progress: {n} row(s) 🔄" in lines
    assert not [line for line in lines if "%" in line]


def test_progress_lines_follow_progress_interval(workspace, caplog):
    def rows():
        yield from ({"x": i} for i in range(50))

    caplog.set_level(logging.INFO, logger="dreamer_lab")
    src = DataSource("slow-log", rows, total_num_rows=50, progress_interval=3600)
    list(src.output)
    lines = [r.getMessage() for r in caplog.records if "progress:" in r.getMessage()]
    assert lines == ["Step 'slow-log' progress: 2% 🔄", "Step 'slow-log' progress: 100% 🔄"]
    caplog.clear()
    src = DataSource("no-log", rows, total_num_rows=50, progress_interval=None)
    list(src.output)
    assert not [r for r in caplog.records if "progress:" in r.getMessage()]


def test_a_folder_of_splits_without_split_is_file_not_found(workspace, tmp_path):
    folder = tmp_path / "dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"x": [1, 2]})}).save_to_disk(
        str(folder)
    )
    with pytest.raises(FileNotFoundError, match=r"splits \['train'\]; choose one with split="):
        HFDatasetDataSource("dict", str(folder))
    with pytest.raises(FileNotFoundError, match="no split 'test'"):
        HFDatasetDataSource("dict", str(folder), split="test")
    assert HFDatasetDataSource("dict", str(folder), split="train").output["x"].to_list() == [1, 2]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HFDatasetDataSource("none", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not found"):
        JSONDataSource("none", data_files=str(tmp_path / "missing.json"))
    # Still this project's input errors (a ValueError) for code that catches those.
    with pytest.raises(StepInputError):
        HFDatasetDataSource("dict", str(folder))


def test_a_streamed_hub_dataset_is_a_lazy_output(workspace, tmp_path):
    from dreamer_lab.steps import HFHubDataSource

    repo = tmp_path / "hub_repo"  # a dataset folder as on the Hub: data files, no script
    repo.mkdir()
    (repo / "train.csv").write_text("text,label\nhi,1\nbye,0\n")
    streamed = HFHubDataSource("hub", str(repo), split="train", streaming=True)
    assert isinstance(streamed.output, OutputIterableDataset)
    assert streamed.output.column_names == ["text", "label"]
    assert list(streamed.output["text"]) == ["hi", "bye"]
    stored = HFHubDataSource("hub", str(repo), split="train")
    assert isinstance(stored.output, OutputDataset)
    assert stored.fingerprint != streamed.fingerprint  # a stored entry never answers a stream
    assert streamed.save().output["label"].to_list() == [1, 0]
