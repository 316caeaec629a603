"""Run one step or trainer under its live view.

The view shows ``running`` with one progress number and an ETA (from the step's progress
file; for a trainer also its live loss curve, learning rate and epoch), then the final
summary. Library output and warnings printed meanwhile go to the view's collapsed details
(:mod:`.quiet`). An interrupt marks the view ``interrupted`` and ends the cell with one
line: finished requests stay in the request cache, so running the cell again resumes.

``%%dream`` cells show the view at once. A step or trainer built by plain Python in a
cell gets it through :func:`view_plain_run` (lent to steps and trainers as
:func:`dreamer_lab.core.hooks.run_viewed`): a trainer's view shows at once, a step's only
once it has run for :data:`STEP_VIEW_DELAY` seconds (or printed something), so a cell of
quick steps stays as quiet as before and a long one shows its progress.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dreamer_lab.core.status import Status
from dreamer_lab.errors import StepInterrupted
from dreamer_lab.notebook.views import StepOutput, summarize, trainer_live

#: Seconds a step built by plain Python runs before its live view appears.
STEP_VIEW_DELAY = 1.0

INTERRUPTED = (
    "interrupted: the requests that finished are kept in the request cache; run the cell "
    "again to resume from them."
)
TRAINER_INTERRUPTED = (
    "interrupted: run the cell again to continue training (from its last saved checkpoint, "
    "if one was saved)."
)


def run_with_view(
    build: Callable[[], Any],
    label: str,
    kind: str,
    *,
    quiet: bool,
    show_widget: bool,
    delay: float = 0.0,
    trainer: bool = False,
) -> Any:
    """``build()`` under a live step view (none when ``quiet``; shown after ``delay``
    seconds, or at the end if it printed something, when ``delay`` > 0)."""
    __tracebackhide__ = True
    return _viewed(
        build, label, kind, quiet=quiet, show_widget=show_widget, delay=delay, trainer=trainer
    )[0]


def _viewed(
    build: Callable[[], Any],
    label: str,
    kind: str,
    *,
    quiet: bool,
    show_widget: bool,
    delay: float,
    trainer: bool = False,
) -> tuple[Any, bool]:
    """``(build(), whether a view was shown)``."""
    __tracebackhide__ = True
    from dreamer_lab.core.workspace import current_workspace

    ws = current_workspace()
    t0 = time.time()
    view = None
    if not quiet:
        summary = summarize(None, label=label, status=Status.RUNNING)
        summary["kind"] = kind
        view = LiveView(summary, ws, label, t0, show_widget=show_widget)
    _VIEWING.on = True  # a step or trainer run inside ``build`` shows no second view
    try:
        done = TRAINER_INTERRUPTED if trainer else INTERRUPTED
        return _run_in_view(build, label, view, t0, delay, done)
    finally:
        _VIEWING.on = False


def _run_in_view(
    build: Callable[[], Any],
    label: str,
    view: LiveView | None,
    t0: float,
    delay: float,
    interrupted_text: str,
) -> tuple[Any, bool]:
    __tracebackhide__ = True
    from dreamer_lab.notebook import quiet as quiet_mod

    if view is not None:
        if delay > 0:
            view.show_after(delay)
        else:
            view.show()
    details = None
    try:
        with quiet_mod.captured() as details:
            result = build()
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt | StepInterrupted)
        if view is not None:
            # The message itself is printed once, under the view, by the error display.
            lines = details.lines() if details is not None else []
            status = Status.INTERRUPTED if interrupted else Status.FAILED
            view.end(
                dict(view.summary, status=status, seconds=time.time() - t0, details=lines),
                progress=None,
                show=bool(lines),
            )
        if isinstance(e, KeyboardInterrupt):
            raise StepInterrupted(f"{label!r} was {interrupted_text}") from None
        raise
    shown = False
    if view is not None:
        final = _final_summary(result, label, time.time() - t0)
        final["details"] = details.lines()
        shown = view.end(final, progress=1.0, show=bool(final["details"]))
    return result, shown


class LiveView:
    """One cell output that shows ``running`` (progress and ETA from the progress file),
    then the final summary. :meth:`show_after` shows it from a timer thread unless the run
    ends first; a lock keeps the display and the end in order."""

    def __init__(
        self, summary: dict[str, Any], ws: Any, label: str, t0: float, *, show_widget: bool
    ):
        self.summary = summary
        self.ws, self.label, self.t0 = ws, label, t0
        self.show_widget = show_widget
        self.widget: Any = None
        self.handle: Any = None
        self._lock = threading.Lock()
        self._ended = False
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    def show(self) -> None:
        """Display the running view now (once; never after :meth:`end`)."""
        from IPython.display import display

        with self._lock:
            if self._ended or self.handle is not None:
                return
            if self.show_widget:
                from dreamer_lab.notebook.step_widget import StepView

                elapsed = round(time.time() - self.t0, 1)
                self.widget = StepView(summary=self.summary, progress=0.0, elapsed=elapsed)
            self.handle = display(StepOutput(self.summary, self.widget), display_id=True)
            if self.widget is not None:
                args = (self.ws, self.label, self.widget, self.t0, self._stop)
                self._poller = threading.Thread(target=_poll_progress, args=args, daemon=True)
                self._poller.start()

    def show_after(self, delay: float) -> None:
        """:meth:`show` in ``delay`` seconds, from a timer thread that carries this cell's
        context (so the display goes to this cell's output)."""
        context = contextvars.copy_context()

        def fire() -> None:
            with contextlib.suppress(Exception):  # a view that cannot show is no error
                context.run(self.show)

        self._timer = threading.Timer(delay, fire)
        self._timer.daemon = True
        self._timer.start()

    def end(self, final: dict[str, Any], *, progress: float | None, show: bool) -> bool:
        """Turn the view into ``final``; a view not shown yet is shown only when ``show``.
        Returns whether the cell shows the view."""
        with self._lock:
            self._ended = True
        if self._timer is not None:
            self._timer.cancel()
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=2)
        self.summary = final
        if self.handle is None:
            if not show:
                return False
            from IPython.display import display

            if self.show_widget:
                from dreamer_lab.notebook.step_widget import StepView

                self.widget = StepView(summary=final, progress=progress)
            display(StepOutput(final, self.widget))
            return True
        if self.widget is not None:
            self.widget.summary = final
            if progress is not None:
                self.widget.progress = progress
        self.handle.update(StepOutput(final, self.widget))
        return True


#: Set while :func:`run_with_view` runs (in this thread), so nothing inside shows a second view.
_VIEWING = threading.local()


def view_plain_run(obj: Any, run: Callable[[], Any]) -> Any:
    """``run()`` of step or trainer ``obj`` under its live view when a plain notebook cell
    runs it (lent as :func:`dreamer_lab.core.hooks.run_viewed`); else just ``run()``.

    A trainer's view shows at once, a step's after :data:`STEP_VIEW_DELAY` seconds. A view
    that was shown ends in the final one, so the cell's own display of ``obj`` (a cell
    ending in ``trainer.train(...)`` or ``Prompt(...)``) is skipped once rather than shown
    twice. An interrupt ends the cell in one line (:class:`StepInterrupted`)."""
    __tracebackhide__ = True
    ip = _running_shell()
    if ip is None or getattr(_VIEWING, "on", False):
        return run()
    from dreamer_lab.notebook.catalog import is_step_class, is_trainer_class

    magics = ip.magics_manager.registry.get("DreamMagics")
    out: list[Any] = []
    _, shown = _viewed(
        lambda: (out.append(run()), obj)[1],
        obj.name,
        type(obj).__name__,
        quiet=False,
        show_widget=bool(getattr(magics, "show_widget", True)),
        delay=STEP_VIEW_DELAY if is_step_class(type(obj)) else 0.0,
        trainer=is_trainer_class(type(obj)),
    )
    if shown:
        _skip_cell_display(ip, obj)
    return out[0]


def _running_shell() -> Any:
    """The IPython shell running a cell now, in this process's main thread, with
    ``%load_ext dreamer_lab`` loaded; else None (scripts, tests and the CLI: no shell or no
    cell running; a worker thread; a forked child running a background step)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:
        return None
    if ip is None or getattr(ip.displayhook, "exec_result", None) is None:
        return None
    if "dreamer_lab" not in getattr(ip.extension_manager, "loaded", ()):
        return None
    if getattr(ip, "_dreamer_lab_pid", os.getpid()) != os.getpid():
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
