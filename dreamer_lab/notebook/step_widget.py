"""The anywidget step view: imported only when a widget is built (``anywidget`` is heavy).

Reach it as ``dreamer_lab.notebook.views.StepView``; importing :mod:`.views` stays light.
"""

from __future__ import annotations

import anywidget
import traitlets

from dreamer_lab.notebook.views import STATIC


class StepView(anywidget.AnyWidget):
    """Live view of one step: status, progress, sample rows, plots (``textContent`` only)."""

    _esm = STATIC / "step_view.js"
    _css = STATIC / "dreamer.css"
    summary = traitlets.Dict().tag(sync=True)
    progress = traitlets.Float(None, allow_none=True).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    eta = traitlets.Float(None, allow_none=True).tag(sync=True)  # seconds left, when known
