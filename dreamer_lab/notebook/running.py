"""Run one ``%%dream`` step or trainer under its live view.

The view shows ``running`` with one progress number and an ETA (from the step's progress
file; for a trainer also its live loss curve, learning rate and epoch), then the final
summary. Library output and warnings printed meanwhile go to the view's collapsed details
(:mod:`.quiet`). An interrupt marks the view ``interrupted`` and ends the cell with one
line: finished requests stay in the request cache, so running the cell again resumes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.core.status import Status
from dreamer_lab.errors import StepInterrupted
from dreamer_lab.notebook.views import StepOutput, summarize, trainer_live


def run_with_view(
    build: Callable[[], Any], label: str, kind: str, *, quiet: bool, show_widget: bool
) -> Any:
    """``build()`` under a live step view (none when ``quiet``)."""
    __tracebackhide__ = True
    from dreamer_lab.core.workspace import current_workspace

    ws = current_workspace()
    t0 = time.time()
    _VIEWING.on = True  # a trainer run inside ``build`` shows no second view
    try:
        return _run_in_view(build, label, kind, ws, t0, quiet=quiet, show_widget=show_widget)
    finally:
        _VIEWING.on = False


def _run_in_view(
    build: Callable[[], Any],
    label: str,
    kind: str,
    ws: Any,
    t0: float,
    *,
    quiet: bool,
    show_widget: bool,
) -> Any:
    __tracebackhide__ = True
    from IPython.display import display

    from dreamer_lab.notebook import quiet as quiet_mod

    summary = summarize(None, label=label, status=Status.RUNNING)
    summary["kind"] = kind
    widget = handle = None
    if not quiet:
        if show_widget:
            from dreamer_lab.notebook.step_widget import StepView

            widget = StepView(summary=summary, progress=0.0)
        handle = display(StepOutput(summary, widget), display_id=True)
    stop = threading.Event()
    poller = None
    if widget is not None:
        poller = threading.Thread(
            target=_poll_progress, args=(ws, label, widget, t0, stop), daemon=True
        )
        poller.start()
    details = None
    try:
        with quiet_mod.captured() as details:
            result = build()
    except BaseException as e:
        stop.set()
        interrupted = isinstance(e, KeyboardInterrupt)
        status = Status.INTERRUPTED if interrupted else Status.FAILED
        message = (
            "interrupted: the requests that finished are kept in the request cache; run the "
            "cell again to resume from them."
            if interrupted
            else scrub_text(f"{type(e).__name__}: {e}")
        )
        if handle is not None:
            # The message itself is printed once, under the view, by the error display.
            ended = dict(summary, status=status, seconds=time.time() - t0)
            ended["details"] = details.lines() if details is not None else []
            if widget is not None:
                widget.summary = ended
            handle.update(StepOutput(ended, widget))
        if interrupted and not isinstance(e, StepInterrupted):
            raise StepInterrupted(f"{label!r} was {message}") from None
        raise
    finally:
        stop.set()
        if poller is not None:
            poller.join(timeout=2)
    if handle is not None:
        final = _final_summary(result, label, time.time() - t0)
        final["details"] = details.lines()
        if widget is not None:
            widget.summary = final
            widget.progress = 1.0
        handle.update(StepOutput(final, widget))
    return result


#: Set while :func:`run_with_view` runs (in this thread), so nothing inside shows a second view.
_VIEWING = threading.local()


def view_plain_run(obj: Any, run: Callable[[], Any]) -> Any:
    """``run()`` of trainer ``obj``: under the live view when a plain notebook cell calls it
    (lent to trainers as :func:`dreamer_lab.core.hooks.run_viewed`); else just ``run()``.

    The view ends in the final one, so the cell's own display of ``obj`` (a cell ending in
    ``trainer.train(...)``) is skipped once rather than shown twice."""
    __tracebackhide__ = True
    ip = _running_shell()
    if ip is None or getattr(_VIEWING, "on", False):
        return run()
    magics = ip.magics_manager.registry.get("DreamMagics")
    out: list[Any] = []
    run_with_view(
        lambda: (out.append(run()), obj)[1],
        obj.name,
        type(obj).__name__,
        quiet=False,
        show_widget=bool(getattr(magics, "show_widget", True)),
    )
    _skip_cell_display(ip, obj)
    return out[0]


def _running_shell() -> Any:
    """The IPython shell running a cell now with ``%load_ext dreamer_lab`` loaded, else None
    (scripts, tests and the CLI: no shell, or no cell running)."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:
        return None
    if ip is None or getattr(ip.displayhook, "exec_result", None) is None:
        return None
    if "dreamer_lab" not in getattr(ip.extension_manager, "loaded", ()):
        return None
    return ip


def _skip_cell_display(ip: Any, obj: Any) -> None:
    """Until this cell ends, IPython displays ``obj`` as nothing (its view is shown)."""

    def shown() -> None:
        return None

    def forget(*_: Any) -> None:
        obj.__dict__.pop("_ipython_display_", None)
        ip.events.unregister("post_run_cell", forget)

    obj._ipython_display_ = shown
    ip.events.register("post_run_cell", forget)


def _final_summary(result: Any, label: str, seconds: float) -> dict[str, Any]:
    from dreamer_lab.notebook.catalog import is_step_class

    why = None
    if is_step_class(type(result)):
        why = (
            "loaded from cache: the same inputs were computed before"
            if result.cache_hit
            else str(result.explain())
        )
    return summarize(result, label=label, why=why, seconds=seconds)


def _poll_progress(ws: Any, label: str, widget: Any, t0: float, stop: threading.Event) -> None:
    """Mirror the running step's progress file into the widget (runs in a thread)."""
    pid = os.getpid()
    first: tuple[float, float] | None = None  # (time, progress) when progress first moved
    while not stop.wait(0.5):
        widget.elapsed = round(time.time() - t0, 1)
        try:
            for f in (ws.path / "locks").glob("*.progress.json"):
                data = json.loads(f.read_text())
                if data.get("pid") != pid or data.get("name") != label:
                    continue
                p = data.get("progress")
                if p is None:
                    continue
                p = float(p)
                now = time.time()
                if first is None and p > 0:
                    first = (now, p)
                widget.progress = p
                widget.eta = _eta(first, now, p, data.get("eta_seconds"))
                if data.get("max_steps") is not None:  # a trainer: its live curve
                    widget.summary = {**widget.summary, **trainer_live(ws, data)}
        except (OSError, ValueError):
            continue


def _eta(first: tuple[float, float] | None, now: float, p: float, given: Any) -> float | None:
    """Seconds left: the trainer's own estimate, else from the rate since progress began."""
    if isinstance(given, int | float):
        return round(float(given), 1)
    if first is None or p <= first[1] or p >= 1:
        return None
    rate = (now - first[0]) / (p - first[1])
    return round(rate * (1 - p), 1)
