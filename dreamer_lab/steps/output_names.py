"""``outputs={...}`` renaming, checked as DataDreamer checks it (see ``Step._bind_outputs``)."""

from __future__ import annotations

from typing import Any

from dreamer_lab.errors import StepInputError


def check_renames(step: Any, outputs: Any) -> dict[str, str]:
    """``{registered_output: new_name}`` for any subset of ``step``'s outputs. A step that
    registers ``"*columns"`` (its output is its input steps' columns) may rename any of
    those columns. An unknown output, a non-name value or two columns given one name is a
    :class:`StepInputError` (a ``ValueError``, as in DataDreamer) before anything runs."""
    where = step._where()
    if not isinstance(outputs, dict):
        raise StepInputError(
            f"{where}: outputs must be a dict {{output: new_name}}, not a {type(outputs).__name__}."
        )
    known = [k for k in step._output_specs if k != "*columns"]
    if "*columns" in step._output_specs:
        for col in step.inputs.values():
            known += [c for c in col.step.output.column_names if c not in known]
    unknown = [k for k in outputs if k not in known]
    if unknown:
        cls = type(step).__name__
        raise StepInputError(
            f"{cls} only defines {known} as outputs, got {list(outputs)}. {where}: cannot "
            f"rename {unknown}; pass outputs={{output: new_name}} with outputs from that list."
        )
    bad = [v for v in outputs.values() if not isinstance(v, str) or not v]
    names = [outputs.get(k, k) for k in known]
    clash = sorted({n for n in names if names.count(n) > 1})
    if bad or clash:
        problem = f"has non-name values {bad}" if bad else f"gives two columns the name(s) {clash}"
        raise StepInputError(
            f"{where}: outputs={outputs!r} {problem}. Map each output to a distinct, "
            "non-empty column name."
        )
    return dict(outputs)
