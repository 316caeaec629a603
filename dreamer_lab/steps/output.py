"""Views over a step's output (kept importable here; they live in :mod:`dreamer_lab.datasets`).

``OutputColumn`` is this project's earlier name of :class:`OutputDatasetColumn`.
"""

from __future__ import annotations

from dreamer_lab.datasets.outputs import (
    OutputDataset,
    OutputDatasetColumn,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
)

OutputColumn = OutputDatasetColumn

__all__ = [
    "OutputDataset",
    "OutputDatasetColumn",
    "OutputIterableDataset",
    "OutputIterableDatasetColumn",
    "OutputColumn",
]
