"""``OperationStep``: a step derived from other steps by a data operation (``map``, ``select`` ...).

Its fingerprint is the parents' fingerprints plus the operation's kind (``operation.<op>``)
and its hashed arguments. Each operation returns an instance of its own subclass, named as
DataDreamer names them (``MapStep``, ``FilterStep``, ``SaveStep`` ...; also importable from
:mod:`dreamer_lab.steps.step`), so ``isinstance(step.map(f), MapStep)`` holds; the class
adds nothing else (the operation and its arguments decide the fingerprint). This module imports :mod:`dreamer_lab.steps.step`, which imports
the operations mixins, so the mixins reach this class through
:func:`dreamer_lab.steps.operation_base.operation` (a lazy import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamer_lab.core.memo import Computed
from dreamer_lab.steps.step import Step


class OperationStep(Step):
    """A step derived from other steps by a data operation.

    With ``stream=True`` (an operation's ``lazy=True``), ``fn`` receives ``datasets.IterableDataset`` views of the parents and
    returns one: the step's output streams (an ``OutputIterableDataset`` of
    ``stream_rows`` rows, None when unknown) and nothing is stored. Without it, lazy parents
    are first streamed into Arrow files, so ``fn`` always receives ``datasets.Dataset``.
    """

    _outputs_from_data = True  # its columns are its parents' (no register_output)

    def __init__(
        self,
        op: str,
        parents: list[Step],
        fn: Callable[..., Any],
        op_args: dict[str, Any],
        name: str | None = None,
        total_num_rows: int | None = None,
        stream: bool = False,
        stream_rows: int | None = None,
        writer_batch_size: int | None = None,
        **kwargs: Any,
    ):
        self._op = op
        self._op_fn = fn
        self._op_args = op_args
        self._op_parents = parents
        self._lazy = stream
        self._lazy_rows = stream_rows
        self._writer_batch_size = writer_batch_size
        self._expected_rows = None if stream else total_num_rows
        super().__init__(name=name or f"{parents[0].name} / {op}", **kwargs)

    def setup(self) -> None:
        # _extra_parents must exist before fingerprinting: Step.__init__ calls setup() first.
        self._extra_parents = list(self._op_parents)

    @property
    def op(self) -> str:
        """The operation's name (``"map"``, ``"select"`` ...)."""
        return self._op

    def kind_name(self) -> str:  # type: ignore[override]  # per instance, not per class
        return self._op

    def _fingerprint_extra(self) -> dict[str, Any]:
        from dreamer_lab.core.fingerprint import hash_value

        extra: dict[str, Any] = {
            "op": self._op,
            "op_args": {
                k: hash_value(v, label=f"argument {k!r} of .{self._op}()")
                for k, v in sorted(self._op_args.items())
            },
        }
        if self._lazy:  # only then: stored operations keep their earlier fingerprints
            extra["lazy"] = True
        return extra

    def _fingerprint_components(self) -> dict[str, Any]:
        c = super()._fingerprint_components()
        c["kind"] = f"operation.{self._op}"
        return c

    def _produce(self) -> Any:
        import datasets

        from dreamer_lab.steps.lazy import LazyRows, materialize, unwarned

        outputs = [p.output.dataset for p in self._op_parents]
        if self._lazy:
            views = [
                d.to_iterable_dataset() if isinstance(d, datasets.Dataset) else d for d in outputs
            ]
            ids = self._op_fn(*views)
            lazy = LazyRows(ids, total_num_rows=self._lazy_rows, auto_progress=False)
            return ids, unwarned(lazy)
        if any(isinstance(d, datasets.IterableDataset) for d in outputs):
            folder = str(self.get_run_output_folder_path())
            outputs = [
                materialize(d, folder, self._writer_batch_size)
                if isinstance(d, datasets.IterableDataset)
                else d
                for d in outputs
            ]
        return self._op_fn(*outputs)

    def _compute(self) -> Computed:
        from dreamer_lab.core.secrets import redact

        computed = super()._compute()
        computed.record["kind"] = self._op
        computed.record["args"] = {k: redact(v, k) for k, v in self._op_args.items()}
        return computed


# -- one class per operation (DataDreamer's names) --------------------------------------------
class ConcatStep(OperationStep):
    """The step :func:`~dreamer_lab.steps.concat` returns."""


class ZippedStep(OperationStep):
    """The step :func:`~dreamer_lab.steps.zipped` returns."""


class SelectStep(OperationStep):
    """The step ``step.select(indices)`` returns."""


class SelectColumnsStep(OperationStep):
    """The step ``step.select_columns(column_names)`` returns."""


class TakeStep(OperationStep):
    """The step ``step.take(n)`` returns."""


class SkipStep(OperationStep):
    """The step ``step.skip(n)`` returns."""


class ShuffleStep(OperationStep):
    """The step ``step.shuffle()`` returns."""


class SortStep(OperationStep):
    """The step ``step.sort(column_names)`` returns."""


class AddItemStep(OperationStep):
    """The step ``step.add_item(item)`` returns."""


class MapStep(OperationStep):
    """The step ``step.map(function)`` returns."""


class FilterStep(OperationStep):
    """The step ``step.filter(function)`` returns."""


class RenameColumnStep(OperationStep):
    """The step ``step.rename_column(original, new)`` returns."""


class RenameColumnsStep(OperationStep):
    """The step ``step.rename_columns(mapping)`` returns."""


class RemoveColumnsStep(OperationStep):
    """The step ``step.remove_columns(column_names)`` returns."""


class SplitStep(OperationStep):
    """Each step of the dict ``step.splits(...)`` returns."""


class ShardStep(OperationStep):
    """The step ``step.shard(num_shards, index)`` returns."""


class ReverseStep(OperationStep):
    """The step ``step.reverse()`` returns."""


class SaveStep(OperationStep):
    """The step ``step.save()`` returns."""


class CopyStep(OperationStep):
    """The step ``step.copy()`` returns."""


# The class of each operation, by the name ``operation()`` is called with.
OPERATION_CLASSES: dict[str, type[OperationStep]] = {
    "concat": ConcatStep,
    "zipped": ZippedStep,
    "select": SelectStep,
    "select_columns": SelectColumnsStep,
    "take": TakeStep,
    "skip": SkipStep,
    "shuffle": ShuffleStep,
    "sort": SortStep,
    "add_item": AddItemStep,
    "map": MapStep,
    "filter": FilterStep,
    "rename_column": RenameColumnStep,
    "rename_columns": RenameColumnsStep,
    "remove_columns": RemoveColumnsStep,
    "splits": SplitStep,
    "shard": ShardStep,
    "reverse": ReverseStep,
    "save": SaveStep,
    "copy": CopyStep,
}

__all__ = ["OperationStep", "OPERATION_CLASSES"] + sorted(
    {cls.__name__ for cls in OPERATION_CLASSES.values()}
)
