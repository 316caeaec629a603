"""What every step operation shares: building the :class:`OperationStep` and checking arguments.

Importing this module is cheap (no ``datasets``, no :mod:`dreamer_lab.steps.step`): the step
module imports the operations mixins, so they reach the step classes lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dreamer_lab.errors import StepInputError

if TYPE_CHECKING:
    from dreamer_lab.steps.operation_step import OperationStep
    from dreamer_lab.steps.step import Step

LAZY_UNSUPPORTED = (
    "lazy outputs are not supported yet; omit lazy= (outputs are memory-mapped Arrow, so "
    "they do not load into memory)"
)


def operation(
    op: str,
    parents: list[Step],
    fn: Callable[..., Any],
    op_args: dict[str, Any],
    name: str | None = None,
    step_class: str | None = None,
    **kwargs: Any,
) -> OperationStep:
    """The step that applies ``fn`` to the parents' datasets (fingerprinted by ``op_args``).

    Its class is the operation's (``MapStep`` for ``"map"`` ...; ``step_class`` names
    another operation's class when one operation is built from another's). ``stream=True``
    (with ``stream_rows=``, the result's row count when known) streams: ``fn`` gets and
    returns ``datasets.IterableDataset``s and nothing is stored.
    """
    from dreamer_lab.steps.operation_step import OPERATION_CLASSES

    cls = OPERATION_CLASSES[step_class or op]
    return cls(op, parents, fn, op_args, name=name, **kwargs)


def parent_rows(step: Step) -> int | None:
    """The parent's row count: stored outputs know it, lazy ones only if declared."""
    return step.output.num_rows


def lazy_options(step: Step, lazy: bool, rows: int | None | str = "same") -> dict[str, Any]:
    """``operation()`` arguments for ``lazy=``: the result's row count when streaming
    (``"same"``: the parent's)."""
    if not lazy:
        return {}
    return {"stream": True, "stream_rows": parent_rows(step) if rows == "same" else rows}


def warn_lazy_progress(op: str, lazy: bool, total_num_rows: int | None, auto: bool) -> None:
    """DataDreamer's warning for a lazy map/filter whose row count is unknown."""
    if lazy and total_num_rows is None and auto:
        import warnings

        warnings.warn(
            "You did not specify `total_num_rows`, so we cannot automatically update the "
            f"progress % for this step. Either specify {op}(..., total_num_rows=#) or, to "
            f"disable this warning, specify {op}(..., auto_progress=False)",
            stacklevel=4,
        )


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


def check_steps(op: str, steps: tuple[Any, ...]) -> None:
    """``concat()``/``zipped()`` arguments: at least one, and steps (DataDreamer's errors:
    ``ValueError``, ``TypeError``)."""
    from dreamer_lab.steps.step import Step

    if not steps:
        raise StepInputError(f"{op}() needs at least one step.")
    bad = [s for s in steps if not isinstance(s, Step)]
    if bad:
        raise TypeError(
            f"{op}() takes steps, got {type(bad[0]).__name__} {bad[0]!r}. Pass the steps "
            f"themselves: {op}(step_a, step_b)."
        )


def check_not_lazy(lazy: bool, where: str) -> None:
    if lazy:
        raise StepInputError(f"{where}: {LAZY_UNSUPPORTED}.")


def refuse_lazy(lazy: bool, op: str, step: Step) -> None:
    """``lazy=True`` on an operation that needs random access to the rows."""
    if lazy:
        raise StepInputError(
            f"{op} on step {step.name!r}: lazy=True is not supported by {op}() (it needs "
            "random access to the rows); omit lazy= (the result is stored as memory-mapped "
            "Arrow, which does not load into memory)."
        )


def check_columns(step: Step, columns: list[str], what: str) -> None:
    """An error naming the step's columns if any of ``columns`` is not one of them."""
    have = step.output.column_names
    missing = [c for c in columns if c not in have]
    if missing:
        raise StepInputError(
            f"{what} on step {step.name!r}: unknown column(s) {missing}. Its columns are {have}."
        )


def as_list(x: str | list[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
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


def datasets_fingerprint(parent: Step, op: str, op_args: dict[str, Any]) -> str:
    """A fingerprint for ``datasets`` itself, so it never pickles the user's function."""
    from dreamer_lab.core.fingerprint import combine, hash_value

    args = hash_value(op_args, label=f"the arguments of .{op}()")
    return combine(parent.fingerprint, op, args)[:16]


def flat(ds: Any) -> Any:
    """``ds`` with its indices mapping applied (a contiguous table, kept in memory)."""
    return ds.flatten_indices(keep_in_memory=True)


def datasets_operation(
    step: Step,
    op: str,
    op_args: dict[str, Any],
    *,
    total_num_rows: int | None,
    auto_progress: bool,
    lazy: bool,
    name: str | None,
    **kwargs: Any,
) -> OperationStep:
    """``datasets.Dataset.<op>(**op_args)`` as a step (``map``, ``filter``).

    ``op_args`` are ``datasets``' own arguments; their column names are checked first.
    ``filter`` results are flattened, so the stored table holds only the kept rows.
    ``lazy=True``: ``IterableDataset.<op>`` on a streaming view, nothing stored.
    """
    where = f"{op} on step {step.name!r}"
    total = check_total_num_rows(total_num_rows, where)
    for key in ("input_columns", "remove_columns"):
        if op_args.get(key) is not None:
            check_columns(step, as_list(op_args[key]), op)
    warn_lazy_progress(op, lazy, total, auto_progress)
    if lazy:

        def lazily(ids: Any) -> Any:
            return getattr(ids, op)(**op_args)

        return operation(
            op, [step], lazily, op_args, name, stream=True, stream_rows=total, **kwargs
        )
    new_fp = datasets_fingerprint(step, op, op_args)

    def apply(ds: Any) -> Any:
        from dreamer_lab.executors import run_operation  # executor="ray": shards on Ray

        out = run_operation(
            ds, op, op_args, where=where, new_fingerprint=new_fp, progress=auto_progress
        )
        if out is not None:
            return out
        with progress_bars(auto_progress):
            out = getattr(ds, op)(
                **op_args, keep_in_memory=True, new_fingerprint=new_fp, desc=f"{op} {step.name}"
            )
        return flat(out) if op == "filter" else out

    return operation(op, [step], apply, op_args, name, total_num_rows=total, **kwargs)
