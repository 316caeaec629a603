"""Splits (``train``/``validation``/``test`` steps) and exports (dicts, lists, files, datasets).

Splitting is deterministic: the same sizes, seed and (optional) stratification column give
the same rows, in steps and in every export.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.operation_base import check_columns, flat, operation

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step

# DataDreamer's export options: how its writer batches and shards the rows it writes.
EXPORT_OPTIONS = ("writer_batch_size", "save_num_proc", "save_num_shards")


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


def _export_options(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """``save_to_disk`` arguments for DataDreamer's export options; others are refused."""
    unknown = sorted(set(kwargs) - set(EXPORT_OPTIONS))
    if unknown:
        raise StepInputError(
            f"{where}: unknown option(s) {unknown}. Options: train_size, validation_size, "
            f"test_size, stratify_by_column, seed, {', '.join(EXPORT_OPTIONS)}."
        )
    out = {}
    if kwargs.get("save_num_proc"):
        out["num_proc"] = kwargs["save_num_proc"]
        ready_for_worker_processes()
    if kwargs.get("save_num_shards"):
        out["num_shards"] = kwargs["save_num_shards"]
    return out


def _split_counts(n: int, sizes: dict[str, float | int]) -> dict[str, int]:
    """Rows per split for ``sizes`` (all fractions or all counts), checked against ``n``."""
    for k, v in sizes.items():
        if not isinstance(v, int | float) or v < 0:
            raise StepInputError(
                f"{k}_size must be a fraction in [0, 1] or a row count, got {v!r}."
            )
    fractions = all(isinstance(v, float) for v in sizes.values())
    if not fractions and any(isinstance(v, float) for v in sizes.values()):
        raise StepInputError(f"Split sizes {sizes} mix fractions and row counts; use one kind.")
    if not fractions:
        if sum(int(v) for v in sizes.values()) > n:
            raise StepInputError(f"Split sizes {sizes} ask for more rows than the {n} available.")
        return {k: int(v) for k, v in sizes.items()}
    total = sum(sizes.values())
    if total > 1.0 + 1e-9:
        raise StepInputError(
            f"Split fractions add up to {total:.3f}; they must add up to at most 1.0."
        )
    counts = {k: int(round(v * n)) for k, v in sizes.items()}
    if abs(total - 1.0) < 1e-9:  # fractions covering everything: no row lost
        last = list(counts)[-1]
        counts[last] = n - sum(c for k, c in counts.items() if k != last)
    return counts


def _row_order(n: int, stratify: list[Any] | None, rng: random.Random) -> list[int]:
    """A shuffled order of ``range(n)``; stratified, every contiguous slice keeps the groups'
    proportions (each group is spread evenly over the order)."""
    if stratify is None:
        order = list(range(n))
        rng.shuffle(order)
        return order
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
    seed: int = 0,
) -> dict[str, list[int]]:
    """Deterministic split of ``range(n)`` by fractions or counts (optionally stratified)."""
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    given = {k: v for k, v in sizes.items() if v is not None}
    if not given:
        raise StepInputError("Pass at least one of train_size, validation_size, test_size.")
    counts = _split_counts(n, given)
    order = _row_order(n, stratify, random.Random(seed))
    out: dict[str, list[int]] = {}
    start = 0
    for k, c in counts.items():
        out[k] = sorted(order[start : start + c])
        start += c
    return out


class ExportOperations:
    """Splits into steps, and exports of a step's rows (optionally split)."""

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
            check_columns(self, [stratify_by_column], "splits")
            strat = self.output.dataset[stratify_by_column]
        parts = split_indices(len(self.output), train_size, validation_size, test_size, strat, seed)
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

    def _export_parts(
        self: Step,
        train_size: Any,
        validation_size: Any,
        test_size: Any,
        stratify_by_column: str | None,
        seed: int = 0,
    ) -> dict[str, Any] | None:
        """``{split: Dataset}``, or None when no split size is given."""
        ds = self.output.dataset
        if train_size is None and validation_size is None and test_size is None:
            return None
        strat = None
        if stratify_by_column is not None:
            check_columns(self, [stratify_by_column], "export")
            strat = ds[stratify_by_column]
        parts = split_indices(ds.num_rows, train_size, validation_size, test_size, strat, seed)
        return {k: ds.select(v) for k, v in parts.items()}

    def _export_in_memory(self: Step, to: str, split: tuple[Any, ...], options: Any) -> Any:
        """The rows converted by ``Dataset.to_<to>()`` (``{split: ...}`` when splitting)."""
        _export_options(options, f"export_to_{to} on step {self.name!r}")
        parts = self._export_parts(*split)
        if parts is None:
            return getattr(self.output.dataset, f"to_{to}")()
        return {k: getattr(v, f"to_{to}")() for k, v in parts.items()}

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
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_in_memory("dict", split, kwargs)

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
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_in_memory("list", split, kwargs)

    def _export_files(
        self: Step,
        path: str | Path,
        suffix: str,
        writer: Callable[[Any, str], Any],
        split: tuple[Any, ...],
    ) -> Path | dict[str, Path]:
        """``writer(dataset, path)`` for the rows, or per split into ``path/<split><suffix>``."""
        parts = self._export_parts(*split)
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
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_files(
            path, ".jsonl", lambda ds, p: ds.to_json(p, **to_json_kwargs), split
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
        """CSV file (a folder of ``train.csv`` ... when splitting)."""
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        return self._export_files(
            path, ".csv", lambda ds, p: ds.to_csv(p, sep=sep, index=False, **to_csv_kwargs), split
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
        split = (train_size, validation_size, test_size, stratify_by_column, seed)
        parts = self._export_parts(*split)
        out = self.output.dataset if parts is None else DatasetDict(parts)
        if parts is not None and "num_shards" in options:
            options["num_shards"] = {k: options["num_shards"] for k in parts}
        out.save_to_disk(str(path), **options)
        return out
