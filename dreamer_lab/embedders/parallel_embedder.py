"""``ParallelEmbedder``: one embedder's work spread over several replicas of it
(DataDreamer's name); see :class:`~dreamer_lab.task_models.ParallelTaskModel`."""

from __future__ import annotations

from dreamer_lab.embedders.embedder import Embedder
from dreamer_lab.task_models.parallel_task_model import ParallelTaskModel


class ParallelEmbedder(ParallelTaskModel, Embedder):
    """Embeds across ``embedders`` (replicas of one model, e.g. one per GPU or endpoint):
    each embeds a round-robin share of the distinct texts in its own thread, and the
    vectors come back in input order. ``run()`` takes the replicas' arguments."""

    _replica_base = Embedder

    def __init__(self, *embedders: Embedder):
        super().__init__(*embedders)
        self.embedders = self.replicas

    @property
    def dims(self) -> int:
        return int(self.replicas[0].dims)


__all__ = ["ParallelEmbedder"]
