"""Row operations (DataDreamer's names): choose, order, filter, add and copy rows; ``concat``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.operation_base import (
    as_list,
    check_columns,
    check_steps,
    datasets_operation,
    flat,
    lazy_options,
    operation,
    parent_rows,
    refuse_lazy,
)

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


class RowOperations:
    """Operations on a step's rows; each returns a new (memoized) step."""

    def select(
        self: Step, indices: Any, name: str | None = None, lazy: bool = False, **kwargs: Any
    ) -> Step:
        """The rows at ``indices``, in that order (stored: ``lazy=True`` is refused)."""
        refuse_lazy(lazy, "select", self)
        idx = list(indices)
        n = self.output.num_rows
        bad = [i for i in idx if not isinstance(i, int) or (n is not None and not -n <= i < n)]
        if bad:
            raise StepInputError(
                f"select on step {self.name!r}: indices {bad[:5]} are out of range for {n} rows."
            )
        return operation(
            "select", [self], lambda ds: ds.select(idx), {"indices": idx}, name, **kwargs
        )

    def take(
        self: Step, n: int, name: str | None = None, lazy: bool = False, **kwargs: Any
    ) -> Step:
        """The first ``n`` rows (``lazy=True``: streamed, reading only those rows)."""
        rows = parent_rows(self) if lazy else None
        return operation(
            "take",
            [self],
            (lambda ds: ds.take(n)) if lazy else (lambda ds: ds.select(range(min(n, ds.num_rows)))),
            {"n": n},
            name,
            **lazy_options(self, lazy, None if rows is None else min(n, rows)),
            **kwargs,
        )

    def skip(
        self: Step, n: int, name: str | None = None, lazy: bool = False, **kwargs: Any
    ) -> Step:
        """All rows but the first ``n`` (``lazy=True``: streamed, not stored)."""
        rows = parent_rows(self) if lazy else None
        return operation(
            "skip",
            [self],
            (lambda ds: ds.skip(n)) if lazy else (lambda ds: _rows_from(ds, n)),
            {"n": n},
            name,
            **lazy_options(self, lazy, None if rows is None else max(rows - n, 0)),
            **kwargs,
        )

    def shuffle(
        self: Step,
        seed: int | None = None,
        buffer_size: int = 1000,
        name: str | None = None,
        lazy: bool = False,
        **kwargs: Any,
    ) -> Step:
        """Shuffle rows. ``seed=None`` means seed 0, so the result is reproducible.

        ``lazy=True`` shuffles as the rows stream, within a buffer of ``buffer_size`` rows
        (``IterableDataset.shuffle``): a different order than the stored shuffle.
        """
        s = 0 if seed is None else seed
        if lazy:
            return operation(
                "shuffle",
                [self],
                lambda ds: ds.shuffle(seed=s, buffer_size=buffer_size),
                {"seed": s, "buffer_size": buffer_size},
                name,
                **lazy_options(self, lazy),
                **kwargs,
            )
        return operation(
            "shuffle",
            [self],
            lambda ds: flat(ds.shuffle(seed=s, keep_in_memory=True)),
            {"seed": s},
            name,
            **kwargs,
        )

    def sort(
        self: Step,
        column_names: str | list[str],
        reverse: bool | list[bool] = False,
        null_placement: str = "at_end",
        name: str | None = None,
        **kwargs: Any,
    ) -> Step:
        """Rows ordered by ``column_names`` (as ``datasets.Dataset.sort``)."""
        cols = as_list(column_names)
        check_columns(self, cols, "sort")
        return operation(
            "sort",
            [self],
            lambda ds: flat(ds.sort(cols, reverse=reverse, null_placement=null_placement)),
            {"columns": cols, "reverse": reverse, "null_placement": null_placement},
            name,
            **kwargs,
        )

    def reverse(self: Step, name: str | None = None, lazy: bool = False, **kwargs: Any) -> Step:
        """The rows in reverse order (stored: ``lazy=True`` is refused)."""
        refuse_lazy(lazy, "reverse", self)
        return operation(
            "reverse",
            [self],
            lambda ds: flat(ds.select(range(ds.num_rows - 1, -1, -1))),
            {},
            name,
            **kwargs,
        )

    def shard(
        self: Step,
        num_shards: int,
        index: int,
        contiguous: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> Step:
        """Shard ``index`` of ``num_shards`` (as ``datasets.Dataset.shard``)."""
        if not 0 <= index < num_shards:
            raise StepInputError(f"shard: index must be in [0, {num_shards}), got {index}.")
        return operation(
            "shard",
            [self],
            lambda ds: flat(ds.shard(num_shards, index, contiguous=contiguous)),
            {"num_shards": num_shards, "index": index, "contiguous": contiguous},
            name,
            **kwargs,
        )

    def add_item(
        self: Step, item: dict[str, Any], name: str | None = None, lazy: bool = False, **kwargs: Any
    ) -> Step:
        """The rows plus ``item`` (a dict with every column) at the end."""
        cols = self.output.column_names
        if set(item) != set(cols):
            raise StepInputError(
                f"add_item on step {self.name!r}: the item has keys {sorted(item)}; "
                f"the columns are {cols}."
            )
        rows = parent_rows(self) if lazy else None
        return operation(
            "add_item",
            [self],
            (lambda ds: _stream_then(ds, item)) if lazy else (lambda ds: ds.add_item(item)),
            {"item": item},
            name,
            **lazy_options(self, lazy, None if rows is None else rows + 1),
            **kwargs,
        )

    def filter(
        self: Step,
        function: Callable[..., Any],
        with_indices: bool = False,
        input_columns: str | list[str] | None = None,
        batched: bool = False,
        batch_size: int = 1000,
        total_num_rows: int | None = None,
        auto_progress: bool = True,
        lazy: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> Step:
        """Keep rows for which ``function`` returns True.

        ``total_num_rows``: the number of rows kept (checked once it has run; a lazy
        result's ``num_rows``). ``auto_progress``: show ``datasets``' progress bar while
        filtering. ``lazy=True``: rows are tested as they are read, nothing is stored.
        """
        op_args = {
            "function": function,
            "with_indices": with_indices,
            "input_columns": input_columns,
            "batched": batched,
            "batch_size": batch_size,
        }
        return datasets_operation(
            self,
            "filter",
            op_args,
            total_num_rows=total_num_rows,
            auto_progress=auto_progress,
            lazy=lazy,
            name=name,
            **kwargs,
        )

    def save(self: Step, name: str | None = None, **kwargs: Any) -> Step:
        """A stored copy of this step's output; a lazy output's rows are streamed into the
        workspace (``writer_batch_size``, ``save_num_proc``, ``save_num_shards``)."""
        return operation("save", [self], lambda ds: ds, {}, name, **kwargs)

    def copy(self: Step, name: str | None = None, lazy: bool = False, **kwargs: Any) -> Step:
        """A copy of this step's output (its own entry in the lineage; ``lazy=True``: a
        streamed view, not stored)."""
        return operation(
            "copy", [self], lambda ds: ds, {}, name, **lazy_options(self, lazy), **kwargs
        )


def _rows_from(ds: Any, start: int) -> Any:
    """The rows of ``ds`` from ``start`` on (none when ``start`` is past the end: datasets
    refuses an empty range that starts there)."""
    return ds.select(range(start, ds.num_rows) if start < ds.num_rows else [])


def _stream_then(ds: Any, item: dict[str, Any]) -> Any:
    """``ds``'s rows, then ``item`` (streamed)."""
    import datasets

    def rows() -> Any:
        yield from ds
        yield item

    return datasets.IterableDataset.from_generator(rows, features=ds.features)


def concat(*steps: Step, name: str | None = None, lazy: bool = False, **kwargs: Any) -> Step:
    """Rows of several steps one after another (``lazy=True``: streamed). A column that
    some steps lack is None in their rows, as in DataDreamer."""
    from datasets import concatenate_datasets

    check_steps("concat", steps)
    counts = [s.output.num_rows for s in steps]
    return operation(
        "concat",
        list(steps),
        lambda *dss: concatenate_datasets(list(dss)),
        {},
        name or "concat(" + ", ".join(s.name for s in steps) + ")",
        **lazy_options(steps[0], lazy, None if None in counts else sum(counts)),
        **kwargs,
    )
