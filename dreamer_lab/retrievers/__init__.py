"""Retrievers (DataDreamer's names): queries -> the most relevant indexed texts."""

from dreamer_lab.retrievers.embedding_retriever import EmbeddingRetriever
from dreamer_lab.retrievers.retriever import Retriever

__all__ = ["Retriever", "EmbeddingRetriever"]
