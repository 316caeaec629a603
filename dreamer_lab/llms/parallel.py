"""``ParallelLLM``: spread one step's requests over several LLMs of the same model
(e.g. several OpenAI-compatible servers), round-robin, in parallel threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.parallel import check_replicas, run_on_replicas, stripes
from dreamer_lab.llms.base import LLM
from dreamer_lab.llms.structured import ConstrainedOutput


class ParallelLLM(ConstrainedOutput, LLM):
    """Runs requests across ``llms`` (DataDreamer's name). They must be the same model:
    its identity is the first LLM's identity with generation shared across all, so a
    request cached through one backend is a hit through another of the same identity."""

    backend_name = "parallel"

    def __init__(self, *llms: LLM):
        llms = tuple(check_replicas(llms, LLM, "ParallelLLM"))
        super().__init__(llms[0].model_name, llms[0].system_prompt)
        self.llms = list(llms)
        self.backend_name = llms[0].backend_name
        self.extra_generation_kwargs = frozenset.intersection(
            *(x.extra_generation_kwargs for x in llms)
        )

    def _identity(self) -> dict[str, Any]:
        return {"parallel": [hash_value(x) for x in self.llms]}

    def __dreamer_fingerprint__(self) -> str:
        # Same model and settings on every backend: the first one's identity is the key, so
        # requests already cached through that backend are reused.
        return self.llms[0].__dreamer_fingerprint__()

    def load_model(self) -> None:
        for x in self.llms:
            x.load_model()

    def unload_model(self) -> None:
        for x in self.llms:
            x.unload_model()

    def count_tokens(self, value: str) -> int:
        return self.llms[0].count_tokens(value)

    def get_max_context_length(self, max_new_tokens: int) -> int | None:
        limits = [x.get_max_context_length(max_new_tokens) for x in self.llms]
        known = [x for x in limits if x is not None]
        return min(known) if known else None

    def _full_prompt(self, prompt: str) -> str:
        return self.llms[0]._full_prompt(prompt)

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return self.llms[0]._price(prompt_tokens, completion_tokens)

    def _validate_params(self, params: dict[str, Any]) -> None:
        for x in self.llms:
            x._validate_params(params)

    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        lock = threading.Lock()

        def locked_commit(values: dict[str, Any]) -> None:
            with lock:
                commit(values)

        def generate(llm: LLM, shard: list[tuple[str, str, Any]]) -> None:
            llm._generate_missing(shard, params, batch_size, locked_commit, adaptive_batch_size)

        positions = stripes(items, len(self.llms))
        run_on_replicas(self.llms, [[items[i] for i in pos] for pos in positions], generate)
