"""Cohere's Command models (v2 chat API), through litellm (:mod:`dreamer_lab.llms.litellm_base`)."""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.llms.litellm_base import LiteLLM, _only_common


class Cohere(LiteLLM):
    """Cohere's Command models (v2 chat API). Key: ``$COHERE_API_KEY`` (or ``$CO_API_KEY``).

    ``repetition_penalty`` is sent as ``frequency_penalty = repetition_penalty - 1``.
    """

    backend_name = "cohere"
    provider = "cohere_chat"
    provider_name = "Cohere"
    extra = "cohere"
    key_envs = ("COHERE_API_KEY", "CO_API_KEY")
    base_url_envs = ("COHERE_BASE_URL", "COHERE_API_BASE")
    default_base_url = "https://api.cohere.com"
    supports = frozenset({"stop", "top_p", "seed", "repetition_penalty"})
    provider_model_card = "https://docs.cohere.com/docs/models"
    provider_license = "https://cohere.com/saas-agreement"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "command": (1.00, 2.00),
        "command-light": (0.30, 0.60),
        "command-r": (0.15, 0.60),
        "command-r-plus": (2.50, 10.00),
        "command-r7b": (0.0375, 0.15),
        "command-a": (2.50, 10.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "command": 4_096,
        "command-light": 4_096,
        "command-r": 128_000,
        "command-r-plus": 128_000,
        "command-r7b": 128_000,
        "command-a": 256_000,
    }

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
        # litellm's Cohere route takes the full chat URL.
        if not self.base_url:
            return {}
        url = self.base_url
        return {"api_base": url if url.endswith("/chat") else url + "/v2/chat"}


__all__ = ["Cohere"]
