"""Lazy outputs: ``LazyRows`` / ``LazyRowBatches`` from ``run()``, streamed, never materialized.

A step whose ``run()`` returns ``LazyRows(generator_function, ...)`` (or a lazy operation,
``map(..., lazy=True)``) gets an :class:`~dreamer_lab.datasets.OutputIterableDataset`: a
``datasets.IterableDataset`` that runs the producing code again on every iteration. Its
fingerprint is derived like any step's (inputs + operation), so the same chain gives the
same rows. Nothing is written to the workspace unless asked: ``LazyRows(..., save=True)`` or
``.save()`` stream the rows into a normal stored entry (Arrow files written batch by batch).

DataDreamer's shapes are kept: a generator *function* (called again per iteration), a dict
or tuple of columns where at least one is a generator function or a lazy column, an
``IterableDataset``; iterators and plain lists under ``LazyRows`` are read eagerly, as there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dreamer_lab.datasets.outputs import (
    OutputDataset,
    OutputDatasetColumn,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
    iterable_column_names,
)
from dreamer_lab.errors import StepOutputError, StepOutputTypeError


class LazyRows:
    """A lazy ``run()`` result: rows produced on demand, one at a time.

    Args:
        value: a generator function of rows (dicts, tuples in output order, or bare values
            for a one-output step), a dict/tuple of columns of which one at least is a
            generator function or a lazy column, or a ``datasets.IterableDataset``.
        total_num_rows: the number of rows (progress and ``output.num_rows``).
        auto_progress: move the step's progress as the rows are read (``total_num_rows``
            known; else log the rows read) and warn when ``total_num_rows`` is missing;
            False does neither (the step may set ``self.progress`` itself).
        save: write the rows to the workspace as a normal stored output.
        save_writer_batch_size: rows per Arrow record batch when saving.
        save_num_proc: processes that write the stored output.
        save_num_shards: Arrow files the stored output is written as.
    """

    _batched = False

    def __init__(
        self,
        value: Any,
        total_num_rows: int | None = None,
        auto_progress: bool = True,
        save: bool = False,
        save_writer_batch_size: int | None = None,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
    ) -> None:
        self.__value = value
        if total_num_rows is not None:
            self.total_num_rows: int | None = max(0, int(total_num_rows))
        elif isinstance(value, OutputIterableDataset):
            self.total_num_rows = value.num_rows
        else:
            self.total_num_rows = None
        if self.total_num_rows is None and auto_progress:
            kind = type(self).__name__
            warnings.warn(
                "You did not specify `total_num_rows`, so we cannot automatically update the "
                f"progress % for this step. Either specify {kind}(..., total_num_rows=#) or, "
                f"to disable this warning, specify {kind}(..., auto_progress=False)",
                stacklevel=2,
            )
        self.auto_progress = auto_progress
        self.save = save
        self.save_writer_batch_size = save_writer_batch_size
        self.save_num_proc = save_num_proc
        self.save_num_shards = save_num_shards

    @property
    def value(self) -> Any:
        return self.__value


class LazyRowBatches(LazyRows):
    """Like :class:`LazyRows`, but the generator yields batches: a dict of column lists,
    a tuple of columns, or a list of rows."""

    _batched = True


def unwarned(lazy: LazyRows, auto_progress: bool = True) -> LazyRows:
    """``lazy`` (made with ``auto_progress=False``: no warning) reporting progress or not."""
    lazy.auto_progress = auto_progress
    return lazy


class LazyOutput(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raised by ``Step._compute`` to hand a lazy result back instead of storing it."""

    def __init__(self, dataset: Any, total_num_rows: int | None, auto_progress: bool = True):
        super().__init__("lazy output")
        self.dataset = dataset
        self.total_num_rows = total_num_rows
        self.auto_progress = auto_progress


def is_lazy_type(v: Any) -> bool:
    return callable(v) or isinstance(v, OutputIterableDatasetColumn)


def _is_iterable(v: Any) -> bool:
    return isinstance(v, Iterable) and not isinstance(v, str | bytes | Mapping)


def normalize_value(v: Any) -> Any:
    """Iterables that are not sequences (generators, sets, columns) become lists."""
    return list(v) if _is_iterable(v) and not isinstance(v, Sequence) else v


def untuple(v: Any, names: tuple[str, ...]) -> Any:
    """A one-value tuple row of a one-output step is the value itself."""
    return v[0] if isinstance(v, tuple) and len(v) == 1 and len(names) == 1 else v


def _iterate(v: Any) -> Iterator[Any]:
    return v() if callable(v) else iter(v)


def _unbatch_column(batches: Iterator[Any]) -> Iterator[Any]:
    for batch in batches:
        yield from batch


def _unbatch_rows(batches: Iterator[Any], names: tuple[str, ...]) -> Iterator[Any]:
    """Rows out of batches: a dict of columns, a tuple of columns, or a list of rows."""
    as_columns = False
    for batch in batches:
        if isinstance(batch, dict):
            keys = list(batch)
            for values in zip(*(batch[k] for k in keys), strict=False):
                yield {k: normalize_value(v) for k, v in zip(keys, values, strict=True)}
        elif isinstance(batch, tuple):
            if len(batch) != len(names):
                raise StepOutputError(f"Expected {len(names)} outputs {names}.")
            for row in zip(*batch, strict=False):
                yield dict(zip(names, row, strict=True))
        elif (
            isinstance(batch, list)
            and len(batch) == len(names)
            and all(_is_iterable(c) for c in batch)
            and (
                as_columns or not isinstance(batch[0], list | tuple) or len(batch[0]) != len(names)
            )
        ):
            as_columns = True
            yield from zip(*batch, strict=False)
        else:
            for row in batch:
                if isinstance(row, dict) and set(row) != set(names):
                    raise StepOutputError(f"Expected {names} as dict keys instead of {tuple(row)}.")
                yield row


def _columns_generator(
    columns: Sequence[Any], names: tuple[str, ...], batched: bool
) -> Callable[[], Iterator[dict[str, Any]]]:
    """Rows zipped from per-column iterables or generator functions."""

    def rows() -> Iterator[dict[str, Any]]:
        iters = [_iterate(c) for c in columns]
        if batched:
            iters = [_unbatch_column(i) for i in iters]
        for row in zip(*iters, strict=False):
            yield {k: normalize_value(v) for k, v in zip(names, row, strict=True)}

    return rows


def _rows_generator(
    fn: Callable[[], Iterator[Any]], names: tuple[str, ...], batched: bool, where: str
) -> Callable[[], Iterator[dict[str, Any]]]:
    """Row dicts from a generator function of rows (or of batches), shape-checked."""

    def raw() -> Iterator[Any]:
        it = _iterate(fn)
        return _unbatch_rows(it, names) if batched else it

    def rows() -> Iterator[dict[str, Any]]:
        for row in raw():
            row = normalize_value(row)
            if isinstance(row, dict):
                if set(row) != set(names):
                    raise StepOutputError(
                        f"{where}: expected {names} dict keys from the generator function "
                        f"instead of {tuple(row)}."
                    )
                yield row
            elif isinstance(row, list | tuple) and len(names) > 1:
                if len(row) != len(names):
                    raise StepOutputError(
                        f"{where}: expected {len(names)} outputs {names} from the generator "
                        f"function, got a row of {len(row)} values."
                    )
                yield {k: normalize_value(v) for k, v in zip(names, row, strict=True)}
            elif len(names) == 1:
                yield {names[0]: normalize_value(untuple(row, names))}
            else:
                raise StepOutputError(
                    f"{where}: expected {len(names)} outputs {names} from the generator "
                    f"function, got a {type(row).__name__}."
                )

    return rows


def _nested_casts(features: Any) -> dict[str, Callable[[Any], Any]]:
    """Per column with list/dict values: a function that casts a value to the column's
    feature (inferred from the first row), as Arrow will store it, or raises
    ``StepOutputTypeError`` (DataDreamer's: ``[5]`` after ``["a"]`` becomes ``["5"]``, but
    ``["a"]`` after ``[5]`` or a dict of another shape cannot be stored)."""
    import pyarrow as pa
    from datasets.features.features import encode_nested_example

    casts: dict[str, Callable[[Any], Any]] = {}
    for name, feature in (features or {}).items():
        arrow_type = datasets_arrow_type(name, feature)
        if arrow_type is None or "null" in str(arrow_type):
            continue  # a scalar column, or one whose first value told nothing

        def cast(v: Any, feature: Any = feature, arrow_type: Any = arrow_type) -> Any:
            try:
                encoded = encode_nested_example(feature, v)
                pa.array([encoded], type=arrow_type)
            except (TypeError, ValueError, KeyError, pa.ArrowException) as e:
                raise StepOutputTypeError(f"Expected a value of type {arrow_type}: {e}") from None
            return encoded

        casts[name] = cast
    return casts


def datasets_arrow_type(name: str, feature: Any) -> Any:
    """The Arrow type of a nested (list/struct) feature, or None for a scalar one."""
    import datasets
    import pyarrow as pa

    arrow_type = datasets.Features({name: feature}).arrow_schema.field(name).type
    nested = pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
    return arrow_type if nested or pa.types.is_struct(arrow_type) else None


def _type_checked(
    rows: Callable[[], Iterator[dict[str, Any]]], features: Any
) -> Callable[[], Iterator[Any]]:
    """Rows whose columns keep one Python type, with nested values cast to the first row's
    features (else ``StepOutputTypeError``, as DataDreamer)."""
    casts = _nested_casts(features)

    def checked() -> Iterator[dict[str, Any]]:
        seen: dict[str, type] = {}
        for row in rows():
            for k, v in row.items():
                if v is None:
                    continue
                prev = seen.setdefault(k, type(v))
                try:
                    if prev is not type(v):
                        raise StepOutputTypeError(f"Expected {prev} got {type(v)}")
                    if k in casts:
                        row[k] = casts[k](v)
                except StepOutputTypeError as e:
                    raise StepOutputTypeError(
                        f"{e} in column {k!r}: a lazy column holds one type of value; convert "
                        "the values (e.g. all to str) before yielding them."
                    ) from None
            yield row

    return checked


def _features(rows: Callable[[], Iterator[dict[str, Any]]], names: tuple[str, ...]) -> Any:
    """Features inferred from the first row (the generator runs for one row only)."""
    import datasets
    import pyarrow as pa

    first = next(iter(rows()), None)
    if first is None:
        return datasets.Features({n: datasets.Value("null") for n in names})
    try:
        return datasets.Dataset.from_list([first]).features
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise StepOutputTypeError(str(e)) from None


def unwrap_lazy(value: LazyRows) -> tuple[Any, bool]:
    """The value inside ``LazyRows`` with DataDreamer's eager conversions applied, and
    whether it is batched."""
    import datasets

    v = value.value
    batched = value._batched and not isinstance(
        v, datasets.Dataset | datasets.IterableDataset | OutputDataset | OutputIterableDataset
    )
    if isinstance(v, datasets.DatasetDict | datasets.IterableDatasetDict):
        raise StepOutputError("You supplied a DatasetDict, supply a Dataset instead.")
    if v is None:
        v = []
    elif isinstance(v, Iterator | OutputDatasetColumn):
        v = list(v)
    elif type(v) in (OutputDataset, OutputIterableDataset):
        v = v.dataset
    elif isinstance(v, OutputIterableDatasetColumn):
        v = (v,)  # one lazy column: the step's single output
    return v, batched


def lazy_iterable(value: LazyRows, names: tuple[str, ...], where: str) -> Any:
    """A ``datasets.IterableDataset`` for a lazy value, or None when the value is not lazy
    (a list, a Dataset ...: the caller normalizes it eagerly, as DataDreamer does)."""
    import datasets

    v, batched = unwrap_lazy(value)
    if isinstance(v, list) and len(v) == len(names) and any(is_lazy_type(c) for c in v):
        v = tuple(v)  # a list of columns, one a generator function (as a tuple is)
    if _is_dataset_list(v):
        return _zipped_datasets(v, names, where)
    if isinstance(v, datasets.IterableDataset):
        got = iterable_column_names(v)
        if set(got) != set(names):
            raise StepOutputError(
                f"{where}: expected {len(names)} columns {names} instead of {tuple(got)}."
            )
        return v
    if isinstance(v, dict) and any(is_lazy_type(c) for c in v.values()):
        if set(v) != set(names):
            raise StepOutputError(f"Expected {names} as dict keys instead of {tuple(v)}.")
        rows = _columns_generator([v[k] for k in names], names, batched)
    elif isinstance(v, tuple) and any(is_lazy_type(c) for c in v):
        if len(v) != len(names):
            raise StepOutputError(f"Expected {len(names)} outputs {names}.")
        rows = _columns_generator(list(v), names, batched)
    elif callable(v):
        rows = _rows_generator(v, names, batched, where)
    else:
        return None
    features = _features(rows, names)
    return datasets.IterableDataset.from_generator(_type_checked(rows, features), features=features)


def _is_dataset_list(v: Any) -> bool:
    """A list/tuple of datasets, one at least an ``IterableDataset`` (columns side by side)."""
    import datasets

    kinds = (datasets.Dataset, datasets.IterableDataset, OutputDataset, OutputIterableDataset)
    return (
        isinstance(v, list | tuple)
        and bool(v)
        and all(isinstance(d, kinds) and not _is_column_view(d) for d in v)
        and any(isinstance(d, datasets.IterableDataset | OutputIterableDataset) for d in v)
    )


def _is_column_view(d: Any) -> bool:
    return isinstance(d, OutputDatasetColumn | OutputIterableDatasetColumn)


def _zipped_datasets(v: Sequence[Any], names: tuple[str, ...], where: str) -> Any:
    """An ``IterableDataset`` whose rows join the rows of ``v`` (a Dataset and an
    IterableDataset, say), each dataset giving its own columns."""
    import datasets

    dss = [d.dataset if isinstance(d, OutputDataset | OutputIterableDataset) else d for d in v]
    got = [c for d in dss for c in iterable_column_names(d)]
    if sorted(got) != sorted(names):
        raise StepOutputError(
            f"{where}: expected {len(names)} columns {names} from the datasets, got {tuple(got)}."
        )

    def rows() -> Iterator[dict[str, Any]]:
        for parts in zip(*dss, strict=False):
            row: dict[str, Any] = {}
            for part in parts:
                row.update(part)
            yield {k: row[k] for k in names}

    features = _features(rows, names)
    return datasets.IterableDataset.from_generator(_type_checked(rows, features), features=features)


LAZY_CHUNK = 64  # rows per model call when a model step streams its output


def as_columns(rows: Any) -> dict[str, list[Any]]:
    """A batch as a dict of column lists (from a pyarrow table, a Dataset or a dict)."""
    if hasattr(rows, "to_pydict"):
        return rows.to_pydict()
    if hasattr(rows, "to_dict") and not isinstance(rows, dict):
        return rows.to_dict()
    return rows


def lazy_chunks(
    items: Callable[[], Iterable[Any]],
    compute: Callable[[list[Any]], Any],
    total_num_rows: int | None,
    chunk_size: int = LAZY_CHUNK,
) -> LazyRowBatches:
    """A lazy output that runs ``compute`` on chunks of ``items()`` as rows are read
    (a model step's ``lazy=True``): each pass calls ``items()`` again, so the model is
    asked again and answered by its request cache."""

    def batches() -> Iterator[dict[str, list[Any]]]:
        chunk: list[Any] = []
        for item in items():
            chunk.append(item)
            if len(chunk) == chunk_size:
                yield as_columns(compute(chunk))
                chunk = []
        if chunk:
            yield as_columns(compute(chunk))

    return unwarned(LazyRowBatches(batches, total_num_rows=total_num_rows, auto_progress=False))


def materialize(ids: Any, folder: str, writer_batch_size: int | None = None) -> Any:
    """Stream ``ids`` into an Arrow file under ``folder``; a memory-mapped ``Dataset``.

    Rows are written batch by batch (``writer_batch_size``), so memory stays flat.
    """
    import os

    import datasets
    from datasets.arrow_writer import ArrowWriter

    path = os.path.join(folder, f"materialized.{id(ids)}.arrow")
    features = ids.features
    if features is not None and any(
        isinstance(f, datasets.Value) and f.dtype == "null" for f in features.values()
    ):
        features = None  # declared from an empty first peek: let the rows decide
    writer = ArrowWriter(path=path, features=features, writer_batch_size=writer_batch_size)
    count = 0
    try:
        for row in ids:
            writer.write(row)
            count += 1
        if count == 0:
            names = iterable_column_names(ids) if ids.features is None else list(ids.features)
            return datasets.Dataset.from_dict({n: [] for n in names}, features=ids.features)
        writer.finalize()
    finally:
        writer.close()
    return datasets.Dataset.from_file(path)


def saved_or_lazy(step: Any, produced: Any) -> Any:
    """What ``step._compute`` stores: a Dataset as is; a lazy result that asks to be saved,
    streamed into Arrow files in the step's scratch folder. Any other lazy result is handed
    back by raising :class:`LazyOutput` (nothing is committed)."""
    if not isinstance(produced, tuple):
        return produced
    ids, lazy = produced
    if not lazy.save:
        if step._rename:
            ids = ids.rename_columns(step._rename)
        raise LazyOutput(ids, lazy.total_num_rows, lazy.auto_progress)
    step._lazy_save = {"num_proc": lazy.save_num_proc, "num_shards": lazy.save_num_shards}
    folder = str(step.get_run_output_folder_path())
    return materialize(ids, folder, lazy.save_writer_batch_size)


def serve_lazy(step: Any, lazy: LazyOutput) -> None:
    """Give ``step`` its lazy output (an ``OutputIterableDataset``); nothing is stored."""
    total = lazy.total_num_rows
    ids = _with_progress(step, lazy.dataset, total) if lazy.auto_progress else lazy.dataset
    step._output = OutputIterableDataset(step, ids, total_num_rows=total)
    step.cache_hit = False
    step._progress = 0.0
    assert step.workspace is not None
    step.workspace.progress_file(step.fingerprint).unlink(missing_ok=True)


def _with_progress(step: Any, ids: Any, total: int | None) -> Any:
    """``ids`` re-served so that reading row ``i`` moves ``step.progress`` to ``(i+1)/total``
    (DataDreamer's auto progress; it never goes back, so a second pass does not reset it).
    Without ``total`` the rows read so far are logged instead (``progress: 3 row(s)``)."""
    import datasets

    def rows() -> Iterator[Any]:
        for i, row in enumerate(ids):
            if total:
                step._advance_progress((i + 1) / total, persist=False)
            else:
                step._log_progress(f"{i + 1} row(s)")
            yield row

    return datasets.IterableDataset.from_generator(rows, features=ids.features)
