"""dreamer_lab: reproducible synthetic data and LLM workflows in notebooks.

``import dreamer_lab`` is cheap: the public names load on first use, and heavy libraries
(torch, transformers, datasets) only when a step needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from dreamer_lab._version import __version__
from dreamer_lab.core.context import register_context_provider
from dreamer_lab.core.hooks import (
    register_data_card_renderer,
    register_model_card_renderer,
    register_run_viewer,
)

_LAZY = {
    "DataDreamer": "dreamer_lab.datadreamer",
    "explain": "dreamer_lab.api",
    "lineage": "dreamer_lab.api",
    "open_workspace": "dreamer_lab.core.workspace",
    "contamination": "dreamer_lab.contamination",
}
_SUBMODULES = {
    "steps",
    "llms",
    "embedders",
    "retrievers",
    "task_models",
    "trainers",
    "errors",
    "core",
    "datasets",
}

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"dreamer_lab.{name}")
    raise AttributeError(f"module 'dreamer_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


def _kernel_context() -> Any:
    # The notebook layer tells core where code runs (core is Jupyter-free). Registered
    # here, at import, so a kernel without ``%load_ext dreamer_lab`` records cell ids too.
    import sys

    if "IPython" not in sys.modules:
        return None
    from dreamer_lab.notebook.kernel import kernel_context

    return kernel_context()


def _hub_model_card(trainer: Any, is_synthetic: bool, **card_options: Any) -> str:
    # Trainers (rank 2) publish with the cards layer's (rank 3) model card: see core.hooks.
    from dreamer_lab.cards.model_card import hub_model_card

    return hub_model_card(trainer, is_synthetic, **card_options)


register_context_provider(_kernel_context)


def _hub_data_card(
    step: Any, splits: Any, is_synthetic: bool, **card_options: Any
) -> tuple[str, dict[str, Any]]:
    # Steps (rank 2) publish with the cards layer's (rank 3) data card: see core.hooks.
    from dreamer_lab.cards.data_card import hub_data_card

    return hub_data_card(step, splits, is_synthetic, **card_options)


register_model_card_renderer(_hub_model_card)
register_data_card_renderer(_hub_data_card)


def _notebook_view(obj: Any, run: Any) -> Any:
    # Steps and trainers (rank 2) run under the notebook layer's (rank 4) live view in a cell.
    import sys

    if "IPython" not in sys.modules:
        return run()
    from dreamer_lab.notebook.running import view_plain_run

    return view_plain_run(obj, run)


register_run_viewer(_notebook_view)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext dreamer_lab``."""
    from dreamer_lab.notebook import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext dreamer_lab``."""
    from dreamer_lab.notebook import unload_ipython_extension as _unload

    _unload(ipython)
