"""Jupyter server extension: authenticated, read-only REST routes over workspaces.

Enabled by ``jupyter-config/server-config/dreamer_lab.json`` (installed with the wheel).
Importing this package imports nothing heavy; the routes load on server start.

Layer: rank 4 (a UI). May import every layer below (read-only use of core); never
the notebook layer's private modules.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "dreamer_lab.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the ``/dreamer-lab/api/...`` routes on a running Jupyter server."""
    from dreamer_lab.server.handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("dreamer_lab: lineage routes registered under /dreamer-lab/api/")


# ``jupyter server extension list`` looks for the legacy name too.
load_jupyter_server_extension = _load_jupyter_server_extension
