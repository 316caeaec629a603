"""Pieces of the wizards: generation options as code, default training columns, and the
card widget's export result."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def generation_parts(v: dict[str, Any], opts: Any) -> list[str]:
    """``option=value`` texts of the generation options the form sets (defaults left out)."""
    if not opts.caps_generation():
        return []
    parts = []
    new = int(v.get("max_new_tokens") or 0)
    if new:
        parts.append(f"max_new_tokens={new}")
    for key in ("temperature", "top_p"):
        value = v.get(key)
        if value not in (None, "") and float(value) != 1.0:
            parts.append(f"{key}={float(value)}")
    seed = str(v.get("seed") or "").strip()
    if seed:
        parts.append(f"seed={int(seed)}")
    stop = str(v.get("stop") or "")
    if stop:
        parts.append(f"stop=[{stop!r}]")
    if int(v.get("batch_size") or 0) > 0:
        parts.append(f"batch_size={int(v['batch_size'])}")
    return parts


def training_columns(steps: dict[str, Any]) -> tuple[list[str], str, str]:
    """Every ``step.output['column']`` and the default input and output: the newest step's
    first text column as input, another of its columns (a label or text) as output."""
    cols: list[str] = []
    text_in = text_out = ""
    for var, step in steps.items():
        features = step.output.dataset.features
        names = list(step.output.column_names)
        cols += [f"{var}.output[{c!r}]" for c in names]
        texts = [
            c
            for c in names
            if getattr(features.get(c), "dtype", None) in ("string", "large_string")
        ]
        if texts:
            first = next((c for c in texts if c in ("text", "generations", "inputs")), texts[0])
            rest = [c for c in names if c != first]
            text_in = f"{var}.output[{first!r}]"
            text_out = f"{var}.output[{rest[-1]!r}]" if rest else ""
    return cols, text_in or (cols or [""])[0], text_out or (cols or [""])[-1]


class Exported:
    """What an export wrote, readable in a cell: ``Saved the dataset card of ...``."""

    def __init__(self, kind: str, target: str, markdown: Path, json_path: Path):
        self.kind, self.target, self.markdown, self.json = kind, target, markdown, json_path

    def __str__(self) -> str:
        return (
            f"Saved the {self.kind} card of {self.target!r} to {self.markdown} "
            f"(and its data to {self.json.name})."
        )

    __repr__ = __str__

    def __fspath__(self) -> str:
        return str(self.markdown)
