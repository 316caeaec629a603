"""Where a step runs: notebook path, cell id, library versions, host."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from dreamer_lab._version import __version__


def notebook_context() -> dict[str, str | None]:
    """The notebook path and the id of the executing cell, when running in Jupyter."""
    notebook = os.environ.get("JPY_SESSION_NAME")
    cell_id = None
    ip = None
    if "IPython" in sys.modules:
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except Exception:  # noqa: BLE001
            ip = None
    if ip is not None:
        notebook = notebook or ip.user_ns.get("__session__") or ip.user_ns.get("__vsc_ipynb_file__")
        kernel = getattr(ip, "kernel", None)
        try:
            parent = kernel.get_parent() if kernel is not None else None
        except Exception:  # noqa: BLE001
            parent = None
        if parent:
            cell_id = (parent.get("metadata") or {}).get("cellId")
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
