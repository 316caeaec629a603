"""Cell-body templates: ``{column}`` placeholders and ``{variable}`` interpolation.

A placeholder is kept for the step (or for per-row rendering) when it names a column of
the data step, a registered input, or a key of ``attributes``; otherwise it is filled from
the notebook's variables. Anything else is an error raised before any model is called.
Write ``{{`` and ``}}`` for literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.notebook.parser import DreamSyntaxError

_FMT = string.Formatter()


def _root(field_name: str) -> str:
    for i, c in enumerate(field_name):
        if c in ".[":
            return field_name[:i]
    return field_name


def placeholders(template: str) -> list[str]:
    """The root names of the template's ``{...}`` placeholders, in order."""
    try:
        parsed = list(_FMT.parse(template))
    except ValueError as e:
        raise DreamSyntaxError(
            f"The cell body is not a valid template ({e}). Write {{{{ and }}}} for literal braces."
        ) from None
    names = []
    for _lit, field_name, _spec, _conv in parsed:
        if field_name is None:
            continue
        if field_name == "" or field_name.isdigit():
            raise DreamSyntaxError(
                "The template has an empty or numbered placeholder `{}`; name it after a "
                "column or a variable, e.g. {question}, or write {{ }} for literal braces."
            )
        names.append(_root(field_name))
    return list(dict.fromkeys(names))


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def interpolate(
    template: str,
    keep: Iterable[str],
    user_ns: dict[str, Any],
    *,
    where: str,
    keep_hint: str,
) -> str:
    """Fill ``{variable}`` placeholders from ``user_ns``; keep those named in ``keep``.

    The result is a format string when placeholders are kept, plain text otherwise.
    """
    keep = set(keep)
    names = placeholders(template)
    for name in names:
        if name not in keep and name not in user_ns:
            raise StepInputError(
                f"The template uses {{{name}}}, which is not {keep_hint} nor a variable in the "
                f"notebook ({where}). Fix the placeholder's name, define {name}, or write "
                f"{{{{{name}}}}} for literal braces."
            )
    kept_any = any(n in keep for n in names)
    out = []
    for literal, field_name, spec, conv in _FMT.parse(template):
        out.append(_escape(literal) if kept_any else literal)
        if field_name is None:
            continue
        if _root(field_name) in keep:
            out.append(
                "{" + field_name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            )
        else:
            value = _FMT.get_field(field_name, (), user_ns)[0]
            value = _FMT.convert_field(value, conv)
            text = _FMT.format_field(value, spec or "")
            out.append(_escape(text) if kept_any else text)
    return "".join(out)


def render_row(row: dict[str, Any], template: str, column: str) -> dict[str, str]:
    """Render ``template`` for one row (used by ``Step.map``; fingerprinted via partial)."""
    return {column: template.format_map(row)}
