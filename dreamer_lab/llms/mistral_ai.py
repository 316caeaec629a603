"""``MistralAI``: Mistral's chat completions API (``https://api.mistral.ai/v1``), which
follows OpenAI's wire format except for ``max_tokens``, ``random_seed`` and
``safe_prompt`` (and no ``logit_bias``)."""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.core.citations import MISTRAL_CITATION
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.openai import OpenAI
from dreamer_lab.llms.openai_compatible import OpenAICompatible

MISTRAL_BASE_URL = "https://api.mistral.ai/v1"


class MistralAI(OpenAICompatible):
    """A Mistral API model (DataDreamer's arguments), through the OpenAI backend: the
    same async requests, retries, rate limits, cost budget and cache.

    Args:
        model_name: e.g. ``"mistral-small-latest"``.
        api_key: defaults to ``$MISTRAL_API_KEY``; never stored.
        **kwargs: :class:`~dreamer_lab.llms.OpenAI` arguments (``system_prompt``,
            ``base_url``, ``max_concurrency``, ``max_context_length``, ``max_cost`` ...).

    ``run()`` also accepts ``safe_prompt``; ``logit_bias`` is not supported by the API.
    """

    backend_name = "mistral_ai"
    default_base_url = MISTRAL_BASE_URL
    api_key_env = "MISTRAL_API_KEY"
    extra_generation_kwargs = OpenAI.extra_generation_kwargs | {"safe_prompt"}
    provider_model_card = "https://docs.mistral.ai/getting-started/models/"
    provider_license = "https://mistral.ai/terms/"
    # USD per 1M (input, output) tokens, mistral.ai/pricing, 2025.
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "mistral-large-latest": (2.00, 6.00),
        "mistral-large": (2.00, 6.00),
        "mistral-medium-latest": (0.40, 2.00),
        "mistral-medium": (0.40, 2.00),
        "mistral-small-latest": (0.10, 0.30),
        "mistral-small": (0.10, 0.30),
        "codestral-latest": (0.30, 0.90),
        "codestral": (0.30, 0.90),
        "ministral-8b-latest": (0.10, 0.10),
        "ministral-3b-latest": (0.04, 0.04),
        "open-mistral-nemo": (0.15, 0.15),
        "open-mistral-7b": (0.25, 0.25),
        "open-mixtral-8x7b": (0.70, 0.70),
        "open-mixtral-8x22b": (2.00, 6.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "mistral-large": 131072,
        "mistral-medium": 131072,
        "mistral-small": 131072,
        "codestral": 256000,
        "ministral-8b": 131072,
        "ministral-3b": 131072,
        "open-mistral-nemo": 131072,
        "open-mistral-7b": 32768,
        "open-mixtral-8x7b": 32768,
        "open-mixtral-8x22b": 65536,
    }

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            model_name,
            api_key=api_key,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    @property
    def citation(self) -> list[str] | None:
        return [MISTRAL_CITATION]

    def _validate_params(self, params: dict[str, Any]) -> None:
        if params.get("logit_bias"):
            raise StepInputError(
                f"{self!r}: Mistral's API does not support logit_bias; drop it (or use a "
                "backend that does, such as OpenAI or a local model)."
            )
        super()._validate_params(params)

    def _body(self, prompt: str, params: dict[str, Any], seed: Any) -> dict[str, Any]:
        body = super()._body(prompt, params, seed)
        if "max_completion_tokens" in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        if "seed" in body:
            self._provider_field(body, "random_seed", body.pop("seed"))
        if params.get("safe_prompt") is not None:
            self._provider_field(body, "safe_prompt", bool(params["safe_prompt"]))
        return body


__all__ = ["MISTRAL_BASE_URL", "MistralAI"]
