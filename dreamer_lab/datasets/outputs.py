"""A step's output and its columns, stored (``Dataset``) or lazy (``IterableDataset``).

The four classes keep DataDreamer's names and observable behaviour: ``output["col"]`` is a
column, an int or slice indexes rows of a stored output, iterating yields row dicts (or a
column's values), ``head()`` gives a pandas DataFrame, and a lazy output's ``num_rows`` is
the ``total_num_rows`` it was declared with (``None`` when unknown). Values stored with
``step.pickle(value)`` read back as the values, signature-checked
(:mod:`dreamer_lab.datasets.pickled`); ``.dataset`` holds the stored bytes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

from dreamer_lab.core.fingerprint import combine
from dreamer_lab.datasets.pickled import Unpickler


def _check_type(dataset: Any, iterable: bool) -> None:
    import datasets

    want = datasets.IterableDataset if iterable else datasets.Dataset
    if not isinstance(dataset, want):
        raise ValueError(f"Expected {want.__name__}, got {type(dataset).__name__}.")


def _check_step(step: Any, cls: type) -> None:
    if step is None:
        raise ValueError(
            f"{cls.__name__}(step, dataset): step is None; pass the step the rows belong to."
        )


def iterable_column_names(dataset: Any) -> list[str]:
    """Column names of a ``datasets.IterableDataset``; after a ``map`` they are unknown
    to ``datasets``, so the first row is read (one row, nothing more)."""
    names = dataset.column_names
    if names is None and dataset.features is not None:
        names = list(dataset.features)
    if names is None:
        first = next(iter(dataset.take(1)), None)
        names = list(first) if first is not None else []
    return list(names)


class _OutputBase:
    """What stored and lazy outputs share."""

    _step: Any
    _dataset: Any
    _pickled: bool

    @property
    def step(self) -> Any:
        """The step this output belongs to."""
        return self._step

    @property
    def dataset(self) -> Any:
        """The underlying ``datasets.Dataset`` or ``datasets.IterableDataset``."""
        return self._dataset

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.column_names)

    @property
    def num_columns(self) -> int:
        return len(self.column_names)

    @property
    def info(self) -> Any:
        return self.dataset.info

    @property
    def _features(self) -> Any:
        import datasets

        info = self.info
        return info.features if info is not None and info.features else datasets.Features()

    @property
    def _unpickler(self) -> Unpickler:
        """Turns the signed values of ``step.pickle()`` back into objects (checked)."""
        return Unpickler(self.step, self.dataset.features)

    def __iter__(self) -> Iterator[Any]:
        unpickler = self._unpickler
        if not unpickler.active:
            return iter(self.dataset)
        return (unpickler.row(row) for row in self.dataset)

    def head(
        self, n: int = 5, shuffle: bool = False, seed: int | None = None, buffer_size: int = 1000
    ) -> Any:
        """The first ``n`` rows as a pandas DataFrame (``shuffle``: from a seeded buffer)."""
        import datasets
        import pandas as pd

        ids = self.dataset
        if isinstance(ids, datasets.Dataset):
            ids = ids.to_iterable_dataset()
        if shuffle:
            ids = ids.shuffle(seed=seed, buffer_size=buffer_size)
        unpickler = self._unpickler
        return pd.DataFrame.from_records([unpickler.row(r) for r in ids.take(n)])


class OutputDataset(_OutputBase):
    """A step's stored output: a memory-mapped ``datasets.Dataset`` with columns by name."""

    def __init__(self, step: Any, dataset: Any, pickled: bool = False):
        _check_step(step, type(self))
        _check_type(dataset, iterable=False)
        self._step = step
        self._dataset = dataset
        self._pickled = pickled

    @property
    def num_rows(self) -> int:
        return self.dataset.num_rows

    def __len__(self) -> int:
        return self.dataset.num_rows

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self.dataset.column_names:
                raise KeyError(
                    f"Step {self.step.name!r} has no column {key!r}; its columns are "
                    f"{self.column_names}."
                )
            if getattr(self._step, "_output", None) is not self:  # a view of other rows
                one = self.dataset.select_columns([key])
                return OutputDatasetColumn(self.step, one, pickled=self._pickled)
            return OutputDatasetColumn(self.step, key, pickled=self._pickled)
        value = self.dataset[key]
        try:
            operator.index(key)
        except TypeError:  # a slice or a list of indices: {column: [values]}
            return self._unpickler.batch(value)
        return self._unpickler.row(value)

    def save_to_disk(self, path: str, num_proc: int | None = None) -> None:
        """Write the rows as a ``datasets`` folder and read them back from it."""
        import datasets

        self._dataset.save_to_disk(path, num_proc=num_proc)
        self._dataset = datasets.Dataset.load_from_disk(path)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(column_names={self.column_names}, num_rows={len(self)}, "
            f"dataset=<{type(self.dataset).__name__} @ {id(self.dataset)}>)"
        )


class OutputDatasetColumn(OutputDataset):
    """One column of a stored output; passed as an input to later steps.

    ``OutputDatasetColumn(step, "text")`` reads the column from ``step.output`` when first
    used; ``OutputDatasetColumn(step, one_column_dataset)`` (DataDreamer's form) wraps it.
    """

    def __init__(self, step: Any, dataset: Any, pickled: bool = False):
        _check_step(step, type(self))
        self._step = step
        self._pickled = pickled
        if isinstance(dataset, str):
            self.column_name = dataset
            self._dataset = None
            return
        _check_type(dataset, iterable=False)
        if len(dataset.column_names) != 1:
            raise ValueError(f"Expected single column only, got {dataset.column_names}")
        self.column_name = dataset.column_names[0]
        self._dataset = dataset

    @property
    def dataset(self) -> Any:
        """A one-column ``datasets.Dataset``."""
        if self._dataset is None:
            return self.step.output.dataset.select_columns([self.column_name])
        return self._dataset

    @property
    def column_names(self) -> list[str]:
        return [self.column_name]

    def __dreamer_fingerprint__(self) -> str:
        return combine(self.step.fingerprint, "column", self.column_name)

    def to_list(self) -> list[Any]:
        return self._unpickler.values(self.column_name, list(self.dataset[self.column_name]))

    def __len__(self) -> int:
        if self._dataset is None:
            return len(self.step.output)
        return self._dataset.num_rows

    def __iter__(self) -> Iterator[Any]:
        for row in super().__iter__():
            yield row[self.column_name]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            values = self.dataset[key]
            unpickler = self._unpickler
            return unpickler.values(key, list(values)) if unpickler.covers(key) else values
        return super().__getitem__(key)[self.column_name]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(column_name={self.column_name!r}, num_rows={len(self)}, "
            f"dataset=<{type(self.dataset).__name__} @ {id(self.dataset)}>)"
        )


class OutputIterableDataset(_OutputBase):
    """A lazy output: a ``datasets.IterableDataset`` that streams its rows.

    Nothing is materialized: each iteration runs the chain that produces the rows again
    (same inputs, same rows). ``num_rows`` is the declared ``total_num_rows`` or None.
    """

    def __init__(
        self,
        step: Any,
        dataset: Any,
        pickled: bool = False,
        total_num_rows: int | None = None,
    ):
        _check_step(step, type(self))
        _check_type(dataset, iterable=True)
        self._step = step
        self._dataset = dataset
        self._pickled = pickled
        self.total_num_rows = total_num_rows
        self._names: list[str] | None = None

    @property
    def num_rows(self) -> int | None:
        return self.total_num_rows

    @property
    def column_names(self) -> list[str]:
        if self._names is None:
            self._names = iterable_column_names(self.dataset)
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, str):
            raise TypeError(
                f"Step {self.step.name!r} has a lazy output, which cannot be indexed by "
                f"{type(key).__name__}; iterate it, use .head(n), or .save() it first."
            )
        if key not in self.column_names:
            raise KeyError(
                f"Step {self.step.name!r} has no column {key!r}; its columns are "
                f"{self.column_names}."
            )
        return OutputIterableDatasetColumn(
            self.step,
            self.dataset.select_columns([key]),
            pickled=self._pickled,
            total_num_rows=self.total_num_rows,
        )

    def __repr__(self) -> str:
        rows = "Unknown" if self.total_num_rows is None else self.total_num_rows
        return (
            f"{type(self).__name__}(column_names={self.column_names}, num_rows={rows}, "
            f"dataset=<{type(self.dataset).__name__} @ {id(self.dataset)}>)"
        )


class OutputIterableDatasetColumn(OutputIterableDataset):
    """One column of a lazy output; iterating yields its values."""

    def __init__(
        self,
        step: Any,
        dataset: Any,
        pickled: bool = False,
        total_num_rows: int | None = None,
    ):
        super().__init__(step, dataset, pickled=pickled, total_num_rows=total_num_rows)
        if len(self.column_names) != 1:
            raise ValueError(f"Expected single column only, got {self.column_names}")
        self.column_name = self.column_names[0]

    def __dreamer_fingerprint__(self) -> str:
        return combine(self.step.fingerprint, "column", self.column_name)

    def __iter__(self) -> Iterator[Any]:
        for row in super().__iter__():
            yield row[self.column_name]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return iter(self)
        return super().__getitem__(key)

    def __repr__(self) -> str:
        rows = "Unknown" if self.total_num_rows is None else self.total_num_rows
        return (
            f"{type(self).__name__}(column_name={self.column_name!r}, num_rows={rows}, "
            f"dataset=<{type(self.dataset).__name__} @ {id(self.dataset)}>)"
        )
