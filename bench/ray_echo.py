"""A backend with (almost) free generation, for measuring what is not the model: the Ray
executor's scheduling and the driver's commits. Importable by the cluster's workers
(``bench_ray.py`` puts this folder on their ``PYTHONPATH``)."""

from __future__ import annotations

from typing import Any

from dreamer_lab.llms.base import LLM


class EchoLLM(LLM):
    """Answers every prompt with the prompt reversed."""

    backend_name = "echo"

    def __init__(self, model_name: str = "echo"):
        super().__init__(model_name)

    def _generate_batch(
        self, prompts: list[str], params: dict[str, Any], seeds: list[Any]
    ) -> list[dict[str, Any]]:
        return [{"g": [p[::-1]], "u": {}} for p in prompts]
