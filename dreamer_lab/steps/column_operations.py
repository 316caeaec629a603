"""Column operations (DataDreamer's names): choose, compute, rename, remove; ``zipped``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError
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
    """Columns of several steps side by side (same number of rows, distinct column names).

    ``lazy=True`` streams them (rows are read together; stops at the shortest)."""
    from datasets import concatenate_datasets

    check_steps("zipped", steps)
    lengths = [s.output.num_rows for s in steps]
    if None not in lengths and len(set(lengths)) > 1:
        raise StepInputError(
            f"zipped(): steps have different row counts {lengths}; use .take() to align them."
        )
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
        lambda *dss: concatenate_datasets(list(dss), axis=1),
        {},
        name or "zipped(" + ", ".join(s.name for s in steps) + ")",
        **lazy_options(steps[0], lazy, None if None in lengths else max(lengths)),
        **kwargs,
    )
