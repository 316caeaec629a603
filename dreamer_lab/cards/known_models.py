"""Well-known upstream models: their Hub names and the papers to cite for them.

The facts live in :mod:`dreamer_lab.core.citations` (rank 0, so trainers and backends use
them too); this module keeps the old import path.
"""

from __future__ import annotations

from dreamer_lab.core.citations import (
    KNOWN_CITATIONS,
    MINILM_CITATION,
    SENTENCE_TRANSFORMERS_CITATION,
    SMOLLM2_CITATION,
    hub_name,
    known_citations,
)

__all__ = [
    "KNOWN_CITATIONS",
    "MINILM_CITATION",
    "SENTENCE_TRANSFORMERS_CITATION",
    "SMOLLM2_CITATION",
    "hub_name",
    "known_citations",
]
