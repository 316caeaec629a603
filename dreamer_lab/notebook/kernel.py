"""Where code runs in an IPython kernel: the notebook path and the executing cell's id.

Registered with :func:`dreamer_lab.core.context.register_context_provider` when
``dreamer_lab`` is imported (not only by ``%load_ext``), so steps and trainers run in any
kernel record their cell; IPython is imported only when it is already loaded.
"""

from __future__ import annotations

import sys


def kernel_context() -> dict[str, str | None] | None:
    """``{"notebook", "cell_id"}`` from the running IPython kernel, or None outside one."""
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except Exception:  # noqa: BLE001
        return None
    if ip is None:
        return None
    notebook = ip.user_ns.get("__session__") or ip.user_ns.get("__vsc_ipynb_file__")
    kernel = getattr(ip, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:  # noqa: BLE001
        parent = None
    cell_id = (parent.get("metadata") or {}).get("cellId") if parent else None
    return {"notebook": notebook, "cell_id": cell_id}
