"""``EmbeddingRetriever``: exact nearest-neighbour search over embeddings (numpy).

The texts are embedded once through the embedder (so through its request cache: a
rebuilt index costs no model calls), L2-normalized, and kept as one float32 matrix.
A query batch is one matrix product plus a partial sort, so scores are exact cosine
similarities and ties break by position (deterministic).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.run_options import RunOptions, collect
from dreamer_lab.embedders.embedder import Embedder
from dreamer_lab.retrievers.retriever import Retriever, texts_fingerprint
from dreamer_lab.task_models.task_model import DEFAULT_BATCH_SIZE

_SEARCH_CHUNK = 64  # queries per matrix product


class EmbeddingRetriever(Retriever):
    """Retrieve the texts whose embeddings are closest (cosine) to each query's.

    Args:
        texts: the texts to search: a step column (``step.output["text"]``) or a list.
        embedder: the :class:`~dreamer_lab.embedders.Embedder` for texts and queries.
        truncate: cut texts longer than the embedder accepts (else: an error).
        index_type: a FAISS index factory string; not supported (exact search only).
        index_batch_size: texts per embedder call while indexing.
        index_instruction: prefix for the indexed texts (e.g. ``"passage: "``).
        query_instruction: prefix for queries (e.g. ``"query: "``).
        cache_folder_path: where the vectors of texts and queries are cached (the
            embedder's request cache file goes there); default: the embedder's own.
        device: unused (numpy search on CPU).
        **kwargs: passed to the embedder's ``run()``.

    Public API, for steps built on it (``Retrieve``, ``FewShotPromptWithRetrieval``,
    ``RAGPrompt``): :meth:`run` (queries -> results dicts), :meth:`search` (query
    vectors -> score and index matrices), :attr:`texts`, :attr:`embeddings`.
    """

    def __init__(
        self,
        texts: Any,
        embedder: Embedder,
        truncate: bool = False,
        index_type: str | None = None,
        index_batch_size: int = DEFAULT_BATCH_SIZE * 10,
        index_instruction: str | None = None,
        query_instruction: str | None = None,
        cache_folder_path: str | None = None,
        device: Any = None,
        **kwargs: Any,
    ):
        super().__init__(texts=texts, cache_folder_path=cache_folder_path)
        if index_type is not None:
            raise ValueError(
                f"index_type={index_type!r} needs FAISS, which this build does not use: "
                "EmbeddingRetriever searches exactly with numpy. Pass index_type=None."
            )
        if not isinstance(embedder, Embedder):
            raise TypeError(
                f"embedder must be an Embedder (e.g. SentenceTransformersEmbedder(...)), "
                f"not a {type(embedder).__name__}."
            )
        self.embedder = embedder
        self.truncate = truncate
        self.index_type = index_type
        self.index_batch_size = index_batch_size
        self.index_instruction = index_instruction
        self.query_instruction = query_instruction
        self.device = device
        self.kwargs = kwargs
        self._texts_fp = texts_fingerprint(texts)

    def __dreamer_fingerprint__(self) -> str:
        return hash_value(
            {
                "class": "EmbeddingRetriever",
                "version": self.version,
                "texts": self._texts_fp,
                "embedder": self.embedder.__dreamer_fingerprint__(),
                "truncate": self.truncate,
                "index_instruction": self.index_instruction,
                "query_instruction": self.query_instruction,
                "kwargs": self.kwargs,
            },
            label="the identity of EmbeddingRetriever",
        )

    def __dreamer_repr__(self) -> str:
        return f"EmbeddingRetriever({self.embedder.__dreamer_repr__()})"

    def __repr__(self) -> str:
        return self.__dreamer_repr__()

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    @property
    def model_card(self) -> str | None:
        return self.embedder.model_card

    @property
    def license(self) -> str | None:
        return self.embedder.license

    @property
    def citation(self) -> list[str] | None:
        return self.embedder.citation

    @cached_property
    def embeddings(self) -> Any:
        """The index: one L2-normalized float32 row per text."""
        import numpy as np

        texts = self.texts
        if not texts:
            raise ValueError("EmbeddingRetriever has no texts to search: pass a non-empty set.")
        vectors = self.embedder.run(
            texts,
            truncate=self.truncate,
            instruction=self.index_instruction,
            batch_size=self.index_batch_size,
            _cache_folder_path=self.cache_folder_path,
            **self.kwargs,
        )
        return _normalize(np.vstack(vectors).astype(np.float32, copy=False))

    def search(self, query_vectors: Any, k: int) -> tuple[Any, Any]:
        """Exact top-``k`` by cosine: ``(scores, indices)``, each ``(n_queries, k')``.

        ``k' = min(k, len(texts))``; rows are sorted best first, ties by position.
        """
        import numpy as np

        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}.")
        index = self.embeddings
        q = _normalize(np.atleast_2d(np.asarray(query_vectors, dtype=np.float32)))
        if q.shape[1] != index.shape[1]:
            raise ValueError(
                f"Query vectors have {q.shape[1]} dimensions but the index has "
                f"{index.shape[1]}: embed queries with the retriever's embedder."
            )
        kk = min(k, index.shape[0])
        all_scores = np.empty((q.shape[0], kk), dtype=np.float32)
        all_idx = np.empty((q.shape[0], kk), dtype=np.int64)
        for start in range(0, q.shape[0], _SEARCH_CHUNK):
            sims = q[start : start + _SEARCH_CHUNK] @ index.T
            if kk < sims.shape[1]:
                # Make the partition tie-stable: keep every candidate equal to the k-th.
                cand = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            else:
                cand = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
            for row, (s, c) in enumerate(zip(sims, cand, strict=True)):
                if kk < sims.shape[1]:
                    kth = s[c].min()
                    c = np.flatnonzero(s >= kth)
                order = np.lexsort((c, -s[c]))[:kk]
                all_idx[start + row] = c[order]
                all_scores[start + row] = s[c[order]]
        return all_scores, all_idx

    def run(
        self,
        queries: Iterable[Any],
        k: int = 5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_scheduler_buffer_size: int | None = None,
        adaptive_batch_size: bool = False,
        progress_interval: int | None = 60,
        force: bool = False,
        cache_only: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        total_num_queries: int | None = None,
        return_generator: bool = False,
        _step: Any = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | Iterator[dict[str, Any]]:
        """For each query, ``{"indices": [...], "texts": [...], "scores": [...]}``.

        Results are sorted best first (``scores`` are cosine similarities); each list
        has ``min(k, len(texts))`` entries. Queries are embedded through the embedder's
        request cache with ``query_instruction``; the batching, progress and logging
        options go to the embedder's ``run()`` (``log_level`` also covers building the
        index), and ``total_num_queries`` must match the number of queries.
        """
        import numpy as np

        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}.")
        where = f"{self!r}.run()"
        options = RunOptions(
            batch_size,
            batch_scheduler_buffer_size,
            adaptive_batch_size,
            progress_interval,
            verbose,
            log_level,
        ).checked(where)
        queries = collect(queries, total_num_queries, "total_num_queries", "queries", where)
        with options.scope():
            _ = self.embeddings  # build (or load) the index before embedding queries
            if not queries:
                return self._maybe_gen([], return_generator)
            vectors = self.embedder.run(
                queries,
                truncate=self.truncate,
                instruction=self.query_instruction,
                batch_size=batch_size,
                batch_scheduler_buffer_size=batch_scheduler_buffer_size,
                adaptive_batch_size=adaptive_batch_size,
                progress_interval=progress_interval,
                force=force,
                cache_only=cache_only,
                verbose=verbose,
                log_level=log_level,
                total_num_texts=len(queries),
                _step=_step,
                _cache_folder_path=self.cache_folder_path,
                **{**self.kwargs, **kwargs},
            )
        scores, indices = self.search(np.vstack(vectors), k)
        texts = self.texts
        results = [
            {
                "indices": [int(i) for i in idx_row],
                "texts": [texts[int(i)] for i in idx_row],
                "scores": [float(s) for s in score_row],
            }
            for score_row, idx_row in zip(scores, indices, strict=True)
        ]
        return self._maybe_gen(results, return_generator)

    @staticmethod
    def _maybe_gen(results: list[Any], return_generator: bool) -> Any:
        return iter(results) if return_generator else results

    def unload_model(self) -> None:
        """Drop the in-memory index (rebuilt from the request cache on next use)."""
        self.__dict__.pop("embeddings", None)
        self.embedder.unload_model()


def _normalize(matrix: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


__all__ = ["EmbeddingRetriever"]
