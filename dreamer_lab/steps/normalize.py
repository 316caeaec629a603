"""Turn what a step's ``run()`` returns into an Arrow-backed ``datasets.Dataset``.

Accepted shapes: a dict of equal-length lists, a list (or generator) of rows (dicts,
tuples, or bare values for one-column steps), a ``datasets.Dataset``, a pyarrow Table or
a pandas DataFrame. Anything else, ragged columns and values Arrow cannot store get an
error that names the column and the fix.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from typing import Any

from dreamer_lab.errors import StepInputError, StepOutputError, StepOutputTypeError

_SHAPES = "a dict of equal-length lists, a list or generator of rows, or a datasets.Dataset"


def columns_to_table(columns: dict[str, list[Any]], where: str) -> Any:
    """Build a pyarrow Table from equal-length Python columns, with clear errors."""
    import pyarrow as pa

    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k!r} has {v}" for k, v in lengths.items())
        raise StepInputError(
            f"{where}: columns have different lengths ({detail}). Every column must have one "
            "value per row."
        )
    arrays = {}
    for name, values in columns.items():
        if not isinstance(name, str):
            raise StepInputError(f"{where}: column names must be strings, got {name!r}.")
        try:
            arrays[name] = pa.array(values)
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            pa.ArrowNotImplementedError,
            OverflowError,
        ) as e:
            bad = _first_unstorable(values)
            what = (
                f"a value of type {type(bad).__module__}.{type(bad).__qualname__}"
                if bad is not None
                else "mixed value types"
            )
            raise StepInputError(
                f"{where}: column {name!r} holds {what} that cannot be stored as Arrow data "
                f"({e}). Convert such values to str, int, float, bool, lists or dicts of those, "
                "and use one type per column."
            ) from None
    return pa.table(arrays) if arrays else pa.table({})


def _first_unstorable(values: Iterable[Any]) -> Any:
    seen: type | None = None
    for v in values:
        if v is None:
            continue
        if not isinstance(v, str | int | float | bool | list | dict | bytes | tuple):
            return v
        if seen is not None and not isinstance(v, seen):
            return v
        seen = type(v)
    return None


def to_dataset(
    result: Any,
    outputs: list[str] | None,
    where: str,
    progress: Any = None,
) -> Any:
    """Normalize ``result`` to a ``datasets.Dataset`` whose columns are ``outputs``."""
    import datasets
    import pyarrow as pa

    if result is None:
        raise StepOutputTypeError(f"{where}: run() returned None. Return {_SHAPES}.")
    if isinstance(result, datasets.Dataset):
        ds = result
    elif isinstance(result, datasets.IterableDataset):
        ds = datasets.Dataset.from_list(list(result))
    elif isinstance(result, pa.Table):
        ds = _dataset(result)
    elif type(result).__module__.startswith("pandas") and hasattr(result, "to_dict"):
        ds = _dataset(_small_types(pa.Table.from_pandas(result, preserve_index=False)))
    elif isinstance(result, dict):
        if outputs is not None:
            _check_names(list(result), outputs, where)
        for k, v in result.items():
            if isinstance(v, str | bytes) or not hasattr(v, "__len__"):
                raise StepOutputTypeError(
                    f"{where}: column {k!r} is a {type(v).__name__}, not a list. Return {_SHAPES}."
                )
        ds = _dataset(columns_to_table({k: list(v) for k, v in result.items()}, where))
    elif isinstance(result, list | tuple | types.GeneratorType | Iterator) or (
        isinstance(result, Iterable) and not isinstance(result, str | bytes)
    ):
        ds = _dataset(columns_to_table(_rows_to_columns(result, outputs, where, progress), where))
    else:
        raise StepOutputTypeError(
            f"{where}: run() returned a {type(result).__name__}. Return {_SHAPES}."
        )
    if outputs is not None:
        _check_names(ds.column_names, outputs, where)
        if ds.column_names != outputs:
            ds = ds.select_columns(outputs)
    return ds


def _dataset(table: Any) -> Any:
    """``datasets.Dataset`` over ``table``, fingerprinted by our Arrow content hash.

    Without ``fingerprint=``, datasets derives its own by pickling the table, which costs
    ~30x more (1M rows: ~130 ms vs ~5 ms) for the same guarantee: equal data, equal id.
    """
    import datasets

    from dreamer_lab.core.fingerprint import hash_value

    return datasets.Dataset(table, fingerprint=hash_value(table))


def _small_types(table: Any) -> Any:
    """pandas strings arrive as ``large_string``; use ``string`` so equal data hashes equal."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t, f.nullable))
    target = pa.schema(fields)
    return table if target.equals(table.schema.remove_metadata()) else table.cast(target)


def _check_names(got: list[str], outputs: list[str], where: str) -> None:
    missing = [c for c in outputs if c not in got]
    extra = [c for c in got if c not in outputs]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise StepOutputError(
            f"{where}: run() returned columns {got} but the step registers outputs {outputs} "
            f"({'; '.join(parts)}). Register every output with register_output(), or rename."
        )


def _rows_to_columns(
    rows: Iterable[Any], outputs: list[str] | None, where: str, progress: Any
) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {c: [] for c in outputs} if outputs else {}
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            if not columns and outputs is None:
                columns = {k: [] for k in row}
            if set(row) != set(columns):
                raise StepOutputError(
                    f"{where}: row {i} has keys {sorted(row)} but the columns are "
                    f"{sorted(columns)}. Every row needs the same keys."
                )
            for k, v in row.items():
                columns[k].append(v)
        elif isinstance(row, tuple) and outputs and len(outputs) > 1:
            if len(row) != len(outputs):
                raise StepOutputError(
                    f"{where}: row {i} has {len(row)} values but the step has "
                    f"{len(outputs)} outputs {outputs}."
                )
            for k, v in zip(outputs, row, strict=True):
                columns[k].append(v)
        elif outputs and len(outputs) == 1:
            columns[outputs[0]].append(row)
        else:
            raise StepOutputTypeError(
                f"{where}: row {i} is a {type(row).__name__}; rows must be dicts keyed by "
                "column name (or tuples in output order)."
            )
        if progress is not None:
            progress(i + 1)
    return columns
