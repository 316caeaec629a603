"""Workspace, fingerprints, store, lineage and locks. Nothing Jupyter-specific lives here.

Layer: rank 0 (the lowest). May import the standard library, third-party libraries
(heavy ones inside functions) and dreamer_lab.errors/_version; nothing from the layers
above and nothing Jupyter-specific (IPython, ipykernel, widgets, jupyter_server,
tornado). Higher layers lend it what it cannot import (core.context, core.hooks).
"""
