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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.status import Status

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


def _parent_columns(obj: Any) -> set[str]:
    cols: set[str] = set()
    for p in getattr(obj, "parents", []) or []:
        out = getattr(p, "output", None)
        cols |= set(getattr(out, "column_names", None) or [])
    return cols


def _step_details(obj: Any, s: dict[str, Any], status: str | None) -> dict[str, Any]:
    """The stored output of a finished step: rows, columns (output first), sample, plots."""
    from dreamer_lab.notebook.plots import ordered_columns, step_plots

    record = obj.record
    ds = obj.output.dataset
    parents = _parent_columns(obj)
    columns = ordered_columns(list(ds.column_names), parents)
    s["rows"] = ds.num_rows
    s["columns"] = columns
    rows = ds.select(range(min(SAMPLE_ROWS, ds.num_rows))).to_list()
    s["sample"] = [{k: _short(r[k]) for k in columns} for r in rows]
    s["usage"] = _usage(record)
    run_seconds = (record.get("timings") or {}).get("seconds")
    if run_seconds:
        s["run_seconds"] = run_seconds
        s["rows_per_s"] = round(ds.num_rows / run_seconds, 1) if run_seconds > 0 else None
    s["plots"] = step_plots(ds, columns, parents)
    s["status"] = status or (Status.CACHED if obj.cache_hit else Status.COMPUTED)
    return s


def _trainer_details(obj: Any, s: dict[str, Any], status: str | None) -> dict[str, Any]:
    """A trainer: loss curves, learning rate, final metrics and its place in the lineage."""
    from dreamer_lab.notebook.plots import rounded, trainer_plots

    s["kind"] = obj.kind_name()
    s["fingerprint"] = obj.fingerprint
    s["parents"] = _trainer_parents(obj)
    if obj.cache_hit is None and status is None:
        s["status"] = "not trained"  # summarized before train(): nothing happened yet
    if obj.cache_hit is not None and status not in (Status.FAILED, Status.RUNNING):
        s["usage"] = _usage(obj.record)
        s["status"] = status or (Status.CACHED if obj.cache_hit else Status.COMPUTED)
        s["metrics"] = {k: rounded(v) for k, v in obj.metrics.items()}
    s["plots"] = trainer_plots(obj.loss_history)
    return s


def _trainer_parents(obj: Any) -> list[dict[str, Any]]:
    """The steps a trainer's record names as its data (its place in the lineage)."""
    try:
        record = obj.record if obj.cache_hit is not None else {}
    except Exception:  # noqa: BLE001 - an untrained trainer has no record
        record = {}
    out: dict[str, dict[str, Any]] = {}
    for use, ref in (record.get("inputs") or {}).items():
        if isinstance(ref, dict) and ref.get("step"):
            item = out.setdefault(
                ref["step"], {"name": ref.get("name"), "fingerprint": ref["step"]}
            )
            item.setdefault("uses", []).append(f"{use}: {ref.get('column')}")
    return list(out.values())


def trainer_live(ws: Any, progress: dict[str, Any]) -> dict[str, Any]:
    """Summary fields of a training run in progress, from its progress file and log."""
    from dreamer_lab.notebook.plots import rounded, trainer_plots

    live: dict[str, Any] = {
        "training": {
            k: rounded(progress.get(k))
            for k in ("step", "max_steps", "epoch", "loss", "eta_seconds")
            if progress.get(k) is not None
        }
    }
    fp = progress.get("fingerprint")
    if isinstance(fp, str) and fp.isalnum():
        path = ws.path / "checkpoints" / fp / "history.jsonl"
        history = []
        if path.is_file():
            import json

            for line in path.read_text().splitlines():
                try:
                    history.append(json.loads(line))
                except ValueError:
                    continue
        live["plots"] = trainer_plots(history)
        lr = live["plots"].get("lr")
        if lr:
            live["training"]["learning_rate"] = lr[-1][1]
        epochs = [h["epoch"] for h in history if isinstance(h.get("epoch"), int | float)]
        if epochs:
            live["training"]["epoch"] = rounded(epochs[-1], 3)
    return live


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
        "status": status or Status.COMPUTED,
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
        "details": [],
    }
    if obj is None:
        return s
    if is_step_class(type(obj)):
        s["kind"] = obj.kind_name()
        s["fingerprint"] = obj.fingerprint
        s["parents"] = [{"name": p.name, "fingerprint": p.fingerprint} for p in obj.parents]
        if status in (Status.FAILED, Status.RUNNING, Status.INTERRUPTED):
            return s
        return _step_details(obj, s, status)
    from dreamer_lab.trainers.base import Trainer

    if isinstance(obj, Trainer):
        return _trainer_details(obj, s, status)
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
    if s.get("rows_per_s") and s["status"] == Status.COMPUTED:
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
    if s.get("metrics"):
        lines.append("  metrics: " + _metrics_text(s["metrics"]))
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
        out += ["", f"length of {e(plots['lengths']['column'])}: {_lengths_text(plots)}"]
    if "loss" in plots:
        out += ["", f"loss: {sparkline([v for _, v in plots['loss']])} {_loss_summary(plots)}"]
    if s.get("metrics"):
        out += ["", "metrics: " + e(_metrics_text(s["metrics"]))]
    return "\n".join(out)


def _lengths_text(plots: dict[str, Any]) -> str:
    """The length histogram in words: ``12–80 characters ▂▅█▃`` or ``36 characters, every
    row`` (one length: a one-bar sparkline says nothing)."""
    bins = plots["lengths"]["bins"]
    lo, hi = bins[0][0], bins[-1][1]
    if lo == hi:
        return f"{lo} characters, every row"
    return f"{lo}–{hi} characters {sparkline([b[2] for b in bins])}"


def _metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )


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
