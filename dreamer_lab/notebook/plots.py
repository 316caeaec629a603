"""Plot data of the step and trainer views: plain lists the front end draws as labelled SVG.

* Columns are ordered output first: what the step produced (its generations, results ...)
  before what it copied from its inputs or rendered to prompt the model.
* Label balance only for low-cardinality output columns of short values (a handful of
  categories), with the category names; length histograms of the generated text, in
  characters.
* Trainers: train and validation loss, learning rate per step, final metrics.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

PLOT_ROWS = 5000
MAX_LABELS = 12
MAX_LABEL_CHARS = 40
#: Columns that hold what was sent to the model or given to the step, not its output.
INPUT_LIKE = ("prompts", "attributes", "inputs", "instruction", "texts", "queries")
#: Columns of free generated text (DataDreamer's prompt steps write ``generations``): their
#: lengths are plotted, never their "label balance", however few distinct values they hold.
FREE_TEXT = ("generations", "generation", "completions", "responses", "outputs")


def ordered_columns(columns: list[str], parent_columns: set[str]) -> list[str]:
    """``columns`` with the step's own output first, copied/input-like columns last."""

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        i, col = item
        copied = col in parent_columns or col in INPUT_LIKE
        return (1 if copied else 0, i)

    return [c for _, c in sorted(enumerate(columns), key=rank)]


def length_hist(values: list[str], bins: int = 10) -> list[list[float]]:
    """``[[low, high, count], ...]`` of text lengths in characters."""
    lengths = [len(v) for v in values]
    lo, hi = min(lengths), max(lengths)
    if lo == hi:
        return [[lo, hi, len(lengths)]]
    width = (hi - lo) / bins
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, int((n - lo) / width))] += 1
    return [[round(lo + i * width), round(lo + (i + 1) * width), c] for i, c in enumerate(counts)]


def _label_counts(values: list[Any], n: int) -> list[list[Any]] | None:
    """Category counts when ``values`` are a few short categories, else None: at least two
    distinct values, at most :data:`MAX_LABELS` and at most half as many as rows (so that a
    category holds two rows on average), each at most :data:`MAX_LABEL_CHARS` long."""
    if not values or not all(isinstance(v, str | bool | int) for v in values):
        return None
    distinct = Counter(values)
    if not 2 <= len(distinct) <= min(MAX_LABELS, n // 2) or n < 4:
        return None
    if any(len(str(k)) > MAX_LABEL_CHARS for k in distinct):
        return None
    return [[str(k), c] for k, c in distinct.most_common()]


def step_plots(dataset: Any, columns: list[str], parent_columns: set[str]) -> dict[str, Any]:
    """Label balance of the first categorical output column and lengths of the first text
    output column (``columns`` in view order)."""
    plots: dict[str, Any] = {}
    n = min(dataset.num_rows, PLOT_ROWS)
    if not n:
        return plots
    part = dataset.select(range(n))
    outputs = [c for c in columns if c not in parent_columns and c not in INPUT_LIKE]
    for col in outputs or columns[:1]:
        values = part[col]
        counts = None if col in FREE_TEXT else _label_counts(values, n)
        if counts is not None:
            plots.setdefault(
                "labels", {"column": col, "counts": counts, "x": "category", "y": "rows"}
            )
        elif "lengths" not in plots and values and all(isinstance(v, str) for v in values):
            plots["lengths"] = {
                "column": col,
                "bins": length_hist(values),
                "x": "length (characters)",
                "y": "rows",
            }
    return plots


def _series(history: list[dict[str, Any]], key: str) -> list[list[float]]:
    out = []
    for i, item in enumerate(history):
        if isinstance(item, dict) and isinstance(item.get(key), int | float):
            out.append([item.get("step", i), float(item[key])])
    return out


def trainer_plots(history: Any) -> dict[str, Any]:
    """Train loss, validation loss and learning rate per step from a trainer's log."""
    history = history if isinstance(history, list) else []
    plots: dict[str, Any] = {}
    for key, name in (("loss", "loss"), ("eval_loss", "eval_loss"), ("learning_rate", "lr")):
        series = _series(history, key)
        if series:
            plots[name] = series
    return plots


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats to ``digits`` significant digits (for metrics shown to people)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value
