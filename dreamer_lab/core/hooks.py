"""Functions a higher layer lends to a lower one, so imports still point down only.

Trainers (rank 2) publish a model to the Hub with the model card that ``cards`` (rank 3)
renders, and steps a dataset with its data card; they cannot import cards, so
``dreamer_lab/__init__.py`` (top rank, run on any ``import dreamer_lab``) registers the
renderers here, importing cards only when called.
(The notebook layer lends :mod:`dreamer_lab.core.context` the running cell the same way,
and steps and trainers their live view in a notebook cell: :func:`run_viewed`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ModelCardRenderer = Callable[..., str]

_MODEL_CARD: list[ModelCardRenderer] = []


def register_model_card_renderer(render: ModelCardRenderer) -> None:
    """``render(trainer, is_synthetic, **card_options) -> str``: the README.md that
    publishing uploads (``card_options``: ``intended_use``, ``limitations``)."""
    _MODEL_CARD[:] = [render]


def render_model_card(trainer: Any, is_synthetic: bool = True, **card_options: Any) -> str:
    """The model card of ``trainer`` from the registered renderer (the cards module's)."""
    if not _MODEL_CARD:
        raise RuntimeError("no model card renderer registered; import dreamer_lab first")
    return _MODEL_CARD[0](trainer, is_synthetic, **card_options)


DataCardRenderer = Callable[..., tuple[str, dict[str, Any]]]

_DATA_CARD: list[DataCardRenderer] = []


def register_data_card_renderer(render: DataCardRenderer) -> None:
    """``render(step, splits, is_synthetic, **card_options) -> (README.md, card JSON)``: what a step's
    ``publish_to_hf_hub`` uploads (``splits``: ``{split: {"rows": n, "files": [...]}}``)."""
    _DATA_CARD[:] = [render]


def render_data_card(
    step: Any, splits: dict[str, dict[str, Any]], is_synthetic: bool = True, **card_options: Any
) -> tuple[str, dict[str, Any]]:
    """The data card of ``step`` from the registered renderer (the cards module's)."""
    if not _DATA_CARD:
        raise RuntimeError("no data card renderer registered; import dreamer_lab first")
    return _DATA_CARD[0](step, splits, is_synthetic, **card_options)


RunViewer = Callable[[Any, Callable[[], Any]], Any]

_RUN_VIEW: list[RunViewer] = []


def register_run_viewer(viewer: RunViewer) -> None:
    """``viewer(obj, run) -> run()``: runs a step or a trainer's training under a live view
    (the notebook layer's, shown only while a notebook cell runs)."""
    _RUN_VIEW[:] = [viewer]


def run_viewed(obj: Any, run: Callable[[], Any]) -> Any:
    """``run()``, under the registered live view of ``obj`` when there is one."""
    if not _RUN_VIEW:
        return run()
    return _RUN_VIEW[0](obj, run)
