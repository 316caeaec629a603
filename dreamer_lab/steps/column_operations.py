"""Column operations (DataDreamer's names): choose, compute, rename, remove; ``zipped``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.operation_base import as_list, check_columns, datasets_operation, operation

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


class ColumnOperations:
    """Operations on a step's columns; each returns a new (memoized) step."""

    def select_columns(
        self: Step, column_names: str | list[str], name: str | None = None, **kwargs: Any
    ) -> Step:
        """Only the columns ``column_names``."""
        cols = as_list(column_names)
        check_columns(self, cols, "select_columns")
        return operation(
            "select_columns",
            [self],
            lambda ds: ds.select_columns(cols),
            {"columns": cols},
            name,
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

        ``total_num_rows``: the number of rows the result has (checked once it has run).
        ``auto_progress``: show ``datasets``' progress bar while mapping. ``lazy=True`` is
        not supported yet (an error).
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
        **kwargs: Any,
    ) -> Step:
        """The column ``original_column_name`` renamed ``new_column_name``."""
        return self.rename_columns({original_column_name: new_column_name}, name=name, **kwargs)

    def rename_columns(
        self: Step, column_mapping: dict[str, str], name: str | None = None, **kwargs: Any
    ) -> Step:
        """Columns renamed by ``{old: new}``."""
        check_columns(self, list(column_mapping), "rename_columns")
        mapping = dict(column_mapping)
        return operation(
            "rename_columns",
            [self],
            lambda ds: ds.rename_columns(mapping),
            {"mapping": mapping},
            name,
            **kwargs,
        )

    def remove_columns(
        self: Step, column_names: str | list[str], name: str | None = None, **kwargs: Any
    ) -> Step:
        """All columns but ``column_names``."""
        cols = as_list(column_names)
        check_columns(self, cols, "remove_columns")
        return operation(
            "remove_columns",
            [self],
            lambda ds: ds.remove_columns(cols),
            {"columns": cols},
            name,
            **kwargs,
        )


def zipped(*steps: Step, name: str | None = None, **kwargs: Any) -> Step:
    """Columns of several steps side by side (same number of rows, distinct column names)."""
    from datasets import concatenate_datasets

    if not steps:
        raise StepInputError("zipped() needs at least one step.")
    lengths = [len(s.output) for s in steps]
    if len(set(lengths)) > 1:
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
        **kwargs,
    )
