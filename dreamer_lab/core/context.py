"""Where a step runs: notebook path, cell id, library versions, host."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from typing import Any

from dreamer_lab._version import __version__

ContextProvider = Callable[[], "dict[str, str | None] | None"]

# Filled by the layers that know where code runs (the notebook layer registers the IPython
# kernel's: see dreamer_lab/__init__.py); core itself imports nothing Jupyter-specific.
_PROVIDERS: list[ContextProvider] = []


def register_context_provider(provider: ContextProvider) -> None:
    """Add a function that returns ``{"notebook": ..., "cell_id": ...}`` (or None) for the
    code running now; :func:`notebook_context` asks each in order (once per function)."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def notebook_context() -> dict[str, str | None]:
    """The notebook path and the id of the executing cell, when running in Jupyter."""
    notebook = os.environ.get("JPY_SESSION_NAME")
    cell_id = None
    for provider in _PROVIDERS:
        try:
            found = provider() or {}
        except Exception:  # noqa: BLE001
            found = {}
        notebook = notebook or found.get("notebook")
        cell_id = cell_id or found.get("cell_id")
    cell_id = cell_id or os.environ.get("DREAMER_LAB_CELL_ID")
    return {"notebook": notebook, "cell_id": cell_id}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results (only those already imported)."""
    out = {"python": platform.python_version(), "dreamer_lab": __version__}
    for name in (
        "datasets",
        "pyarrow",
        "torch",
        "transformers",
        "trl",
        "peft",
        "openai",
        "sentence_transformers",
    ):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = str(getattr(mod, "__version__", "?"))
    return out


def host_info() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()}
