"""Values stored with ``step.pickle(value)`` read back as the values.

``step.pickle()`` stores signed bytes (:data:`VALUE_MAGIC`, the producing step's fingerprint,
an HMAC, the payload) in a binary column. Reading a step's output (rows, columns, iteration,
``head()``, ``export_to_dict/list/hf_dataset``) turns each such value back into the object
through ``step.unpickle()``, which checks the signature and origin first: a tampered or
foreign value raises :class:`~dreamer_lab.errors.UntrustedObjectError` on read and is never
executed. Bytes without the marker (plain binary data, an unsigned pickle) stay bytes.

As in DataDreamer, only binary columns are candidates; when a lazy output's features are
unknown every column is checked, value by value (a prefix test, nothing is parsed).
"""

from __future__ import annotations

from typing import Any

VALUE_MAGIC = b"dreamer_lab signed value\x00"


def is_signed_value(value: Any) -> bool:
    """True for bytes made by ``step.pickle()`` (signature not checked yet)."""
    return isinstance(value, bytes) and value.startswith(VALUE_MAGIC)


def _is_binary(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("binary", "large_binary")


class Unpickler:
    """Unpickles the signed values in rows, batches or column values read from ``step``."""

    def __init__(self, step: Any, features: Any):
        self.step = step
        # None: the features are unknown, so every column may hold signed values.
        self.columns: set[str] | None = (
            None if features is None else {k for k, f in features.items() if _is_binary(f)}
        )

    @property
    def active(self) -> bool:
        """False when no column can hold a signed value (reads pass through untouched)."""
        return self.columns is None or bool(self.columns)

    def covers(self, column: str) -> bool:
        return self.columns is None or column in self.columns

    def value(self, value: Any) -> Any:
        return self.step.unpickle(value) if is_signed_value(value) else value

    def values(self, column: str, values: Any) -> Any:
        """A column's values (a list), unpickled where signed."""
        if not self.covers(column):
            return values
        return [self.value(v) for v in values]

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        if not self.active:
            return row
        return {k: self.value(v) if self.covers(k) else v for k, v in row.items()}

    def batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``{column: [values]}`` (what ``Dataset[slice]`` and ``to_dict()`` return)."""
        if not self.active:
            return batch
        return {k: self.values(k, v) for k, v in batch.items()}

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A ``Dataset.set_transform`` function (batches of columns)."""
        return self.batch(batch)


def unpickle_export(step: Any, result: Any, to: str, features: Any, splits: bool) -> Any:
    """An in-memory export (``to_dict``/``to_list``; ``splits``: ``{split: ...}``) with its
    signed values unpickled."""
    unpickler = Unpickler(step, features)
    if not unpickler.active:
        return result

    def one(part: Any) -> Any:
        return [unpickler.row(r) for r in part] if to == "list" else unpickler.batch(part)

    return {split: one(part) for split, part in result.items()} if splits else one(result)


__all__ = ["VALUE_MAGIC", "Unpickler", "is_signed_value", "unpickle_export"]
