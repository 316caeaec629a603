"""dreamer_lab in notebooks: ``%load_ext dreamer_lab`` registers ``%%dream`` and ``%dream``.

Loading is cheap: no torch, transformers, datasets or widget library is imported until a
cell needs it. Errors raised by dreamer_lab (bad options, bad templates, failed steps) are
shown as one short message naming the problem and the fix, not as a traceback through
dreamer_lab's internals.

Layer: rank 4 (a UI). May import every layer below; the only layer that imports
IPython and widget libraries. Lends core the running cell (notebook.kernel).
"""

from __future__ import annotations

import os
import traceback
from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension", "wizard", "card"]


def _user_errors() -> tuple[type[BaseException], ...]:
    from dreamer_lab.errors import (
        DreamerError,
        UnhashableValueError,
        UntrustedObjectError,
        WorkspaceError,
    )

    return (DreamerError, UnhashableValueError, UntrustedObjectError, WorkspaceError)


def _is_user_frame(frame: traceback.FrameSummary) -> bool:
    from dreamer_lab.core.fingerprint import _DREAMER_DIR, _LIB_PREFIXES

    name = frame.filename
    if name.startswith("<ipython-input") or name.startswith("<dream"):
        return True
    if name.startswith("<"):
        return False
    real = os.path.realpath(name)
    if real.startswith(_DREAMER_DIR + os.sep):
        return False
    return not any(real.startswith(prefix + os.sep) for prefix in _LIB_PREFIXES)


def short_error_lines(etype: type, value: BaseException) -> list[str]:
    """One line for the error; for a failed step, the frames of the user's own code."""
    from dreamer_lab.core.secrets import scrub_text

    lines = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {scrub_text(str(value))}"]
    cause = value.__cause__
    if cause is not None and cause.__traceback__ is not None:
        frames = [f for f in traceback.extract_tb(cause.__traceback__) if _is_user_frame(f)]
        if frames:
            lines.append("In your code:")
            lines.append(scrub_text("".join(traceback.format_list(frames)).rstrip()))
    return lines


def _short_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
    stb = short_error_lines(etype, value)
    shell._showtraceback(etype, value, stb)
    return None


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, the short error display and tab completion."""
    from dreamer_lab.notebook import quiet
    from dreamer_lab.notebook.completion import dream_matcher
    from dreamer_lab.notebook.magics import DreamMagics

    quiet.install()
    ipython._dreamer_lab_pid = os.getpid()  # a forked child (background step) shows no views
    ipython.register_magics(DreamMagics)
    _register_views(ipython)
    if not ipython.custom_exceptions or getattr(ipython, "_dreamer_lab_exc", False):
        ipython.set_custom_exc(_user_errors(), _short_error)
        ipython._dreamer_lab_exc = True
    completer = getattr(ipython, "Completer", None)
    if completer is not None and dream_matcher not in completer.custom_matchers:
        completer.custom_matchers.append(dream_matcher)


#: Classes shown with the step view when a plain Python cell ends with one (by name, so
#: nothing is imported until such an object is displayed).
VIEWED = (("dreamer_lab.steps.step", "Step"), ("dreamer_lab.trainers.base", "Trainer"))


def step_view_bundle(obj: Any) -> Any:
    """The step (or trainer) view of ``obj`` as a mime bundle, for IPython's display."""
    from dreamer_lab.notebook.views import StepOutput, summarize

    summary = summarize(obj)
    widget = None
    try:
        from dreamer_lab.notebook.step_widget import StepView

        widget = StepView(summary=summary, progress=1.0)
    except Exception:  # noqa: BLE001 - no widget library: the text forms still show
        widget = None
    return StepOutput(summary, widget)._repr_mimebundle_()


def _register_views(ipython: Any) -> None:
    formatter = getattr(getattr(ipython, "display_formatter", None), "mimebundle_formatter", None)
    if formatter is None:
        return
    for module, name in VIEWED:
        formatter.for_type_by_name(module, name, step_view_bundle)


def _unregister_views(ipython: Any) -> None:
    formatter = getattr(getattr(ipython, "display_formatter", None), "mimebundle_formatter", None)
    if formatter is None:
        return
    for module, name in VIEWED:
        formatter.deferred_printers.pop((module, name), None)
        for cls in list(formatter.type_printers):
            if cls.__module__ == module and cls.__name__ == name:
                formatter.type_printers.pop(cls, None)


def unload_ipython_extension(ipython: Any) -> None:
    from dreamer_lab.notebook import quiet
    from dreamer_lab.notebook.completion import dream_matcher

    quiet.unload()
    _unregister_views(ipython)
    magics = ipython.magics_manager.registry.get("DreamMagics")
    if magics is not None and getattr(magics, "_session", None) is not None:
        magics._session.stop()  # the session `%dream config workspace=/executor=` opened
        magics._session = None
    if getattr(ipython, "_dreamer_lab_exc", False):
        ipython.set_custom_exc((), None)
        ipython._dreamer_lab_exc = False
    completer = getattr(ipython, "Completer", None)
    if completer is not None and dream_matcher in completer.custom_matchers:
        completer.custom_matchers.remove(dream_matcher)


def __getattr__(name: str) -> Any:
    if name == "wizard":
        from dreamer_lab.notebook.wizards import wizard

        return wizard
    if name == "card":
        from dreamer_lab.notebook.wizards import card

        return card
    raise AttributeError(name)
