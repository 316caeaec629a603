"""Data sources: steps whose rows come from memory, files or a dataset rather than a model.

In-memory data is converted to Arrow once and fingerprinted from its buffers; files
are fingerprinted by content; hub datasets by path, config, split and revision.
"""

from __future__ import annotations

import glob
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import hash_file, hash_value
from dreamer_lab.errors import SourceNotFoundError, StepInputError
from dreamer_lab.steps.normalize import to_dataset
from dreamer_lab.steps.operations import check_total_num_rows
from dreamer_lab.steps.step import DataCardType, Step

_COMMON = (
    "progress_interval",
    "force",
    "verbose",
    "log_level",
    "save_num_proc",
    "save_num_shards",
    "background",
)


class DataSource(Step):
    """Rows from memory: a dict of lists, a list of dicts, a ``datasets.Dataset`` or a
    pandas DataFrame (stored), or a generator function of rows or a
    ``datasets.IterableDataset`` (streamed, as DataDreamer does: the output is an
    ``OutputIterableDataset`` read on demand, nothing is stored; ``.save()`` stores it).

    ``total_num_rows``: the number of rows; checked against in-memory data (a mismatch is
    an error); a streamed source's ``num_rows`` and progress total. ``auto_progress``:
    warn when a streamed source has no ``total_num_rows`` (False silences it).
    """

    _is_source = True

    def __init__(
        self,
        name: str,
        data: Any,
        total_num_rows: int | None = None,
        auto_progress: bool = True,
        **kwargs: Any,
    ):
        _check_kwargs(type(self).__name__, kwargs)
        self._expected_rows = check_total_num_rows(total_num_rows, f"DataSource {name!r}")
        self._auto_progress = auto_progress
        self._data_digest: str
        if _streams(data):
            # A generator function (by its code) or an IterableDataset: streamed.
            self._stream: Any = data
            self._dataset = None
            self._data_digest = _stream_digest(data, name)
            if total_num_rows is None and auto_progress:
                warnings.warn(
                    "You did not specify `total_num_rows`, so we cannot automatically update "
                    "the progress % for this step. Either specify DataSource(..., "
                    "total_num_rows=#) or, to disable this warning, specify DataSource(.., "
                    "auto_progress = False)",
                    stacklevel=2,
                )
        else:
            self._stream = None
            self._dataset = to_dataset(_as_result(data, name), None, f"DataSource {name!r}")
            if self._dataset.num_rows == 0:
                raise StepInputError(
                    f"DataSource {name!r}: the data is empty (0 rows). Pass at least one row."
                )
            if total_num_rows is not None and self._dataset.num_rows != total_num_rows:
                raise StepInputError(
                    f"DataSource {name!r}: total_num_rows={total_num_rows}, but the data has "
                    f"{self._dataset.num_rows} rows. Pass the actual count, or omit it."
                )
            self._data_digest = hash_value(
                self._dataset.data.table, label=f"the data of DataSource {name!r}"
            )
        super().__init__(name, **kwargs)

    def _fingerprint_extra(self) -> dict[str, str]:
        return {"data": self._data_digest}

    def run(self) -> Any:
        if self._stream is not None:
            from dreamer_lab.steps.lazy import LazyRows, unwarned

            self._stream_names = _first_row_names(self._stream, self._where())
            lazy = LazyRows(self._stream, total_num_rows=self._expected_rows, auto_progress=False)
            return unwarned(lazy, self._auto_progress)  # DataSource warned in its own words
        return self._dataset

    def _output_names(self) -> list[str] | None:
        """A streamed source's columns are those of its first row."""
        return getattr(self, "_stream_names", None) or super()._output_names()


def _stream_digest(data: Any, name: str) -> str:
    """A generator function by its code; an IterableDataset by what it reads and how
    (``datasets``' own hasher over its pickled state: the tables of a converted Dataset,
    the files or generator it streams from)."""
    if callable(data):
        return hash_value(data, label=f"the data function of DataSource {name!r}")
    from datasets.fingerprint import Hasher

    try:
        return "iterable:" + Hasher.hash(data)
    except Exception as e:  # noqa: BLE001 - state datasets cannot pickle: say what to do
        raise StepInputError(
            f"DataSource {name!r}: cannot fingerprint this IterableDataset ({type(e).__name__}: "
            f"{e}). Pass a generator function of rows instead (DataSource({name!r}, "
            "lambda: iter(rows))), which is fingerprinted by its code."
        ) from e


def _first_row_names(data: Any, where: str) -> list[str]:
    """The columns of a streamed source: an IterableDataset's features, else the keys of
    the first row (the generator runs up to it)."""
    names = getattr(data, "column_names", None)
    if names:
        return list(names)
    first = next(iter(data() if callable(data) else data), None)
    if first is None:
        raise StepInputError(f"{where}: the data is empty (the generator yields no rows).")
    if not isinstance(first, Mapping):
        raise StepInputError(
            f"{where}: a generator of rows must yield dicts ({{'column': value}}), got a "
            f"{type(first).__name__}: {first!r}."
        )
    return list(first)


def _streams(data: Any) -> bool:
    """A generator function (not a Dataset, which is callable too) or an IterableDataset."""
    if callable(data) and not hasattr(data, "column_names"):
        return True
    datasets = sys.modules.get("datasets")  # an IterableDataset means datasets is loaded
    return datasets is not None and isinstance(data, datasets.IterableDataset)


def _as_result(data: Any, name: str) -> Any:
    if isinstance(data, str | bytes | int | float):
        raise StepInputError(
            f"DataSource {name!r}: data is a {type(data).__name__}; pass a dict of lists "
            "({'text': [...]}), a list of dicts, a datasets.Dataset or a DataFrame. "
            "For files use JSONDataSource / CSVDataSource / TextDataSource."
        )
    return data


def _check_kwargs(cls: str, kwargs: dict[str, Any]) -> None:
    unknown = [k for k in kwargs if k not in _COMMON]
    if unknown:
        raise StepInputError(f"{cls}: unknown option(s) {unknown}. Valid options: {list(_COMMON)}.")


def _resolve_files(
    cls: str, name: str, data_folder: str | None, data_files: Any, patterns: tuple[str, ...]
) -> list[str]:
    if isinstance(data_files, dict):
        raise StepInputError(
            f"{cls} {name!r}: data_files is a dict of splits; load one split per data source "
            "and use .splits() to split."
        )
    files: list[str] = []
    if data_files is not None:
        for f in [data_files] if isinstance(data_files, str | os.PathLike) else list(data_files):
            matched = sorted(glob.glob(str(f))) or [str(f)]
            files.extend(matched)
    elif data_folder is not None:
        if not Path(data_folder).is_dir():
            raise StepInputError(
                f"{cls} {name!r}: data_folder {str(data_folder)!r} is not a folder."
            )
        for pat in patterns:
            files.extend(
                sorted(glob.glob(os.path.join(str(data_folder), "**", pat), recursive=True))
            )
    else:
        raise StepInputError(f"{cls} {name!r}: pass data_folder= or data_files=.")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SourceNotFoundError(f"{cls} {name!r}: file(s) not found: {missing}. Check the paths.")
    if not files:
        raise StepInputError(
            f"{cls} {name!r}: no files matching {list(patterns)} in {str(data_folder)!r}."
        )
    return files


class _FileDataSource(Step):
    _is_source = True
    _builder = ""
    _patterns: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        data_folder: str | None = None,
        data_files: str | Sequence[str] | Mapping[str, Any] | None = None,
        encoding: str | None = None,
        **kwargs: Any,
    ):
        self._options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _COMMON}
        _check_kwargs(type(self).__name__, kwargs)
        self._files = _resolve_files(
            type(self).__name__, name, data_folder, data_files, self._patterns
        )
        self._encoding = encoding
        super().__init__(name, **kwargs)

    def _fingerprint_extra(self) -> dict[str, str]:
        return {
            "files": hash_value([hash_file(f) for f in self._files]),
            "options": hash_value(dict(self._options, encoding=self._encoding)),
        }

    def _load_kwargs(self) -> dict[str, Any]:
        kw = dict(self._options)
        if self._encoding:
            kw["encoding"] = self._encoding
        return kw

    def run(self) -> Any:
        from datasets import load_dataset

        cache_dir = self.get_run_output_folder_path() / "hf_cache"
        return load_dataset(
            self._builder,
            data_files=self._files,
            split="train",
            cache_dir=str(cache_dir),
            **self._load_kwargs(),
        )


class JSONDataSource(_FileDataSource):
    """Rows from JSON or JSON Lines files."""

    _builder = "json"
    _patterns = ("*.json", "*.jsonl")


class CSVDataSource(_FileDataSource):
    """Rows from CSV files (``sep=`` for other delimiters)."""

    _builder = "csv"
    _patterns = ("*.csv", "*.tsv")

    def __init__(
        self,
        name: str,
        data_folder: str | None = None,
        data_files: str | Sequence[str] | Mapping[str, Any] | None = None,
        encoding: str | None = None,
        sep: str = ",",
        **kwargs: Any,
    ):
        super().__init__(name, data_folder, data_files, encoding, sep=sep, **kwargs)


class TextDataSource(_FileDataSource):
    """One row per line of text files, in a ``text`` column."""

    _builder = "text"
    _patterns = ("*.txt",)


class HFDatasetDataSource(Step):
    """Rows from a dataset saved with ``datasets.save_to_disk`` (or an in-memory Dataset)."""

    _is_source = True

    def __init__(
        self,
        name: str,
        dataset_path: str | os.PathLike | Any,
        split: str | None = None,
        **kwargs: Any,
    ):
        _check_kwargs(type(self).__name__, kwargs)
        self._dataset_path = dataset_path
        self._split = split
        if isinstance(dataset_path, str | os.PathLike):
            if not Path(dataset_path).exists():
                raise SourceNotFoundError(
                    f"HFDatasetDataSource {name!r}: {str(dataset_path)!r} does not exist."
                )
            self._digest = hash_file(dataset_path)
        else:
            self._digest = hash_value(dataset_path, label=f"the dataset of {name!r}")
        super().__init__(name, **kwargs)

    def _fingerprint_extra(self) -> dict[str, str]:
        return {"dataset": self._digest, "split": str(self._split)}

    def run(self) -> Any:
        ds = self._dataset_path
        if isinstance(ds, str | os.PathLike):
            from datasets import load_from_disk

            ds = load_from_disk(str(ds))
        if _is_dataset_dict(ds):
            ds = _pick_split(ds, self._split, self._where(), single=False)
        return ds


def _is_dataset_dict(ds: Any) -> bool:
    import datasets

    return isinstance(ds, datasets.DatasetDict | datasets.IterableDatasetDict)


def _pick_split(dsdict: Any, split: str | None, where: str, single: bool = True) -> Any:
    """The split ``split`` of a dataset dict. Without ``split=``: its only split when
    ``single`` (a Hub dataset), else an error, as DataDreamer's ``HFDatasetDataSource``
    (a folder of splits is not a dataset folder: ``FileNotFoundError``)."""
    splits = list(dsdict.keys())
    error = StepInputError if single else SourceNotFoundError
    if split is None:
        if single and len(splits) == 1:
            return dsdict[splits[0]]
        raise error(
            f"{where}: the dataset has splits {splits}; choose one with split=, e.g. "
            f"split={splits[0]!r}."
        )
    if split not in splits:
        raise error(f"{where}: no split {split!r}; available: {splits}.")
    return dsdict[split]


class HFHubDataSource(Step):
    """Rows from a Hugging Face Hub dataset (or a local dataset folder) via ``load_dataset``."""

    _is_source = True

    def __init__(
        self,
        name: str,
        path: str,
        config_name: str | None = None,
        split: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        streaming: bool = False,
        **config_kwargs: Any,
    ):
        if trust_remote_code:
            raise StepInputError(
                f"HFHubDataSource {name!r}: trust_remote_code=True has no effect: datasets 4+ "
                "no longer runs dataset loading scripts. Load a dataset stored as data files "
                "(Parquet, JSON, CSV), which needs no code, and drop trust_remote_code."
            )
        common = {k: config_kwargs.pop(k) for k in list(config_kwargs) if k in _COMMON}
        self._hub = dict(
            path=path, name=config_name, split=split, revision=revision, **config_kwargs
        )
        self._streaming = streaming
        local = Path(path)
        self._local_digest = hash_file(local) if local.exists() else None
        super().__init__(name, **common)

    def _fingerprint_extra(self) -> dict[str, str]:
        # A local folder counts by its content, not by where it lives.
        hub = dict(self._hub, path=None) if self._local_digest else self._hub
        extra = {"hub": hash_value(hub), "local": str(self._local_digest)}
        if self._streaming:  # only then: stored sources keep their earlier fingerprints
            extra["streaming"] = "1"  # a stored entry is never served for a streamed source
        return extra

    def run(self) -> Any:
        from datasets import load_dataset

        kwargs = {k: v for k, v in self._hub.items() if v is not None}
        try:
            ds = load_dataset(
                cache_dir=str(self.get_run_output_folder_path() / "hf_cache"),
                streaming=self._streaming,
                **kwargs,
            )
        except FileNotFoundError as e:
            raise StepInputError(
                f"{self._where()}: cannot find dataset {self._hub['path']!r} ({e}). Check the "
                "name, or that the Hub is reachable (HF_HUB_OFFLINE is set when offline)."
            ) from None
        if _is_dataset_dict(ds):
            ds = _pick_split(ds, self._hub.get("split"), self._where())
        if self._local_digest is None:  # a Hub repository id: the cards' `datasets` metadata
            self.register_data_card(DataCardType.DATASET_NAME, self._hub["path"])
        if self._streaming:  # an IterableDataset: a lazy output, as in DataDreamer
            from dreamer_lab.steps.lazy import LazyRows, unwarned

            self._stream_names = _first_row_names(ds, self._where())
            split = (ds.info.splits or {}).get(str(ds.split)) if ds.split else None
            total = getattr(split, "num_examples", None) or None
            return unwarned(LazyRows(ds, total_num_rows=total, auto_progress=False))
        return ds

    def _output_names(self) -> list[str] | None:
        """Streamed (``streaming=True``), the columns of the first row."""
        return getattr(self, "_stream_names", None) or super()._output_names()
