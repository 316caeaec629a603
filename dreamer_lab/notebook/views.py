"""The step view: what a ``%%dream`` cell shows for its result.

:func:`summarize` turns a step (or trainer, or memoized cell) into plain data; the same data
feeds the anywidget view (:class:`StepView`, rendered with ``textContent`` only) and the
``text/plain`` and ``text/markdown`` fallbacks for static renderers. Everything that comes
from data or models is untrusted: the Markdown fallback escapes HTML and Markdown syntax,
so ``<script>``, ``<img onerror=...>`` and ``javascript:`` links stay inert text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamer_lab.notebook.step_widget import StepView

__all__ = [
    "StepOutput",
    "StepView",
    "md_escape",
    "render_markdown",
    "render_plain",
    "sparkline",
    "summarize",
]

SAMPLE_ROWS = 5
CELL_CHARS = 200
PLOT_ROWS = 5000
MAX_LABELS = 12
STATIC = Path(__file__).parent / "static"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&:])")


def md_escape(text: Any) -> str:
    """Escape text for Markdown: every HTML and Markdown character is backslash-escaped.

    CommonMark renders a backslash-escaped ``<``, ``&``, ``[`` ... as the literal character,
    so tags, entities, links and autolinks in model output stay text in every renderer.
    """
    s = _MD_SPECIAL.sub(r"\\\1", str(text))
    return s.replace("\r", " ").replace("\n", " ")


def _short(value: Any, limit: int = CELL_CHARS) -> str:
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _usage(record: dict[str, Any]) -> dict[str, Any]:
    """Token and cost counts, wherever the step recorded them (``usage`` or ``stats``)."""
    out: dict[str, Any] = {}
    for key in ("usage", "stats"):
        src = record.get(key)
        if isinstance(src, dict):
            for k in ("prompt_tokens", "completion_tokens", "total_tokens", "tokens", "cost"):
                if isinstance(src.get(k), int | float):
                    out.setdefault(k, src[k])
    if "tokens" not in out and ("prompt_tokens" in out or "completion_tokens" in out):
        out["tokens"] = out.get("prompt_tokens", 0) + out.get("completion_tokens", 0)
    if "total_tokens" in out:
        out["tokens"] = out.pop("total_tokens")
    return out


def _length_hist(values: list[str], bins: int = 10) -> list[list[float]]:
    lengths = [len(v) for v in values]
    lo, hi = min(lengths), max(lengths)
    if lo == hi:
        return [[lo, hi, len(lengths)]]
    width = (hi - lo) / bins
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, int((n - lo) / width))] += 1
    return [
        [round(lo + i * width, 1), round(lo + (i + 1) * width, 1), c] for i, c in enumerate(counts)
    ]


def _plots(dataset: Any) -> dict[str, Any]:
    plots: dict[str, Any] = {}
    n = min(dataset.num_rows, PLOT_ROWS)
    if n:
        part = dataset.select(range(n))
        for col in dataset.column_names:
            values = part[col]
            if "lengths" not in plots and values and all(isinstance(v, str) for v in values):
                distinct = Counter(values)
                if len(distinct) <= MAX_LABELS and len(distinct) < n:
                    plots.setdefault("labels", {"column": col, "counts": distinct.most_common()})
                else:
                    plots["lengths"] = {"column": col, "bins": _length_hist(values)}
            elif (
                "labels" not in plots
                and values
                and all(isinstance(v, bool | int) for v in values)
                and len(set(values)) <= MAX_LABELS
                and len(set(values)) < n
            ):
                counts = Counter(values).most_common()
                plots["labels"] = {"column": col, "counts": [[str(k), c] for k, c in counts]}
    return plots


def _loss_curve(history: Any) -> list[list[float]]:
    """``[[step, loss], ...]`` from :attr:`Trainer.loss_history` (the entries the trainer
    logged: dicts with ``step`` and ``loss``; eval-only entries are skipped)."""
    out = []
    for i, item in enumerate(history if isinstance(history, list) else []):
        if isinstance(item, dict) and isinstance(item.get("loss"), int | float):
            out.append([item.get("step", i), float(item["loss"])])
    return out


def summarize(
    obj: Any,
    *,
    label: str | None = None,
    status: str | None = None,
    why: str | None = None,
    error: str | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Plain, JSON-able data describing ``obj`` (a step, a trainer, or a cell result)."""
    from dreamer_lab.notebook.catalog import is_step_class

    s: dict[str, Any] = {
        "name": label or getattr(obj, "name", None) or type(obj).__name__,
        "kind": type(obj).__name__,
        "status": status or "done",
        "cache_hit": getattr(obj, "cache_hit", None),
        "why": why,
        "error": error,
        "fingerprint": None,
        "parents": [],
        "rows": None,
        "columns": [],
        "sample": [],
        "usage": {},
        "seconds": seconds,
        "rows_per_s": None,
        "plots": {},
    }
    if obj is None:
        return s
    if is_step_class(type(obj)):
        s["kind"] = obj.kind_name()
        s["fingerprint"] = obj.fingerprint
        s["parents"] = [{"name": p.name, "fingerprint": p.fingerprint} for p in obj.parents]
        if status in ("failed", "running"):
            return s
        record = obj.record
        ds = obj.output.dataset
        s["rows"] = ds.num_rows
        s["columns"] = list(ds.column_names)
        rows = ds.select(range(min(SAMPLE_ROWS, ds.num_rows))).to_list()
        s["sample"] = [{k: _short(v) for k, v in r.items()} for r in rows]
        s["usage"] = _usage(record)
        run_seconds = (record.get("timings") or {}).get("seconds")
        if run_seconds:
            s["run_seconds"] = run_seconds
            s["rows_per_s"] = round(ds.num_rows / run_seconds, 1) if run_seconds > 0 else None
        s["plots"] = _plots(ds)
        s["status"] = status or ("cached" if obj.cache_hit else "computed")
        return s
    from dreamer_lab.trainers.base import Trainer

    if isinstance(obj, Trainer):
        # The loss curve is what the trainer logged (live while training, then from its
        # record); an untrained trainer has no record yet.
        s["kind"] = obj.kind_name()
        s["fingerprint"] = obj.fingerprint
        if obj.cache_hit is not None and status not in ("failed", "running"):
            s["usage"] = _usage(obj.record)
            s["status"] = status or ("cached" if obj.cache_hit else "trained")
        loss = _loss_curve(obj.loss_history)
        if loss:
            s["plots"] = {"loss": loss}
        return s
    # Other results: whatever they expose.
    record = getattr(obj, "record", None)
    record = record if isinstance(record, dict) else {}
    fp = getattr(obj, "fingerprint", None)
    s["fingerprint"] = fp if isinstance(fp, str) else record.get("fingerprint")
    s["usage"] = _usage(record)
    return s


# -- fallbacks ------------------------------------------------------------------------------
def _headline(s: dict[str, Any]) -> str:
    bits = [s["status"]]
    if s.get("rows") is not None:
        bits.append(f"{s['rows']} rows")
    if s.get("seconds") is not None:
        bits.append(f"{s['seconds']:.2f}s")
    if s.get("rows_per_s") and s["status"] == "computed":
        bits.append(f"{s['rows_per_s']} rows/s")
    usage = s.get("usage") or {}
    if "tokens" in usage:
        bits.append(f"{usage['tokens']} tokens")
    if "cost" in usage:
        bits.append(f"${usage['cost']:.4f}")
    return ", ".join(bits)


def render_plain(s: dict[str, Any]) -> str:
    """The ``text/plain`` view."""
    lines = [f"{s['name']} ({s['kind']}): {_headline(s)}"]
    if s.get("fingerprint"):
        lines.append(f"  fingerprint {s['fingerprint']}")
    if s.get("parents"):
        lines.append("  parents: " + ", ".join(p["name"] for p in s["parents"]))
    if s.get("why"):
        lines.append("  why: " + s["why"].replace("\n", "\n       "))
    if s.get("error"):
        lines.append("  error: " + s["error"])
    if s.get("columns"):
        lines.append("  columns: " + ", ".join(s["columns"]))
    for row in s.get("sample", [])[:3]:
        lines.append("  " + " | ".join(_short(str(v), 60) for v in row.values()))
    if (s.get("plots") or {}).get("loss"):
        lines.append("  loss " + _loss_summary(s["plots"]))
    return "\n".join(lines)


def render_markdown(s: dict[str, Any]) -> str:
    """The ``text/markdown`` view; all data is escaped."""
    e = md_escape
    out = [f"**{e(s['name'])}** · {e(s['kind'])} · {e(_headline(s))}", ""]
    if s.get("fingerprint"):
        out.append(f"fingerprint `{e(s['fingerprint'])}`" + "  ")
    if s.get("parents"):
        out.append("parents: " + ", ".join(e(p["name"]) for p in s["parents"]) + "  ")
    if s.get("why"):
        out.append("why: " + e(s["why"]) + "  ")
    if s.get("error"):
        out.append("error: " + e(s["error"]) + "  ")
    if s.get("sample"):
        cols = s["columns"] or list(s["sample"][0])
        out += ["", "| " + " | ".join(e(c) for c in cols) + " |", "|" + "---|" * len(cols)]
        for row in s["sample"]:
            out.append("| " + " | ".join(e(row.get(c, "")) for c in cols) + " |")
    plots = s.get("plots") or {}
    if "labels" in plots:
        counts = ", ".join(f"{e(k)}: {c}" for k, c in plots["labels"]["counts"])
        out += ["", f"label balance ({e(plots['labels']['column'])}): {counts}"]
    if "lengths" in plots:
        bins = plots["lengths"]["bins"]
        out += ["", f"length of {e(plots['lengths']['column'])}: {sparkline([b[2] for b in bins])}"]
    if "loss" in plots:
        out += ["", f"loss: {sparkline([v for _, v in plots['loss']])} {_loss_summary(plots)}"]
    return "\n".join(out)


def _loss_summary(plots: dict[str, Any]) -> str:
    """The loss values in words: ``step 1: 5.93 → step 4: 5.71 (4 steps)``."""
    loss = plots["loss"]
    first, last = loss[0], loss[-1]
    return f"(step {first[0]}: {first[1]:.4g} → step {last[0]}: {last[1]:.4g}, {len(loss)} logged)"


def sparkline(values: list[float]) -> str:
    ticks = "▁▂▃▄▅▆▇█"
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(ticks[min(7, int(math.floor((v - lo) / span * 7.999)))] for v in values)


# -- the widget -------------------------------------------------------------------------------
def __getattr__(name: str) -> Any:
    # StepView lives in .step_widget, so that importing this module leaves anywidget unloaded.
    if name == "StepView":
        from dreamer_lab.notebook.step_widget import StepView

        return StepView
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StepOutput:
    """A cell output: the widget plus ``text/plain``/``text/markdown`` and the metadata stamp."""

    def __init__(self, summary: dict[str, Any], widget: Any = None, extra: dict | None = None):
        self.summary = summary
        self.widget = widget
        self.extra = extra or {}

    def metadata(self) -> dict[str, Any]:
        s = self.summary
        stamp = {
            "fingerprint": s.get("fingerprint"),
            "step": s.get("name"),
            "kind": s.get("kind"),
            "status": s.get("status"),
            "cache_hit": s.get("cache_hit"),
            **self.extra,
        }
        return {"dreamer_lab": stamp}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        data: dict[str, Any] = {
            "text/plain": render_plain(self.summary),
            "text/markdown": render_markdown(self.summary),
        }
        if self.widget is not None:
            bundle = self.widget._repr_mimebundle_()
            bundle = bundle[0] if isinstance(bundle, tuple) else bundle
            for k, v in (bundle or {}).items():
                if k != "text/plain":
                    data[k] = v
        return data, self.metadata()

    def __repr__(self) -> str:
        return render_plain(self.summary)
