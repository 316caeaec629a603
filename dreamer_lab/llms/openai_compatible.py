"""``OpenAICompatible``: the base of providers whose API speaks OpenAI's wire format.

A provider is a subclass that sets a few class attributes; requests, concurrency, rate
limits, retries, the cost budget and the request cache are :class:`OpenAI`'s (that is,
:class:`~dreamer_lab.llms.api_llm.APILLM`'s), so every provider shares one retry policy.
The smallest provider (see docs/providers.md)::

    class Groq(OpenAICompatible):
        backend_name = "groq"
        default_base_url = "https://api.groq.com/openai/v1"
        api_key_env = "GROQ_API_KEY"

Prices and context lengths come from the class tables ``PRICES`` and ``CONTEXT_LENGTHS``
(exact model name first, then the longest prefix), then from
:func:`~dreamer_lab.llms.register_price` for prices; ``max_context_length=`` overrides.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.openai import OpenAI


class OpenAICompatible(OpenAI):
    """An OpenAI-compatible provider: OpenAI's backend with the provider's default base
    URL, key variable, prices and context lengths (set by subclasses).

    Every :class:`OpenAI` argument applies (``base_url`` overrides the default, e.g. for a
    proxy or a local test server).
    """

    backend_name = "openai_compatible"
    #: The provider's API root; ``base_url=`` overrides it.
    default_base_url: ClassVar[str | None] = None
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

    @staticmethod
    def _provider_field(body: dict[str, Any], name: str, value: Any) -> None:
        """Send ``name`` (a field only this provider knows) with the request: the openai
        client passes such fields through ``extra_body``."""
        body.setdefault("extra_body", {})[name] = value

    @property
    def model_card(self) -> str | None:
        return self.provider_model_card

    @property
    def license(self) -> str | None:
        return self.provider_license


__all__ = ["OpenAICompatible"]
