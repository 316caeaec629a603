"""Small DataDreamer behaviours found by running its test suite against dreamer_lab:
a column of an ``OutputDataset`` view reads that view's rows, and progress never goes back."""

from __future__ import annotations

from typing import Any

import datasets

from dreamer_lab.datasets import OutputDataset
from dreamer_lab.steps import DataSource, Step


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
