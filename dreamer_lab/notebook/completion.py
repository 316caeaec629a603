"""Tab completion for ``%dream`` commands, ``%%dream`` step kinds and their options."""

from __future__ import annotations

import re
from typing import Any

from IPython.core.completer import SimpleCompletion, completion_matcher

_KIND_BEFORE_PAREN = re.compile(r"([A-Za-z_][\w.]*)\s*\((?:[^()]|\([^()]*\))*$")


def _result(items: list[tuple[str, str]], fragment: str) -> dict[str, Any]:
    return {
        "completions": [
            SimpleCompletion(text=t, type=k) for t, k in items if t.startswith(fragment)
        ],
        "matched_fragment": fragment,
        "suppress": False,
    }


def _word_before(text: str) -> str:
    m = re.search(r"[\w.]*$", text)
    return m.group(0) if m else ""


@completion_matcher(identifier="dreamer_lab", api_version=2, priority=10)
def dream_matcher(context: Any) -> dict[str, Any]:
    """Complete subcommands after ``%dream``; kinds and ``option=`` on ``%%dream``'s first line."""
    from IPython import get_ipython

    from dreamer_lab.notebook.catalog import catalog_names, options_for, resolve_kind
    from dreamer_lab.notebook.parser import SUBCOMMANDS

    ip = get_ipython()
    ns = ip.user_ns if ip is not None else {}
    before = context.text_until_cursor
    fragment = _word_before(before)
    empty: dict[str, Any] = {"completions": [], "suppress": False}
    cell_magic = context.cursor_line == 0 and context.full_text.lstrip().startswith("%%dream")
    if not cell_magic and before.lstrip().startswith("%dream"):
        words = before.lstrip()[len("%dream") :].split()
        typing_first = len(words) == 0 or (len(words) == 1 and not before.endswith(" "))
        if typing_first:
            return _result([(k, "command") for k in SUBCOMMANDS], fragment)
        if words[0] == "help":
            return _result([(k, "class") for k in catalog_names(ns)], fragment)
        if words[0] == "why":
            names = [k for k, v in ns.items() if hasattr(v, "fingerprint") and hasattr(v, "record")]
            return _result([(n, "instance") for n in names], fragment)
        if words[0] == "config":
            return _result([(k + "=", "param") for k in ("llm", "budget", "workspace")], fragment)
        return empty
    if not cell_magic:
        return empty
    body = before.split("%%dream", 1)[1]
    m = _KIND_BEFORE_PAREN.search(body)
    if m:  # inside the parentheses: option names
        try:
            opts = options_for(resolve_kind(m.group(1), ns))
        except Exception:  # noqa: BLE001 - unknown kind while typing: nothing to offer
            return empty
        return _result([(k + "=", "param") for k in opts.all_names()], fragment)
    if "=" in body and "(" not in body:  # after `result =`: step kinds
        return _result([(k, "class") for k in catalog_names(ns)], fragment)
    return empty
