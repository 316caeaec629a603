"""Workspace, fingerprints, store, lineage and locks. Nothing Jupyter-specific lives here."""
