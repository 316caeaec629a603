"""The cards a notebook saved, read back as saved (with the user's own text).

A report shows exactly these cards, none it invents: the folders a code cell passes to
``.save("...")`` (``card_for(...).save``, the card widget's inserted code), the
``README.md``/``card.json`` paths a cell printed, and the card folders right next to the
notebook (where the card widget's Export button writes, which leaves no trace in the cells),
whose ``card.json`` names a step or model of this notebook's lineage. Sentences of the cards'
placeholder text ("Edit this section to ...") are left out when shown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_SAVE = re.compile(r"""\.save\(\s*[rR]?(["'])([^"'\n]+)\1\s*\)""")
_PRINTED = re.compile(r"(\S+)/(?:README\.md|card\.json)\b")
_PLACEHOLDER = re.compile(r"\s*Edit this section to [^.]*\.")


def _candidates(cells: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for c in cells:
        if c.get("cell_type") != "code":
            continue
        found += [m.group(2) for m in _SAVE.finditer(c.get("source") or "")]
        for o in c.get("outputs") or []:
            if o.get("type") == "text":
                found += [m.group(1) for m in _PRINTED.finditer(o.get("text") or "")]
    return list(dict.fromkeys(found))


def saved_cards(
    notebook_path: Path,
    cells: list[dict[str, Any]],
    fingerprints: set[str],
    workspace_path: Path | None = None,
) -> list[Any]:
    """The cards the notebook saved (as :class:`~dreamer_lab.cards.card.Card`), in order,
    restricted to those describing a step or model in ``fingerprints``. Relative folders
    are looked up next to the notebook, then next to its workspace (the folder the notebook
    ran in when the report is written from an executed copy elsewhere)."""
    from dreamer_lab.cards.card import Card

    bases = [notebook_path.resolve().parent]
    if workspace_path is not None:
        bases.append(Path(workspace_path).resolve().parent)
    cards: list[Any] = []
    seen: set[Path] = set()
    beside = [str(d) for d in sorted(bases[0].iterdir()) if (d / "card.json").is_file()]
    for text in _candidates(cells) + beside:
        folder = _find(text, bases)
        if folder is None or folder in seen:
            continue
        data_file, md_file = folder / "card.json", folder / "README.md"
        seen.add(folder)
        try:
            data = json.loads(data_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("fingerprint") not in fingerprints:
            continue
        kind = "model" if data.get("type") == "model_card" else "dataset"
        cards.append(Card(kind, md_file.read_text(encoding="utf-8"), data))
    return cards


def _find(text: str, bases: list[Path]) -> Path | None:
    """The folder ``text`` names that holds a saved card (README.md and card.json)."""
    for base in bases:
        folder = (Path(text) if Path(text).is_absolute() else base / text).resolve()
        if (folder / "card.json").is_file() and (folder / "README.md").is_file():
            return folder
    return None


def without_placeholders(text: str) -> str:
    """``text`` without the cards' "Edit this section to ..." instructions."""
    return _PLACEHOLDER.sub("", text)
