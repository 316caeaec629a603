"""``OpenAICompatible``: the base of providers whose API speaks OpenAI's wire format.

A provider is a subclass that sets a few class attributes; requests, concurrency, rate
limits, retries, the cost budget and the request cache are :class:`OpenAI`'s, so every
provider shares one retry policy. The smallest provider (see docs/providers.md)::

    class Groq(OpenAICompatible):
        default_base_url = "https://api.groq.com/openai/v1"
        api_key_env = "GROQ_API_KEY"
        backend_name = "groq"

Prices and context lengths come from the class tables (``PRICES``, ``CONTEXT_LENGTHS``:
exact model name first, then the longest ``name-`` prefix), then from
:func:`~dreamer_lab.llms.register_price` for prices; ``max_context_length=`` overrides.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.openai import OpenAI, price_of


def lookup(table: dict[str, Any], model: str) -> Any:
    """``table[model]``, else the entry of the longest key ``model`` starts with followed
    by ``-`` (``mistral-large-2411`` uses ``mistral-large``), else ``None``."""
    if model in table:
        return table[model]
    best = max((k for k in table if model.startswith(k + "-")), key=len, default=None)
    return table[best] if best else None


class OpenAICompatible(OpenAI):
    """An OpenAI-compatible provider: OpenAI's backend with the provider's default base
    URL, key variable, prices and context lengths (set by subclasses).

    Every :class:`OpenAI` argument applies (``base_url`` overrides the default, e.g. for a
    proxy or a local test server).
    """

    backend_name = "openai_compatible"
    #: The provider's API root; ``base_url=`` overrides it.
    default_base_url: ClassVar[str | None] = None
    #: USD per 1M (input, output) tokens, by model name or name prefix.
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {}
    #: Context windows in tokens, by model name or name prefix.
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {}
    #: Shown in data cards.
    provider_model_card: ClassVar[str | None] = None
    provider_license: ClassVar[str | None] = None

    def __init__(
        self,
        model_name: str,
        system_prompt: str | None = None,
        *,
        base_url: str | None = None,
        **kwargs: Any,
    ):
        if kwargs.get("use_batch_api"):
            raise StepInputError(
                f"{type(self).__name__}: use_batch_api is OpenAI's Batch API; it is not "
                "supported for this provider. Drop use_batch_api (requests run concurrently)."
            )
        base_url = base_url or self.default_base_url
        super().__init__(model_name, system_prompt=system_prompt, base_url=base_url, **kwargs)
        if self.max_context_length is None:
            self.max_context_length = lookup(self.CONTEXT_LENGTHS, model_name)

    @staticmethod
    def _provider_field(body: dict[str, Any], name: str, value: Any) -> None:
        """Send ``name`` (a field only this provider knows) with the request: the openai
        client passes such fields through ``extra_body``."""
        body.setdefault("extra_body", {})[name] = value

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = lookup(self.PRICES, self.model_name) or price_of(self.model_name)
        if price is None:
            return None
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6

    @property
    def model_card(self) -> str | None:
        return self.provider_model_card

    @property
    def license(self) -> str | None:
        return self.provider_license


__all__ = ["OpenAICompatible", "lookup"]
