"""``ParallelTaskModel``: one task model's work spread over several replicas of it
(e.g. one per GPU), round-robin, in parallel threads (DataDreamer's name)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dreamer_lab.core.parallel import Replicas, check_replicas, run_sharded, step_progress
from dreamer_lab.task_models.task_model import TaskModel


class ParallelTaskModel(Replicas, TaskModel):
    """Runs ``run()`` across ``task_models``: replicas of one model (same class and model
    name), each given a round-robin share of the distinct inputs in its own thread; the
    results come back in input order. Every replica goes through its own request cache,
    so a rerun with the same replicas computes nothing. Identity, card facts and token
    counting are the first replica's.
    """

    _replica_base: type = TaskModel

    def __init__(self, *task_models: TaskModel):
        replicas = check_replicas(task_models, self._replica_base, type(self).__name__)
        self.__dict__["replicas"] = replicas
        TaskModel.__init__(self, cache_folder_path=replicas[0].cache_folder_path)
        self.task_models = replicas
        self.backend_name = replicas[0].backend_name
        self.model_name = getattr(replicas[0], "model_name", "")

    def _identity(self) -> dict[str, Any]:
        return replicas_identity(self.replicas)

    def count_tokens(self, value: str) -> int:
        """Tokens in ``value`` (the first replica's count)."""
        return int(self.replicas[0].count_tokens(value))

    @property
    def model_max_length(self) -> int | None:
        return self.replicas[0].model_max_length

    def run(  # type: ignore[override]
        self,
        texts: Iterable[str],
        *args: Any,
        total_num_texts: int | None = None,
        return_generator: bool = False,
        _step: Any = None,
        **kwargs: Any,
    ) -> list[Any] | Iterator[Any]:
        """As the replicas' ``run()``; the texts are shared out among them."""
        items = self._as_text_list(texts, total=total_num_texts)
        before = self._computed()
        results = run_sharded(
            self.replicas,
            items,
            lambda model, shard: model.run(shard, *args, **kwargs),
            progress=step_progress(_step),
        )
        computed = self._computed() - before
        self.computed_count += computed
        self.cached_count += len(items) - computed
        return self._maybe_generator(results, return_generator)

    def _computed(self) -> int:
        return sum(int(getattr(r, "computed_count", 0)) for r in self.replicas)


def replicas_identity(replicas: list[Any]) -> dict[str, Any]:
    """The identity of a parallel model: its first replica's."""
    return {"replica": replicas[0].__dreamer_fingerprint__()}


__all__ = ["ParallelTaskModel"]
