"""Splits (``train``/``validation``/``test`` steps) and exports (dicts, lists, files, datasets).

Splitting is deterministic: the same sizes, seed and (optional) stratification column give
the same rows, in steps and in every export.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.operation_base import check_columns, flat, operation

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


def ready_for_worker_processes() -> None:
    """Let ``save_to_disk(num_proc=...)`` start its workers from IPython.

    IPython replaces ``sys.modules["__main__"]`` with a module that has no ``__spec__``,
    and the ``multiprocess`` package datasets uses reads ``__main__.__spec__`` to prepare
    each worker: it fails with AttributeError. ``None`` is what a plain script has.
    """
    import sys

    main = sys.modules.get("__main__")
    if main is not None and not hasattr(main, "__spec__"):
        main.__spec__ = None


def _split_sizes(sizes: dict[str, Any]) -> dict[str, Decimal | int]:
    """The splits asked for (None and 0 left out; none at all: everything is ``train``),
    fractions as exact decimals so 0.7 + 0.2 + 0.1 adds up to 1.0."""
    kept: dict[str, Decimal | int] = {}
    for k, v in sizes.items():
        if v is None or v == 0:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise StepInputError(
                f"{k}_size must be a fraction in [0, 1] or a row count (an int), got {v!r}."
            )
        kept[k] = Decimal(str(v)) if isinstance(v, float) else v
    return kept or {"train": Decimal("1.0")}


def _split_counts(n: int, sizes: dict[str, Any]) -> dict[str, int]:
    """Rows per split, as DataDreamer counts them: the sizes add up to 1.0 or to ``n``;
    the last split is cut first (rounded up, as ``train_test_split``), the first one gets
    what is left."""
    kept = _split_sizes(sizes)
    total = sum(kept.values())
    if total != Decimal("1.0") and total != n:
        mixed = len({type(v) for v in kept.values()}) > 1
        raise StepInputError(
            "If not None, train_size, validation_size, test_size must sum up to 1.0 or the "
            f"number of rows ({n}) in the dataset (they must add up to 1.0 or {n}). Instead, "
            f"got a total of: {total}" + (" (they mix fractions and row counts)." if mixed else ".")
        )
    names, counts, left, share = list(kept), {}, n, Decimal("1.0")
    for name in reversed(names[1:]):
        size = kept[name]
        counts[name] = math.ceil(float(size / share) * left) if total == 1 else int(size)
        left -= counts[name]
        share -= size if total == 1 else 0
    counts[names[0]] = left
    if len(names) > 1 and any(c <= 0 for c in counts.values()):
        raise StepInputError(
            f"Split sizes {dict(sizes)} leave an empty split for {n} rows ({counts}); "
            "give every split at least one row."
        )
    return {k: counts[k] for k in names}


def _row_order(n: int, stratify: list[Any] | None, seed: int | None) -> list[int]:
    """The rows in split order: as they are (DataDreamer's), shuffled with ``seed``, or
    stratified (every contiguous slice keeps the groups' proportions; seed None means 0)."""
    if stratify is None:
        order = list(range(n))
        if seed is not None:
            random.Random(seed).shuffle(order)
        return order
    rng = random.Random(0 if seed is None else seed)
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(stratify):
        groups.setdefault(json.dumps(v, sort_keys=True, default=str), []).append(i)
    keyed: list[tuple[float, int, int]] = []
    for g, idx in enumerate(groups.values()):
        rng.shuffle(idx)
        keyed.extend(((j + rng.random()) / len(idx), g, i) for j, i in enumerate(idx))
    return [i for _, _, i in sorted(keyed)]


def split_indices(
    n: int,
    train_size: float | int | None,
    validation_size: float | int | None,
    test_size: float | int | None,
    stratify: list[Any] | None = None,
    seed: int | None = None,
) -> dict[str, list[int]]:
    """``{split: row indices}`` by DataDreamer's rules (see :func:`_split_counts`)."""
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    counts = _split_counts(n, sizes)
    order = _row_order(n, stratify, seed)
    out: dict[str, list[int]] = {}
    start = 0
    for k, c in counts.items():
        out[k] = sorted(order[start : start + c])
        start += c
    return out


def _split_paths(path: Path, splits: list[str]) -> dict[str, Path]:
    """DataDreamer's file names for split exports: ``out.train.json``, ``out.val.json`` ..."""
    return {
        k: path.with_name(f"{path.stem}.{'val' if k == 'validation' else k}{path.suffix}")
        for k in splits
    }


class ExportOperations:
    """Splits into steps, and exports of a step's rows (optionally split)."""

    def splits(
        self: Step,
        train_size: float | int | None = None,
        validation_size: float | int | None = None,
        test_size: float | int | None = None,
        stratify_by_column: str | None = None,
        name: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Step]:
        """Split into ``{"train": step, "validation": step, "test": step}``.

        Sizes are fractions adding up to 1.0 or row counts adding up to the number of rows
        (else ``ValueError``); None or 0 leaves a split out. Rows keep their order (train
        first, then validation, then test) unless ``seed`` is given (shuffled) or
        ``stratify_by_column`` (each split keeps the column's proportions). The exports
        split the same way.
        """
        ds = self._export_source(kwargs.get("writer_batch_size"))
        strat = None
        if stratify_by_column is not None:
            check_columns(self, [stratify_by_column], "splits")
            strat = ds[stratify_by_column]
        parts = split_indices(ds.num_rows, train_size, validation_size, test_size, strat, seed)
        return {
            split: operation(
                "splits",
                [self],
                (lambda ds, idx=idx: flat(ds.select(idx))),
                {"split": split, "indices": idx},
                f"{name or self.name} / {split}",
                **kwargs,
            )
            for split, idx in parts.items()
        }

    def _export_source(self: Step, writer_batch_size: int | None = None) -> Any:
        """The rows as a ``datasets.Dataset``; a lazy output is streamed into Arrow files
        in the workspace's ``tmp/`` once (per step object)."""
        import datasets

        ds = self.output.dataset
        if isinstance(ds, datasets.Dataset):
            return ds
        cached = getattr(self, "_exported_rows", None)
        if cached is None:
            from dreamer_lab.steps.lazy import materialize

            assert self.workspace is not None
            folder = self.workspace.path / "tmp" / f"export.{self.fingerprint}"
            folder.mkdir(parents=True, exist_ok=True)
            cached = materialize(ds, str(folder), writer_batch_size)
            self._exported_rows = cached
        return cached

    def _export_parts(
        self: Step,
        train_size: Any,
        validation_size: Any,
        test_size: Any,
        stratify_by_column: str | None,
        seed: int | None = None,
        writer_batch_size: int | None = None,
    ) -> dict[str, Any] | None:
        """``{split: Dataset}`` for two splits or more; None when the result is one split
        (DataDreamer's flat result). Bad sizes raise ``ValueError``."""
        ds = self._export_source(writer_batch_size)
        strat = None
        if stratify_by_column is not None:
            check_columns(self, [stratify_by_column], "export")
            strat = ds[stratify_by_column]
        parts = split_indices(ds.num_rows, train_size, validation_size, test_size, strat, seed)
        if len(parts) == 1:
            (idx,) = parts.values()
            return None if idx == list(range(ds.num_rows)) else {"train": ds.select(idx)}
        return {k: ds.select(v) for k, v in parts.items()}

    def _export_in_memory(self: Step, to: str, split: tuple[Any, ...]) -> Any:
        """The rows converted by ``Dataset.to_<to>()`` (``{split: ...}`` when splitting)."""
        parts = self._export_parts(*split)
        if parts is None or len(parts) == 1:
            ds = self._export_source() if parts is None else parts["train"]
            return self._unpickled_export(getattr(ds, f"to_{to}")(), to, ds.features, False)
        result = {k: getattr(v, f"to_{to}")() for k, v in parts.items()}
        return self._unpickled_export(result, to, self._export_source().features, True)

    def export_to_dict(
        self: Step,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The rows as ``{column: [values]}`` (``{split: {...}}`` with two splits or more).

        ``writer_batch_size`` batches the streaming of a lazy output; nothing is written, so
        ``save_num_proc``/``save_num_shards`` above 1 are refused.
        """
        _no_files(save_num_proc, save_num_shards)
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_in_memory("dict", (*split, writer_batch_size))

    def export_to_list(
        self: Step,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        seed: int | None = None,
    ) -> Any:
        """The rows as a list of dicts (``{split: [...]}`` with two splits or more).

        ``writer_batch_size`` batches the streaming of a lazy output; nothing is written, so
        ``save_num_proc``/``save_num_shards`` above 1 are refused.
        """
        _no_files(save_num_proc, save_num_shards)
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_in_memory("list", (*split, writer_batch_size))

    def _export_files(
        self: Step,
        path: str | Path,
        writer: Callable[[Any, str], Any],
        split: tuple[Any, ...],
    ) -> Path | dict[str, Path]:
        """``writer(dataset, path)`` for the rows; with two splits or more, one file per
        split next to ``path`` (``out.train.json``, ``out.val.json``, ``out.test.json``)."""
        parts = self._export_parts(*split)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if parts is None or len(parts) == 1:
            writer(self._export_source() if parts is None else parts["train"], str(path))
            return path
        out = _split_paths(path, list(parts))
        for k, ds in parts.items():
            writer(ds, str(out[k]))
        return out

    def export_to_json(
        self: Step,
        path: str | Path,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        seed: int | None = None,
        **to_json_kwargs: Any,
    ) -> Path | dict[str, Path]:
        """JSON Lines file (one file per split, ``out.train.json`` ..., when splitting).

        ``writer_batch_size``: rows per write; ``save_num_proc``: writer processes;
        ``save_num_shards`` is refused unless 1 (one file per split)."""
        _one_file(save_num_shards)
        self._check_no_pickled_values("export_to_json()")
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        opts = _writer_options(writer_batch_size, save_num_proc)
        return self._export_files(
            path,
            lambda ds, p: ds.to_json(p, **opts, **to_json_kwargs),
            (*split, writer_batch_size),
        )

    def export_to_csv(
        self: Step,
        path: str | Path,
        sep: str = ",",
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        seed: int | None = None,
        **to_csv_kwargs: Any,
    ) -> Path | dict[str, Path]:
        """CSV file (one file per split, ``out.train.csv`` ..., when splitting).

        ``writer_batch_size``: rows per write; ``save_num_proc``: writer processes;
        ``save_num_shards`` is refused unless 1 (one file per split)."""
        _one_file(save_num_shards)
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        opts = _writer_options(writer_batch_size, save_num_proc)
        to_csv_kwargs.setdefault("index", False)
        return self._export_files(
            path,
            lambda ds, p: ds.to_csv(p, sep=sep, **opts, **to_csv_kwargs),
            (*split, writer_batch_size),
        )

    def export_to_hf_dataset(
        self: Step,
        path: str | Path,
        train_size: Any = None,
        validation_size: Any = None,
        test_size: Any = None,
        stratify_by_column: str | None = None,
        writer_batch_size: int | None = 1000,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        seed: int | None = None,
    ) -> Any:
        """Save as a ``datasets`` folder; returns the Dataset read back from it (a
        DatasetDict with two splits or more).

        ``save_num_proc``/``save_num_shards`` go to ``save_to_disk`` (``num_proc``/
        ``num_shards``, per split when splitting); ``writer_batch_size`` rows per Arrow
        batch when the rows are rewritten."""
        import datasets

        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        parts = self._export_parts(*split, writer_batch_size)
        num_proc = save_num_proc or self.save_num_proc
        if num_proc and num_proc > 1:
            ready_for_worker_processes()
        else:
            num_proc = None
        if parts is None or len(parts) == 1:
            ds = self._export_source() if parts is None else parts["train"]
            ds = ds.flatten_indices(writer_batch_size=writer_batch_size) if ds._indices else ds
            ds.save_to_disk(str(path), num_shards=save_num_shards, num_proc=num_proc)
            return self._unpickled_dataset(datasets.load_from_disk(str(path)))
        shards = {k: save_num_shards for k in parts} if save_num_shards else None
        datasets.DatasetDict(parts).save_to_disk(str(path), num_shards=shards, num_proc=num_proc)
        return self._unpickled_dataset(datasets.load_from_disk(str(path)))


def _no_files(save_num_proc: int | None, save_num_shards: int | None) -> None:
    """In-memory exports write no files: more than one writer process or file is refused."""
    for name, value in (("save_num_proc", save_num_proc), ("save_num_shards", save_num_shards)):
        if value not in (None, 1):
            raise StepInputError(
                f"{name}={value}: export_to_dict()/export_to_list() return the rows in memory "
                f"and write no files; omit {name} (export_to_hf_dataset() writes shards)."
            )


def _one_file(save_num_shards: int | None) -> None:
    if save_num_shards not in (None, 1):
        raise StepInputError(
            f"save_num_shards={save_num_shards}: JSON and CSV exports write one file per "
            "split; omit save_num_shards, or use export_to_hf_dataset() for sharded output."
        )


def _writer_options(writer_batch_size: int | None, save_num_proc: int | None) -> dict[str, Any]:
    """``Dataset.to_json``/``to_csv`` options: rows per write and writer processes."""
    opts: dict[str, Any] = {"batch_size": writer_batch_size}
    if save_num_proc and save_num_proc > 1:
        ready_for_worker_processes()
        opts["num_proc"] = save_num_proc
    return opts
