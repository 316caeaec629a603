"""AI21's Jamba models (an OpenAI-compatible chat API), through litellm
(:mod:`dreamer_lab.llms.litellm_base`)."""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.llms.litellm_base import LiteLLM, _only_common


class AI21(LiteLLM):
    """AI21's Jamba models. Key: ``$AI21_API_KEY``. ``base_url`` defaults to
    ``https://api.ai21.com/studio/v1`` (an OpenAI-compatible chat API)."""

    backend_name = "ai21"
    provider = "ai21_chat"
    provider_name = "AI21"
    extra = "ai21"
    key_envs = ("AI21_API_KEY",)
    base_url_envs = ("AI21_API_BASE",)
    default_base_url = "https://api.ai21.com/studio/v1"
    supports = frozenset({"n", "stop", "seed", "response_format"})
    client_kind = "openai"
    provider_model_card = "https://docs.ai21.com/docs/jamba-foundation-models"
    provider_license = "https://www.ai21.com/terms-of-use"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "jamba-mini": (0.20, 0.40),
        "jamba-large": (2.00, 8.00),
        "jamba-1.5-mini": (0.20, 0.40),
        "jamba-1.5-large": (2.00, 8.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {"jamba": 256_000}

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs)
        super().__init__(
            model_name,
            api_key=api_key,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    def _base_kwargs(self) -> dict[str, Any]:
        return {"api_base": self._endpoint()}


__all__ = ["AI21"]
