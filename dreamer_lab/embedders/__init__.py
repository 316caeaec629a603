"""Embedders (DataDreamer's names): texts -> vectors, every call request-cached.

Layer: rank 1 (model backends). May import core, errors and the other rank-1 packages'
public modules; never steps, trainers, cards, report or the UIs.
"""

from dreamer_lab.embedders.embedder import Embedder
from dreamer_lab.embedders.openai_embedder import OpenAIEmbedder, OpenAIEmbedderError
from dreamer_lab.embedders.parallel_embedder import ParallelEmbedder
from dreamer_lab.embedders.sentence_transformers_embedder import SentenceTransformersEmbedder
from dreamer_lab.embedders.together_embedder import TogetherEmbedder

__all__ = [
    "Embedder",
    "SentenceTransformersEmbedder",
    "OpenAIEmbedder",
    "OpenAIEmbedderError",
    "TogetherEmbedder",
    "ParallelEmbedder",
]
