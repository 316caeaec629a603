"""DataDreamer's step operations (``select``, ``map``, ``splits`` ...) and exports.

Every operation is itself a step: its fingerprint is the parent's fingerprint plus the
operation and its arguments (functions by their code, globals and helpers), so editing a
``map`` function misses while adding a comment to it hits.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


def _op_step_class() -> type:
    from dreamer_lab.steps.step import Step

    class OperationStep(Step):
        """A step derived from other steps by a data operation."""

        def __init__(
            self,
            op: str,
            parents: list[Step],
            fn: Callable[..., Any],
            op_args: dict[str, Any],
            name: str | None = None,
            total_num_rows: int | None = None,
            **kwargs: Any,
        ):
            self._op = op
            self._op_fn = fn
            self._op_args = op_args
            self._op_parents = parents
            self._expected_rows = total_num_rows
            super().__init__(name=name or f"{parents[0].name} / {op}", **kwargs)
            # _extra_parents must exist before fingerprinting; set in setup().

        def setup(self) -> None:
            self._extra_parents = list(self._op_parents)

        def kind_name(self) -> str:  # type: ignore[override]
            return self._op

        def _fingerprint_extra(self) -> dict[str, Any]:
            from dreamer_lab.core.fingerprint import hash_value

            return {
                "op": self._op,
                "op_args": {
                    k: hash_value(v, label=f"argument {k!r} of .{self._op}()")
                    for k, v in sorted(self._op_args.items())
                },
            }

        def _fingerprint_components(self) -> dict[str, Any]:
            c = super()._fingerprint_components()
            c["kind"] = f"operation.{self._op}"
            return c

        def _produce(self) -> Any:
            return self._op_fn(*[p.output.dataset for p in self._op_parents])

        def _compute(self):  # type: ignore[override]
            computed = super()._compute()
            from dreamer_lab.core.secrets import redact

            computed.record["kind"] = self._op
            computed.record["args"] = {k: redact(v, k) for k, v in self._op_args.items()}
            return computed

    return OperationStep


_OP_CLASS: type | None = None


def operation(
    op: str,
    parents: list[Step],
    fn: Callable[..., Any],
    op_args: dict[str, Any],
    name: str | None = None,
    **kwargs: Any,
) -> Step:
    global _OP_CLASS
    if _OP_CLASS is None:
        _OP_CLASS = _op_step_class()
    return _OP_CLASS(op, parents, fn, op_args, name=name, **kwargs)


def check_total_num_rows(total_num_rows: Any, where: str) -> int | None:
    """``total_num_rows`` as given (None or a non-negative int), else a clear error."""
    if total_num_rows is None:
        return None
    if (
        isinstance(total_num_rows, bool)
        or not isinstance(total_num_rows, int)
        or total_num_rows < 0
    ):
        raise StepInputError(
            f"{where}: total_num_rows must be a number of rows (an int >= 0), got "
            f"{total_num_rows!r}."
        )
    return total_num_rows


LAZY_UNSUPPORTED = (
    "lazy outputs are not supported yet; omit lazy= (outputs are memory-mapped Arrow, so "
    "they do not load into memory)"
)


def _check_not_lazy(lazy: bool, where: str) -> None:
    if lazy:
        raise StepInputError(f"{where}: {LAZY_UNSUPPORTED}.")


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """``datasets``' progress bars on or off for the duration (``auto_progress=``)."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    if was and not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was and not enabled:
            datasets.enable_progress_bars()


# DataDreamer's export options: how its writer batches and shards the rows it writes.
_EXPORT_OPTIONS = ("writer_batch_size", "save_num_proc", "save_num_shards")


def _export_options(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """``save_to_disk`` arguments for DataDreamer's export options; others are refused."""
    unknown = sorted(set(kwargs) - set(_EXPORT_OPTIONS))
    if unknown:
        raise StepInputError(
            f"{where}: unknown option(s) {unknown}. Options: train_size, validation_size, "
            f"test_size, stratify_by_column, seed, {', '.join(_EXPORT_OPTIONS)}."
        )
    out = {}
    if kwargs.get("save_num_proc"):
        out["num_proc"] = kwargs["save_num_proc"]
    if kwargs.get("save_num_shards"):
        out["num_shards"] = kwargs["save_num_shards"]
    return out


def _datasets_fingerprint(parent: Step, op: str, op_args: dict[str, Any]) -> str:
    """A fingerprint for ``datasets`` itself, so it never pickles the user's function."""
    from dreamer_lab.core.fingerprint import combine, hash_value

    return combine(parent.fingerprint, op, hash_value(op_args, label=f"the arguments of .{op}()"))[
        :16
    ]


def _check_columns(step: Step, columns: list[str], what: str) -> None:
    have = step.output.column_names
    missing = [c for c in columns if c not in have]
    if missing:
        raise StepInputError(
            f"{what} on step {step.name!r}: unknown column(s) {missing}. Its columns are {have}."
        )


def _as_list(x: str | list[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def split_indices(
    n: int,
    train_size: float | int | None,
    validation_size: float | int | None,
    test_size: float | int | None,
    stratify: list[Any] | None = None,
    seed: int = 0,
) -> dict[str, list[int]]:
    """Deterministic split of ``range(n)`` by fractions or counts (optionally stratified)."""
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    sizes = {k: v for k, v in sizes.items() if v is not None}
    if not sizes:
        raise StepInputError("Pass at least one of train_size, validation_size, test_size.")
    for k, v in sizes.items():
        if not isinstance(v, int | float) or v < 0:
            raise StepInputError(
                f"{k}_size must be a fraction in [0, 1] or a row count, got {v!r}."
            )
    fractions = all(isinstance(v, float) for v in sizes.values())
    if not fractions and any(isinstance(v, float) for v in sizes.values()):
        raise StepInputError(f"Split sizes {sizes} mix fractions and row counts; use one kind.")
    if fractions:
        total = sum(sizes.values())
        if total > 1.0 + 1e-9:
            raise StepInputError(
                f"Split fractions add up to {total:.3f}; they must add up to at most 1.0."
            )
    elif sum(int(v) for v in sizes.values()) > n:
        raise StepInputError(f"Split sizes {sizes} ask for more rows than the {n} available.")
    if fractions:
        counts = {k: int(round(v * n)) for k, v in sizes.items()}
        if abs(sum(sizes.values()) - 1.0) < 1e-9:  # fractions covering everything: no row lost
            last = list(counts)[-1]
            counts[last] = n - sum(c for k, c in counts.items() if k != last)
    else:
        counts = {k: int(v) for k, v in sizes.items()}
    rng = random.Random(seed)
    if stratify is None:
        order = list(range(n))
        rng.shuffle(order)
    else:
        # Spread each group evenly over the order, so every contiguous slice keeps
        # the groups' proportions.
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(stratify):
            groups.setdefault(json.dumps(v, sort_keys=True, default=str), []).append(i)
        keyed = []
        for g, idx in enumerate(groups.values()):
            rng.shuffle(idx)
            keyed.extend(((j + rng.random()) / len(idx), g, i) for j, i in enumerate(idx))
        order = [i for _, _, i in sorted(keyed)]
    out: dict[str, list[int]] = {}
    start = 0
    for k, c in counts.items():
        out[k] = order[start : start + c]
        start += c
    return {k: sorted(v) for k, v in out.items()}


class StepOperations:
    """Operations and exports available on every step."""

    # -- row selection ----------------------------------------------------------------
    def select(self: Step, indices: Any, name: str | None = None, **kwargs: Any) -> Step:
        idx = list(indices)
        n = len(self.output)
        bad = [i for i in idx if not isinstance(i, int) or not -n <= i < n]
        if bad:
            raise StepInputError(
                f"select on step {self.name!r}: indices {bad[:5]} are out of range for {n} rows."
            )
        return operation(
            "select", [self], lambda ds: ds.select(idx), {"indices": idx}, name, **kwargs
        )

    def select_columns(
        self: Step, column_names: str | list[str], name: str | None = None, **kwargs: Any
    ) -> Step:
        cols = _as_list(column_names)
        _check_columns(self, cols, "select_columns")
        return operation(
            "select_columns",
            [self],
            lambda ds: ds.select_columns(cols),
            {"columns": cols},
            name,
            **kwargs,
        )

    def take(self: Step, n: int, name: str | None = None, **kwargs: Any) -> Step:
        return operation(
            "take",
            [self],
            lambda ds: ds.select(range(min(n, ds.num_rows))),
            {"n": n},
            name,
            **kwargs,
        )

    def skip(self: Step, n: int, name: str | None = None, **kwargs: Any) -> Step:
        return operation(
            "skip",
            [self],
            lambda ds: ds.select(range(min(n, ds.num_rows), ds.num_rows)),
            {"n": n},
            name,
            **kwargs,
        )

    def shuffle(
        self: Step, seed: int | None = None, name: str | None = None, **kwargs: Any
    ) -> Step:
        """Shuffle rows. ``seed=None`` means seed 0, so the result is reproducible."""
        s = 0 if seed is None else seed
        return operation(
            "shuffle",
            [self],
            lambda ds: ds.shuffle(seed=s, keep_in_memory=True).flatten_indices(keep_in_memory=True),
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
        cols = _as_list(column_names)
        _check_columns(self, cols, "sort")
        return operation(
            "sort",
            [self],
            lambda ds: ds.sort(
                cols, reverse=reverse, null_placement=null_placement
            ).flatten_indices(keep_in_memory=True),
            {"columns": cols, "reverse": reverse, "null_placement": null_placement},
            name,
            **kwargs,
        )

    def reverse(self: Step, name: str | None = None, **kwargs: Any) -> Step:
        return operation(
            "reverse",
            [self],
            lambda ds: ds.select(range(ds.num_rows - 1, -1, -1)).flatten_indices(
                keep_in_memory=True
            ),
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
        if not 0 <= index < num_shards:
            raise StepInputError(f"shard: index must be in [0, {num_shards}), got {index}.")
        return operation(
            "shard",
            [self],
            lambda ds: ds.shard(num_shards, index, contiguous=contiguous).flatten_indices(
                keep_in_memory=True
            ),
            {"num_shards": num_shards, "index": index, "contiguous": contiguous},
            name,
            **kwargs,
        )

    def add_item(self: Step, item: dict[str, Any], name: str | None = None, **kwargs: Any) -> Step:
        cols = self.output.column_names
        if set(item) != set(cols):
            raise StepInputError(
                f"add_item on step {self.name!r}: the item has keys {sorted(item)}; the columns are {cols}."
            )
        return operation(
            "add_item", [self], lambda ds: ds.add_item(item), {"item": item}, name, **kwargs
        )

    # -- transforms -------------------------------------------------------------------
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
        _check_not_lazy(lazy, f"map on step {self.name!r}")
        total = check_total_num_rows(total_num_rows, f"map on step {self.name!r}")
        if input_columns is not None:
            _check_columns(self, _as_list(input_columns), "map")
        if remove_columns is not None:
            _check_columns(self, _as_list(remove_columns), "map")
        op_args = {
            "function": function,
            "with_indices": with_indices,
            "input_columns": input_columns,
            "batched": batched,
            "batch_size": batch_size,
            "remove_columns": remove_columns,
        }
        new_fp = _datasets_fingerprint(self, "map", op_args)

        def apply(ds: Any) -> Any:  # op_args are datasets.Dataset.map's own arguments
            with _progress_bars(auto_progress):
                return ds.map(
                    **op_args, keep_in_memory=True, new_fingerprint=new_fp, desc=f"map {self.name}"
                )

        return operation("map", [self], apply, op_args, name, total_num_rows=total, **kwargs)

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

        ``total_num_rows``: the number of rows kept (checked once it has run).
        ``auto_progress``: show ``datasets``' progress bar while filtering. ``lazy=True`` is
        not supported yet (an error).
        """
        _check_not_lazy(lazy, f"filter on step {self.name!r}")
        total = check_total_num_rows(total_num_rows, f"filter on step {self.name!r}")
        if input_columns is not None:
            _check_columns(self, _as_list(input_columns), "filter")
        op_args = {
            "function": function,
            "with_indices": with_indices,
            "input_columns": input_columns,
            "batched": batched,
            "batch_size": batch_size,
        }
        new_fp = _datasets_fingerprint(self, "filter", op_args)

        def apply(ds: Any) -> Any:  # op_args are datasets.Dataset.filter's own arguments
            with _progress_bars(auto_progress):
                kept = ds.filter(
                    **op_args,
                    keep_in_memory=True,
                    new_fingerprint=new_fp,
                    desc=f"filter {self.name}",
                )
            return kept.flatten_indices(keep_in_memory=True)

        return operation("filter", [self], apply, op_args, name, total_num_rows=total, **kwargs)

    def rename_column(
        self: Step,
        original_column_name: str,
        new_column_name: str,
        name: str | None = None,
        **kwargs: Any,
    ) -> Step:
        return self.rename_columns({original_column_name: new_column_name}, name=name, **kwargs)

    def rename_columns(
        self: Step, column_mapping: dict[str, str], name: str | None = None, **kwargs: Any
    ) -> Step:
        _check_columns(self, list(column_mapping), "rename_columns")
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
        cols = _as_list(column_names)
        _check_columns(self, cols, "remove_columns")
        return operation(
            "remove_columns",
            [self],
            lambda ds: ds.remove_columns(cols),
            {"columns": cols},
            name,
            **kwargs,
        )

    def save(self: Step, name: str | None = None, **kwargs: Any) -> Step:
        """A stored copy of this step's output under a new name."""
        return operation("save", [self], lambda ds: ds, {}, name, **kwargs)

    def copy(self: Step, name: str | None = None, **kwargs: Any) -> Step:
        return operation("copy", [self], lambda ds: ds, {}, name, **kwargs)

    def splits(
        self: Step,
        train_size: float | int | None = None,
        validation_size: float | int | None = None,
        test_size: float | int | None = None,
        stratify_by_column: str | None = None,
        name: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> dict[str, Step]:
        """Split into ``{"train": step, "validation": step, "test": step}`` (deterministic)."""
        strat = None
        if stratify_by_column is not None:
            _check_columns(self, [stratify_by_column], "splits")
            strat = self.output.dataset[stratify_by_column]
        parts = split_indices(len(self.output), train_size, validation_size, test_size, strat, seed)
        out = {}
        for split, idx in parts.items():
            out[split] = operation(
                "splits",
                [self],
                (lambda ds, idx=idx: ds.select(idx).flatten_indices(keep_in_memory=True)),
                {"split": split, "indices": idx},
                f"{name or self.name} / {split}",
                **kwargs,
            )
        return out

    # -- exports ------------------------------------------------------------------------
    def _export_parts(
        self: Step,
        train_size: Any,
        validation_size: Any,
        test_size: Any,
        stratify_by_column: str | None,
        seed: int = 0,
    ) -> dict[str, Any] | None:
        ds = self.output.dataset
        if train_size is None and validation_size is None and test_size is None:
            return None
        strat = None
        if stratify_by_column is not None:
            _check_columns(self, [stratify_by_column], "export")
            strat = ds[stratify_by_column]
        parts = split_indices(ds.num_rows, train_size, validation_size, test_size, strat, seed)
        return {k: ds.select(v) for k, v in parts.items()}

    def export_to_dict(
        self: Step,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The rows as ``{column: [values]}`` (``{split: {...}}`` when splitting).

        DataDreamer's ``writer_batch_size``/``save_num_proc``/``save_num_shards`` are
        accepted and change nothing: the rows are returned in memory, not written.
        """
        _export_options(kwargs, f"export_to_dict on step {self.name!r}")
        parts = self._export_parts(train_size, validation_size, test_size, stratify_by_column, seed)
        if parts is None:
            return self.output.dataset.to_dict()
        return {k: v.to_dict() for k, v in parts.items()}

    def export_to_list(
        self: Step,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> Any:
        """The rows as a list of dicts (``{split: [...]}`` when splitting).

        DataDreamer's ``writer_batch_size``/``save_num_proc``/``save_num_shards`` are
        accepted and change nothing: the rows are returned in memory, not written.
        """
        _export_options(kwargs, f"export_to_list on step {self.name!r}")
        parts = self._export_parts(train_size, validation_size, test_size, stratify_by_column, seed)
        if parts is None:
            return self.output.dataset.to_list()
        return {k: v.to_list() for k, v in parts.items()}

    def _export_files(
        self: Step,
        path: str | Path,
        suffix: str,
        writer: Callable[[Any, str], Any],
        train_size: Any,
        validation_size: Any,
        test_size: Any,
        stratify_by_column: str | None,
        seed: int,
    ) -> Path | dict[str, Path]:
        parts = self._export_parts(train_size, validation_size, test_size, stratify_by_column, seed)
        path = Path(path)
        if parts is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer(self.output.dataset, str(path))
            return path
        path.mkdir(parents=True, exist_ok=True)
        out = {}
        for k, ds in parts.items():
            out[k] = path / f"{k}{suffix}"
            writer(ds, str(out[k]))
        return out

    def export_to_json(
        self: Step,
        path: str | Path,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        seed: int = 0,
        **to_json_kwargs: Any,
    ) -> Path | dict[str, Path]:
        """JSON Lines file (a folder of ``train.jsonl`` ... when splitting)."""
        return self._export_files(
            path,
            ".jsonl",
            lambda ds, p: ds.to_json(p, **to_json_kwargs),
            train_size,
            validation_size,
            test_size,
            stratify_by_column,
            seed,
        )

    def export_to_csv(
        self: Step,
        path: str | Path,
        sep: str = ",",
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        seed: int = 0,
        **to_csv_kwargs: Any,
    ) -> Path | dict[str, Path]:
        return self._export_files(
            path,
            ".csv",
            lambda ds, p: ds.to_csv(p, sep=sep, index=False, **to_csv_kwargs),
            train_size,
            validation_size,
            test_size,
            stratify_by_column,
            seed,
        )

    def export_to_hf_dataset(
        self: Step,
        path: str | Path,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Save as a ``datasets`` folder; returns the Dataset (or DatasetDict when splitting).

        ``save_num_proc``/``save_num_shards`` go to ``save_to_disk`` (``num_proc``/
        ``num_shards``, per split when splitting); ``writer_batch_size`` changes nothing.
        """
        from datasets import DatasetDict

        options = _export_options(kwargs, f"export_to_hf_dataset on step {self.name!r}")
        parts = self._export_parts(train_size, validation_size, test_size, stratify_by_column, seed)
        out = self.output.dataset if parts is None else DatasetDict(parts)
        if parts is not None and "num_shards" in options:
            options["num_shards"] = {k: options["num_shards"] for k in parts}
        out.save_to_disk(str(path), **options)
        return out


def concat(*steps: Step, name: str | None = None, **kwargs: Any) -> Step:
    """Rows of several steps one after another (same columns)."""
    from datasets import concatenate_datasets

    if not steps:
        raise StepInputError("concat() needs at least one step.")
    cols = [sorted(s.output.column_names) for s in steps]
    if any(c != cols[0] for c in cols):
        raise StepInputError(
            f"concat(): steps have different columns {cols}; rename or select columns first."
        )
    return operation(
        "concat",
        list(steps),
        lambda *dss: concatenate_datasets(list(dss)),
        {},
        name or "concat(" + ", ".join(s.name for s in steps) + ")",
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
