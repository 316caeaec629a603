"""Column operations (DataDreamer's names): choose, compute, rename, remove; ``zipped``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dreamer_lab.datasets.outputs import iterable_column_names
from dreamer_lab.errors import StepInputError, StepOutputTypeError
from dreamer_lab.steps.operation_base import (
    as_list,
    check_columns,
    check_steps,
    datasets_operation,
    lazy_options,
    operation,
)

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


class ColumnOperations:
    """Operations on a step's columns; each returns a new (memoized) step."""

    def select_columns(
        self: Step,
        column_names: str | list[str],
        name: str | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Step:
        """Only the columns ``column_names`` (``lazy=True``: streamed, not stored)."""
        cols = as_list(column_names)
        check_columns(self, cols, "select_columns")
        return operation(
            "select_columns",
            [self],
            lambda ds: ds.select_columns(cols),
            {"columns": cols},
            name,
            **lazy_options(self, lazy),
            **kwargs,
        )

    def map(
        self: Step,
        function: Callable[..., Any],
        with_indices: bool = False,
        input_columns: str | list[str] | None = None,
        batched: bool = False,
        batch_size: int = 1000,
        remove_columns: str | list[str] | None = None,
        total_num_rows: int | None = None,
        auto_progress: bool = True,
        lazy: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> Step:
        """Apply ``function`` to rows (or batches), as ``datasets.Dataset.map``.

        ``total_num_rows``: the number of rows the result has (checked once it has run;
        a lazy result's ``num_rows``). ``auto_progress``: show ``datasets``' progress bar
        while mapping. ``lazy=True``: the function runs as the rows are read (an
        ``OutputIterableDataset``), nothing is stored.
        """
        op_args = {
            "function": function,
            "with_indices": with_indices,
            "input_columns": input_columns,
            "batched": batched,
            "batch_size": batch_size,
            "remove_columns": remove_columns,
        }
        return datasets_operation(
            self,
            "map",
            op_args,
            total_num_rows=total_num_rows,
            auto_progress=auto_progress,
            lazy=lazy,
            name=name,
            **kwargs,
        )

    def rename_column(
        self: Step,
        original_column_name: str,
        new_column_name: str,
        name: str | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Step:
        """The column ``original_column_name`` renamed ``new_column_name``."""
        mapping = {original_column_name: new_column_name}
        return _rename(self, mapping, name, lazy, "rename_column", **kwargs)

    def rename_columns(
        self: Step,
        column_mapping: dict[str, str],
        name: str | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Step:
        """Columns renamed by ``{old: new}`` (``lazy=True``: streamed, not stored)."""
        return _rename(self, column_mapping, name, lazy, "rename_columns", **kwargs)

    def remove_columns(
        self: Step,
        column_names: str | list[str],
        name: str | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Step:
        """All columns but ``column_names`` (``lazy=True``: streamed, not stored)."""
        cols = as_list(column_names)
        check_columns(self, cols, "remove_columns")
        return operation(
            "remove_columns",
            [self],
            lambda ds: ds.remove_columns(cols),
            {"columns": cols},
            name,
            **lazy_options(self, lazy),
            **kwargs,
        )


def _rename(
    step: Step,
    column_mapping: dict[str, str],
    name: str | None,
    lazy: bool,
    step_class: str,
    **kwargs: Any,
) -> Step:
    """``rename_column``/``rename_columns``: one operation (``"rename_columns"``, so both
    give the same fingerprint), each returning its own class."""
    check_columns(step, list(column_mapping), "rename_columns")
    mapping = {k: v for k, v in column_mapping.items() if k != v}
    return operation(
        "rename_columns",
        [step],
        lambda ds: ds.rename_columns(mapping) if mapping else ds,
        {"mapping": dict(column_mapping)},
        name,
        step_class=step_class,
        **lazy_options(step, lazy),
        **kwargs,
    )


def zipped(*steps: Step, name: str | None = None, lazy: bool = False, **kwargs: Any) -> Step:
    """Columns of several steps side by side (distinct column names).

    Stored, the steps must have the same number of rows (else ``StepOutputTypeError``, as
    in DataDreamer); ``lazy=True`` streams them, a shorter step's columns None once its
    rows run out (``num_rows``: the longest)."""
    check_steps("zipped", steps)
    lengths = [s.output.num_rows for s in steps]
    if not lazy and None not in lengths and len(set(lengths)) > 1:
        raise StepOutputTypeError(_UNEVEN.format(lengths=lengths))
    seen: set[str] = set()
    for s in steps:
        dup = seen & set(s.output.column_names)
        if dup:
            raise StepInputError(
                f"zipped(): column(s) {sorted(dup)} appear in more than one step; rename them first."
            )
        seen |= set(s.output.column_names)
    return operation(
        "zipped",
        list(steps),
        _zip,
        {},
        name or "zipped(" + ", ".join(s.name for s in steps) + ")",
        **lazy_options(steps[0], lazy, None if None in lengths else max(lengths)),
        **kwargs,
    )


_UNEVEN = (
    "zipped(): steps have different row counts {lengths}; use .take() to align them, or "
    "lazy=True to fill the shorter ones' columns with None."
)


def _zip(*dss: Any) -> Any:
    """Stored datasets side by side (equal lengths), or streamed ones padded with None."""
    import datasets

    if all(isinstance(d, datasets.Dataset) for d in dss):
        lengths = [d.num_rows for d in dss]
        if len(set(lengths)) > 1:  # a lazy parent turned out longer or shorter
            raise StepOutputTypeError(_UNEVEN.format(lengths=lengths))
        return datasets.concatenate_datasets(list(dss), axis=1)
    names = [iterable_column_names(d) for d in dss]
    known = all(d.features is not None for d in dss)
    features = (
        datasets.Features({k: v for d in dss for k, v in d.features.items()}) if known else None
    )

    def rows() -> Iterator[dict[str, Any]]:
        for parts in itertools.zip_longest(*dss):
            row: dict[str, Any] = {}
            for part, cols in zip(parts, names, strict=True):
                row.update(part if part is not None else dict.fromkeys(cols))
            yield row

    return datasets.IterableDataset.from_generator(rows, features=features)
