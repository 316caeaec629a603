"""Anthropic's Claude models (Messages API), through litellm
(:mod:`dreamer_lab.llms.litellm_base`)."""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.llms.litellm_base import LiteLLM, _only_common


class Anthropic(LiteLLM):
    """Anthropic's Claude models (Messages API). Key: ``$ANTHROPIC_API_KEY``."""

    backend_name = "anthropic"
    provider = "anthropic"
    provider_name = "Anthropic"
    extra = "anthropic"
    key_envs = ("ANTHROPIC_API_KEY",)
    base_url_envs = ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE")
    default_base_url = "https://api.anthropic.com"
    supports = frozenset({"stop", "top_p", "response_format"})
    provider_model_card = "https://docs.anthropic.com/en/docs/about-claude/models"
    provider_license = "https://www.anthropic.com/legal/commercial-terms"
    # List prices, USD per 1M input / output tokens (extend or override as needed).
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "claude-3-haiku": (0.25, 1.25),
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-haiku-4-5": (1.00, 5.00),
        "claude-3-sonnet": (3.00, 15.00),
        "claude-3-5-sonnet": (3.00, 15.00),
        "claude-3-7-sonnet": (3.00, 15.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-3-opus": (15.00, 75.00),
        "claude-opus-4": (15.00, 75.00),
        "claude-opus-4-5": (5.00, 25.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "claude-2": 100_000,
        "claude-2.1": 200_000,
        "claude-instant": 100_000,
        "claude-3": 200_000,
        "claude-haiku-4": 200_000,
        "claude-sonnet-4": 200_000,
        "claude-opus-4": 200_000,
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


__all__ = ["Anthropic"]
