"""``ParallelRetriever``: one retriever's queries spread over several replicas of it
(DataDreamer's name), round-robin, in parallel threads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dreamer_lab.core.parallel import Replicas, check_replicas, run_sharded, step_progress
from dreamer_lab.core.run_options import collect
from dreamer_lab.errors import StepInputError
from dreamer_lab.retrievers.retriever import Retriever, texts_fingerprint


class ParallelRetriever(Replicas, Retriever):
    """Answers queries across ``retrievers``: replicas of one retriever (same class,
    model and indexed texts; e.g. one per GPU), each given a round-robin share of the
    distinct queries in its own thread; results come back in query order.
    """

    def __init__(self, *retrievers: Retriever):
        replicas = check_replicas(retrievers, Retriever, "ParallelRetriever")
        texts = {texts_fingerprint(r._texts_source) for r in replicas}
        if len(texts) > 1:
            raise StepInputError(
                "All retrievers passed to ParallelRetriever() must index the same texts; "
                "build each replica from the same column or list."
            )
        self.__dict__["replicas"] = replicas
        Retriever.__init__(
            self, texts=replicas[0]._texts_source, cache_folder_path=replicas[0].cache_folder_path
        )
        self.retrievers = replicas

    @property
    def texts(self) -> list[str]:
        return list(self.replicas[0].texts)

    def run(  # type: ignore[override]
        self,
        queries: Iterable[Any],
        k: int = 5,
        *args: Any,
        total_num_queries: int | None = None,
        return_generator: bool = False,
        _step: Any = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | Iterator[dict[str, Any]]:
        """As the replicas' ``run()``; the queries are shared out among them."""
        items = collect(
            queries, total_num_queries, "total_num_queries", "queries", f"{self!r}.run()"
        )
        key = len if all(isinstance(q, str) for q in items) else None
        results = run_sharded(
            self.replicas,
            items,
            lambda r, shard: r.run(shard, k, *args, **kwargs),
            key=key,
            progress=step_progress(_step),
        )
        return iter(results) if return_generator else results


__all__ = ["ParallelRetriever"]
