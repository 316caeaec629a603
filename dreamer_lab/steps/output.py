"""Views over a step's stored output: the whole dataset, and one column of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.fingerprint import combine

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


class OutputDataset:
    """A step's output: a memory-mapped ``datasets.Dataset`` with column access by name."""

    def __init__(self, step: Step, dataset: Any):
        self.step = step
        self.dataset = dataset

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.column_names)

    @property
    def num_rows(self) -> int:
        return self.dataset.num_rows

    def __len__(self) -> int:
        return self.dataset.num_rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.dataset)

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.dataset.column_names:
                raise KeyError(
                    f"Step {self.step.name!r} has no column {key!r}; its columns are "
                    f"{self.column_names}."
                )
            return OutputColumn(self.step, key)
        return self.dataset[key]

    def __repr__(self) -> str:
        return f"OutputDataset(step={self.step.name!r}, columns={self.column_names}, num_rows={self.num_rows})"


class OutputColumn:
    """One column of a step's output; passed as an input to later steps."""

    def __init__(self, step: Step, column_name: str):
        self.step = step
        self.column_name = column_name

    def __dreamer_fingerprint__(self) -> str:
        return combine(self.step.fingerprint, "column", self.column_name)

    @property
    def dataset(self) -> Any:
        """A one-column ``datasets.Dataset``."""
        return self.step.output.dataset.select_columns([self.column_name])

    def to_list(self) -> list[Any]:
        return list(self.step.output.dataset[self.column_name])

    def __len__(self) -> int:
        return len(self.step.output)

    def __iter__(self) -> Iterator[Any]:
        for row in self.step.output.dataset.select_columns([self.column_name]):
            yield row[self.column_name]

    def __getitem__(self, idx: int | slice) -> Any:
        return self.step.output.dataset[idx][self.column_name]

    def __repr__(self) -> str:
        return f"OutputColumn(step={self.step.name!r}, column={self.column_name!r})"
