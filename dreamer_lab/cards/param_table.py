"""Parameters and hyperparameters as a readable Markdown table.

Cards list every step's arguments and a trainer's hyperparameters. A JSON block of them
ran to dozens of lines per step, with ``\\n`` escapes and every list item on its own line;
the table gives one row per parameter: nested mappings flattened into dotted names
(``attributes.product``), lists and deeper values in one compact Python-literal line,
multi-line text on one line with ``↵`` marking the breaks, long values cut with ``…``
(the card's JSON form, ``card.json``, keeps them whole). Every name and value is untrusted
(prompt text, model output, a model's repr): each cell goes through
:func:`~dreamer_lab.cards.escape.md_inline`, so nothing can end the cell, the table or
start HTML, and secrets are removed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dreamer_lab.cards.escape import md_code_inline, md_inline

#: Characters of one value in the table (the JSON form keeps the whole value).
VALUE_CHARS = 240
#: Items of a list shown before "… (N more)".
LIST_ITEMS = 12
#: Levels of nested mappings flattened into dotted names; deeper ones are compact values.
FLATTEN_DEPTH = 2


def param_rows(values: Mapping[str, Any], depth: int = FLATTEN_DEPTH) -> list[tuple[str, Any]]:
    """``(dotted name, value)`` rows, sorted by name, nested mappings flattened."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(values, key=str):
        value = values[key]
        if isinstance(value, Mapping) and value and depth > 0:
            rows += [(f"{key}.{k}", v) for k, v in param_rows(value, depth - 1)]
        else:
            rows.append((str(key), value))
    return rows


def compact(value: Any, limit: int = VALUE_CHARS) -> str:
    """One line for ``value``: text as it is (line breaks as ``↵``), other values as a
    compact Python literal, at most ``limit`` characters."""
    if isinstance(value, str):
        if value.strip():
            text = " ↵ ".join(line.strip() for line in value.strip().splitlines())
        else:  # only whitespace ("\n\n" as a separator): show the characters themselves
            text = repr(value)
    else:
        text = _literal(value, 3)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _literal(value: Any, depth: int) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        text = repr(value)  # 0.7, 1.0, 1e-05; a long one (0.30000000000000004) rounded
        return text if len(text) <= 10 or not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, int | str):
        return repr(value)
    if depth <= 0:
        return "…"
    if isinstance(value, Mapping):
        items = [f"{_literal(k, 0) if not isinstance(k, str) else repr(k)}: {_literal(v, depth - 1)}"
                 for k, v in list(value.items())[:LIST_ITEMS]]  # fmt: skip
        more = len(value) - LIST_ITEMS
        return "{" + ", ".join(items + ([f"… ({more} more)"] if more > 0 else [])) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        seq = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        items = [_literal(v, depth - 1) for v in seq[:LIST_ITEMS]]
        more = len(seq) - LIST_ITEMS
        inner = ", ".join(items + ([f"… ({more} more)"] if more > 0 else []))
        return (
            f"({inner}{',' if len(seq) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
        )
    return str(value)


def param_table(
    values: Mapping[str, Any], header: tuple[str, str] = ("Parameter", "Value")
) -> list[str]:
    """Markdown lines of a two-column table of ``values`` (no lines when empty)."""
    rows = param_rows(values)
    if not rows:
        return []
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    for name, value in rows:
        shown = md_inline(name, None) if "|" in name else md_code_inline(name)  # | ends a cell
        lines.append(f"| {shown} | {md_inline(compact(value), None, quote=False)} |")
    return lines
