"""Small DataDreamer behaviours found by running its test suite against dreamer_lab:
a column of an ``OutputDataset`` view reads that view's rows, progress never goes back,
views need their step, ``wait()`` takes steps."""

from __future__ import annotations

from typing import Any

import datasets
import pytest

from dreamer_lab.datasets import (
    OutputDataset,
    OutputDatasetColumn,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
)
from dreamer_lab.steps import DataSource, Step, wait


def test_column_of_a_view_reads_the_view_rows(workspace):
    source = DataSource("src", data={"text": ["a", "b"]})
    view = OutputDataset(source, datasets.Dataset.from_dict({"foo": ["x", "y", "z"]}))
    column = view["foo"]
    assert len(column) == 3 and list(column) == ["x", "y", "z"]
    # The step's own output still gives columns of its stored rows.
    assert list(source.output["text"]) == ["a", "b"]


def test_progress_never_goes_back(workspace):
    seen: list[float | None] = []

    class Reporting(Step):
        def setup(self) -> None:
            self.register_output("n")

        def run(self) -> Any:
            for p in (0.2, 0.6, 0.4, 1.5):
                self.progress = p
                seen.append(self.progress)
            return {"n": [1]}

    Reporting("r")
    assert seen == [0.2, 0.6, 0.6, 1.0]


def test_output_views_need_their_step():
    rows = datasets.Dataset.from_dict({"a": [1]})
    for cls, data in (
        (OutputDataset, rows),
        (OutputDatasetColumn, rows),
        (OutputIterableDataset, rows.to_iterable_dataset()),
        (OutputIterableDatasetColumn, rows.to_iterable_dataset()),
    ):
        with pytest.raises(ValueError, match="step is None"):
            cls(None, data)


def test_wait_refuses_what_is_not_a_step():
    with pytest.raises(TypeError, match="wait\\(\\) takes steps, got int"):
        wait(5)  # type: ignore[arg-type]
