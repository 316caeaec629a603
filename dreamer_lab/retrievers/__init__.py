"""Retrievers (DataDreamer's names): queries -> the most relevant indexed texts.

Layer: rank 1 (model backends). May import core, errors and the other rank-1
packages' public modules; never steps, trainers, cards, report or the UIs.
"""

from dreamer_lab.retrievers.embedding_retriever import EmbeddingRetriever
from dreamer_lab.retrievers.parallel_retriever import ParallelRetriever
from dreamer_lab.retrievers.retriever import Retriever

__all__ = ["Retriever", "EmbeddingRetriever", "ParallelRetriever"]
