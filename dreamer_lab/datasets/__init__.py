"""Views over a step's output (DataDreamer's ``datadreamer.datasets``).

Layer: rank 1. May import core and errors; steps (rank 2) build these views, so nothing
here imports :mod:`dreamer_lab.steps`. ``datasets`` (Hugging Face) loads on first use.

- :class:`OutputDataset`: a stored (memory-mapped) ``datasets.Dataset``.
- :class:`OutputDatasetColumn`: one column of it (what later steps take as an input).
- :class:`OutputIterableDataset`: a lazy output, a streaming ``datasets.IterableDataset``
  that is never materialized unless saved.
- :class:`OutputIterableDatasetColumn`: one column of a lazy output.
"""

from dreamer_lab.datasets.outputs import (
    OutputDataset,
    OutputDatasetColumn,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
)

__all__ = [
    "OutputDataset",
    "OutputDatasetColumn",
    "OutputIterableDataset",
    "OutputIterableDatasetColumn",
]
