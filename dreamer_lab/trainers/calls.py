"""One ``train...()`` call: its data columns (checked), and what its training function gets
(:class:`TrainContext`) and returns (:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn

if TYPE_CHECKING:
    from dreamer_lab.trainers.base import Trainer
    from dreamer_lab.trainers.progress import ProgressReporter


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
