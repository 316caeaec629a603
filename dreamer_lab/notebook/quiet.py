"""Library noise in notebooks: progress bars and known-harmless warnings stay out of cells.

dreamer_lab's views own progress (one number, with an ETA). ``%load_ext dreamer_lab`` turns
off the progress bars of datasets, transformers and huggingface_hub (and dreamer_lab's own
``tqdm`` bar), silences transformers' advisory logging and ignores known-harmless warnings
(deprecations raised inside those libraries). While a ``%%dream`` cell runs,
:func:`captured` records whatever the libraries still print or warn, for the view's
collapsed "details" area. ``unload`` restores what ``install`` changed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from dreamer_lab.errors import DreamerWarning

#: Environment switches read when the libraries are imported (set only where unset).
ENV = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DREAMER_LAB_PROGRESS_BARS": "0",
}
#: Libraries whose deprecation and advisory warnings are known to be harmless here.
LIBRARIES = r"(transformers|datasets|huggingface_hub|torch|trl|peft|accelerate|tokenizers)"
_HARMLESS = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)
_LOGGERS = ("transformers", "datasets", "huggingface_hub", "accelerate", "trl", "peft")

_state: dict[str, Any] = {}


def install() -> None:
    """Turn library progress bars and known-harmless warnings off for this kernel."""
    if _state:
        return
    _state["env"] = {k: os.environ.get(k) for k in ENV}
    for k, v in ENV.items():
        os.environ.setdefault(k, v)
    _state["filters"] = list(warnings.filters)
    for category in _HARMLESS:
        warnings.filterwarnings("ignore", category=category, module=LIBRARIES + r"(\.|$)")
    _set_library_switches(enabled=False)


def unload() -> None:
    """Undo :func:`install`."""
    if not _state:
        return
    for k, v in _state["env"].items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    warnings.filters[:] = _state["filters"]
    _set_library_switches(enabled=True)
    _state.clear()


def _set_library_switches(*, enabled: bool) -> None:
    """The libraries' own progress-bar and verbosity switches, for those already imported."""
    with warnings.catch_warnings():  # "env var has priority" when the user set one
        warnings.simplefilter("ignore")
        _switch(enabled)


def _switch(enabled: bool) -> None:
    with contextlib.suppress(Exception):
        if "datasets" in sys.modules:
            import datasets

            (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    with contextlib.suppress(Exception):
        if "huggingface_hub" in sys.modules:
            from huggingface_hub import utils as hub_utils

            (hub_utils.enable_progress_bars if enabled else hub_utils.disable_progress_bars)()
    with contextlib.suppress(Exception):
        if "transformers" in sys.modules:
            from transformers.utils import logging as tf_logging

            if enabled:
                tf_logging.enable_progress_bar()
                tf_logging.set_verbosity_warning()
            else:
                tf_logging.disable_progress_bar()
                tf_logging.set_verbosity_error()


class Details:
    """What the libraries printed or warned while a step ran (for the collapsed area)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.warnings: list[str] = []

    def lines(self, limit: int = 200) -> list[str]:
        """Captured output and warnings, without progress-bar redraws, at most ``limit``."""
        out = []
        for raw in self.stream.getvalue().replace("\r", "\n").splitlines():
            line = raw.rstrip()
            if line and (not out or out[-1] != line):
                out.append(line)
        out += self.warnings
        return out[-limit:]


@contextlib.contextmanager
def captured() -> Iterator[Details]:
    """Capture stdout/stderr, library log records and warnings into a :class:`Details`."""
    details = Details()
    handler = logging.StreamHandler(details.stream)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    saved = [(lg, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    streams = _swap_handler_streams(loggers, details.stream)
    installed = bool(_state)
    if not installed:
        _set_library_switches(enabled=False)
    stderr = sys.stderr
    own: list[Any] = []  # dreamer_lab's own warnings stay visible: re-emitted after
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(details.stream),
            contextlib.redirect_stderr(details.stream),
        ):
            warnings.simplefilter("always")
            try:
                yield details
            finally:
                own = [w for w in caught if issubclass(w.category, DreamerWarning)]
                details.warnings = [
                    f"{w.category.__name__}: {w.message} "
                    f"({os.path.basename(w.filename)}:{w.lineno})"
                    for w in caught
                    if not issubclass(w.category, DreamerWarning)
                ]
    finally:
        for lg, propagate in saved:
            lg.removeHandler(handler)
            lg.propagate = propagate
        for h, stream in streams:
            h.setStream(stream)
        for lg in loggers:  # handlers a library created while its output was captured
            for h in lg.handlers:
                if getattr(h, "stream", None) is details.stream and h is not handler:
                    h.setStream(stderr)
        if not installed:
            _set_library_switches(enabled=True)
        for w in own:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _swap_handler_streams(loggers: list[logging.Logger], stream: Any) -> list[tuple[Any, Any]]:
    """Point the libraries' own stderr handlers at ``stream``; returns what to restore."""
    swapped = []
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.StreamHandler) and h.stream is not stream:
                swapped.append((h, h.setStream(stream)))
    return swapped
