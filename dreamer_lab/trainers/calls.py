"""One ``train...()`` call: bound to its signature, its columns checked, and what its
training function gets (:class:`TrainContext`) and returns (:class:`TrainResult`).

A trainer's ``train...()`` methods keep DataDreamer's explicit signatures (they are the
API); :func:`trains` derives everything else from the bound signature once: parameters
annotated as step columns (``OutputColumn``) are the data, every other parameter (with
``**kwargs``) a hyperparameter, fingerprinted and recorded. The training function gets
the :class:`TrainCall`; what it does not consume itself it passes on to the library's
training arguments (:meth:`TrainCall.options`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.params import train_signature

if TYPE_CHECKING:
    from dreamer_lab.trainers.base import Trainer
    from dreamer_lab.trainers.progress import ProgressReporter


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TrainCall:
    """One ``train...()`` call bound to its signature (defaults applied).

    ``data``: the column parameters by name (None where not given); ``arguments``: every
    other parameter, ``**kwargs`` merged in, as passed; ``hyperparams``: what is
    fingerprinted and recorded, ``arguments`` unless the trainer describes one otherwise
    (a reward model by its identity) or adds one (``fixed``, e.g. the ``mode``).
    """

    method: str
    data: dict[str, OutputColumn | None]
    arguments: dict[str, Any]
    hyperparams: dict[str, Any]
    fixed: frozenset[str] = frozenset()

    def __getitem__(self, name: str) -> Any:
        return self.hyperparams[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.hyperparams.get(name, default)

    def split(self, prefix: str) -> dict[str, OutputColumn | None]:
        """The ``train_*`` or ``validation_*`` columns (``prefix`` "train"/"validation")."""
        return {k: v for k, v in self.data.items() if k.startswith(prefix + "_")}

    def columns(self, prefix: str) -> dict[str, OutputColumn] | None:
        """The columns of ``prefix`` by short name (``train_input`` -> ``input``); None when
        none was given (no validation set)."""
        cols = {k[len(prefix) + 1 :]: v for k, v in self.split(prefix).items() if v is not None}
        return cols or None

    @property
    def has_validation(self) -> bool:
        return self.columns("validation") is not None

    def datasets(self, build: Callable[[dict[str, OutputColumn]], Any]) -> tuple[Any, Any]:
        """``build(columns)`` of the training columns and of the validation ones (or None)."""
        val = self.columns("validation")
        return build(self.columns("train") or {}), None if val is None else build(val)

    def check_numbers(self, where: str, suffix: str, hint: str = "") -> None:
        """The columns whose names end with ``suffix`` hold numbers (``hint``: which)."""
        for name, col in self.data.items():
            if not name.endswith(suffix) or col is None:
                continue
            bad = [
                v for v in col.to_list() if isinstance(v, bool) or not isinstance(v, int | float)
            ]
            if bad:
                raise StepInputError(
                    f"{where}: {name} must hold numbers{hint}; found {bad[0]!r}. Convert the "
                    "column (e.g. with .map()) before training."
                )

    def options(self, consumed: Collection[str]) -> dict[str, Any]:
        """The hyperparameters a trainer passes on: all but those it ``consumed`` itself and
        the ``fixed`` ones it added."""
        return {
            k: v for k, v in self.hyperparams.items() if k not in consumed and k not in self.fixed
        }


def trains(
    run: str,
    columns: Sequence[str] | None = None,
    hyperparameters: Sequence[str | inspect.Parameter] = (),
    **fixed: Any,
) -> Callable[[F], F]:
    """Make a method with DataDreamer's explicit signature a ``train...()`` method.

    The decorated method's body is only its docstring. Its signature is the one written,
    or, with ``columns``, the one :func:`~dreamer_lab.trainers.params.train_signature`
    builds from ``columns`` and ``hyperparameters`` (the method is then written
    ``(self, *args, **kwargs)``; the built signature is its ``__signature__``). Each call is
    bound to the signature (a wrong argument raises ``TypeError`` as for any method) into a
    :class:`TrainCall`, with ``fixed`` added to its hyperparameters; the trainer checks it
    (:meth:`~dreamer_lab.trainers.base.Trainer._train`), fingerprints it and trains with
    ``self.<run>(ctx, call)``. The method returns the trainer.
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        if columns is not None:
            built = train_signature(columns, hyperparameters, sig.return_annotation)
            this = next(iter(sig.parameters.values()))  # self, as annotated
            sig = built.replace(parameters=[this, *list(built.parameters.values())[1:]])
        params = list(sig.parameters.values())[1:]  # without self
        data_names = [p.name for p in params if "OutputColumn" in str(p.annotation)]
        var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)

        @functools.wraps(fn)
        def method(self: Trainer, *args: Any, **kwargs: Any) -> Trainer:
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            values = {p.name: bound.arguments[p.name] for p in params}
            extra = values.pop(var_kw) if var_kw else {}
            clash = sorted(set(fixed) & set(extra))
            if clash:
                raise StepInputError(
                    f"{self._where()}: {clash[0]}= is set by {fn.__name__}() itself "
                    f"({clash[0]}={fixed[clash[0]]!r}); drop it."
                )
            data = {name: values.pop(name) for name in data_names}
            arguments = {**values, **extra}
            call = TrainCall(
                fn.__name__, data, arguments, {**values, **fixed, **extra}, frozenset(fixed)
            )
            self._train(call, getattr(self, run))
            return self

        method.__signature__ = sig  # type: ignore[attr-defined]
        return method  # type: ignore[return-value]

    return decorate


@dataclass
class TrainContext:
    """What a training function gets: where to checkpoint, whether to resume, a reporter."""

    trainer: Trainer
    fingerprint: str
    workspace: Workspace
    checkpoint_dir: Path
    resume_from: Path | None
    final_dir: Path
    reporter: ProgressReporter

    @classmethod
    def of_run(
        cls, reporter: ProgressReporter, resume_from: Path | None, final_dir: Path
    ) -> TrainContext:
        """The context of the run ``reporter`` reports on (checkpoints in its folder)."""
        return cls(
            reporter.trainer,
            reporter.fingerprint,
            reporter.workspace,
            reporter.folder,
            resume_from,
            final_dir,
            reporter,
        )


@dataclass
class TrainResult:
    """What a training function returns (the model is already saved in ``final_dir``)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def check_columns(
    where: str, train: dict[str, Any], validation: dict[str, Any] | None = None
) -> None:
    """Columns must be step columns of equal, non-zero length; validation is complete."""
    for group_name, group in (("training", train), ("validation", validation or {})):
        for arg, col in group.items():
            if col is None:
                if group_name == "training":
                    raise StepInputError(
                        f"{where}: {arg} is missing. Pass a step column, e.g. "
                        f"{arg}=my_step.output['column']."
                    )
                continue
            if not isinstance(col, OutputColumn):
                hint = (
                    "a whole step: pick one of its columns, e.g. step.output['text']"
                    if hasattr(col, "output")
                    else f"a {type(col).__name__}: wrap plain data in a DataSource and pass "
                    "DataSource(...).output['column']"
                )
                raise StepInputError(f"{where}: {arg} must be a step column, not {hint}.")
    _check_rows(where, "training", train)
    given = {k: v for k, v in (validation or {}).items() if v is not None}
    missing = [k for k, v in (validation or {}).items() if v is None] if given else []
    if missing:
        raise StepInputError(
            f"{where}: a validation set was given without {', '.join(missing)} (the "
            "labels/targets to evaluate against). Pass "
            + ", ".join(f"{m}=step.output['...']" for m in missing)
            + ", or leave out every validation_* argument to train without one."
        )
    _check_rows(where, "validation", given)


def _check_rows(where: str, group: str, cols: dict[str, OutputColumn]) -> None:
    """The columns of ``group`` have one length, and it is not 0."""
    rows = {arg: len(col) for arg, col in cols.items()}
    if len(set(rows.values())) > 1:
        raise StepInputError(
            f"{where}: the {group} columns have different lengths ("
            + ", ".join(f"{arg}={n}" for arg, n in rows.items())
            + "); each row of one must match a row of the others. Pass columns of the same "
            "step, or align them with .select()/.take()."
        )
    if rows and not next(iter(rows.values())):
        if group == "validation":
            raise StepInputError(
                f"{where}: the validation data is empty (0 rows). Pass validation rows or "
                "leave out the validation_* arguments."
            )
        names = ", ".join(f"{c.step.name!r}.output[{c.column_name!r}]" for c in cols.values())
        raise StepInputError(
            f"{where}: the training data is empty (0 rows in {names}). Check the step that "
            "produced it (a filter that removed every row?) before training."
        )
