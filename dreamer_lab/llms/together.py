"""``Together``: Together AI's OpenAI-compatible API (``https://api.together.xyz/v1``)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from dreamer_lab.llms.base import AUTO, estimate_tokens
from dreamer_lab.llms.openai import OpenAI
from dreamer_lab.llms.openai_compatible import OpenAICompatible

TOGETHER_BASE_URL = "https://api.together.xyz/v1"


class Together(OpenAICompatible):
    """A model served by Together AI (DataDreamer's arguments), through the OpenAI
    backend: the same async requests, retries, rate limits, cost budget and cache.

    Args:
        model_name: e.g. ``"meta-llama/Llama-3.3-70B-Instruct-Turbo"``.
        chat_prompt_template: ``AUTO`` sends chat messages (Together applies the model's
            template); ``None`` sends raw prompts to the completions API; a string with
            ``{{prompt}}`` (and optionally ``{{system_prompt}}``) formats them here.
        system_prompt: system message (``AUTO``: none).
        api_key: defaults to ``$TOGETHER_API_KEY``; never stored.
        max_context_length: the context window (default: the ``CONTEXT_LENGTHS`` table).
        tokenizer_model_name, tokenizer_revision, tokenizer_trust_remote_code: a local
            or cached Hugging Face tokenizer for exact token counts (default: an offline
            estimate; the server's ``usage`` fields are exact either way).
        **kwargs: :class:`~dreamer_lab.llms.OpenAI` arguments (``base_url``,
            ``max_concurrency``, ``requests_per_minute``, ``max_cost`` ...).

    ``run()`` also accepts ``top_k`` and ``min_p``; ``repetition_penalty`` is sent as
    Together's own parameter.
    """

    backend_name = "together"
    default_base_url = TOGETHER_BASE_URL
    api_key_env = "TOGETHER_API_KEY"
    extra_generation_kwargs = OpenAI.extra_generation_kwargs | {"top_k", "min_p"}
    provider_model_card = "https://docs.together.ai/docs/serverless-models"
    provider_license = "https://www.together.ai/terms-of-service"
    # Serverless prices (USD per 1M input, output tokens), together.ai/pricing, 2025.
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": (0.88, 0.88),
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": (0.18, 0.18),
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": (0.88, 0.88),
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": (3.50, 3.50),
        "meta-llama/Llama-3.2-3B-Instruct-Turbo": (0.06, 0.06),
        "Qwen/Qwen2.5-72B-Instruct-Turbo": (1.20, 1.20),
        "Qwen/Qwen2.5-7B-Instruct-Turbo": (0.30, 0.30),
        "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.60, 0.60),
        "mistralai/Mistral-7B-Instruct-v0.3": (0.20, 0.20),
        "deepseek-ai/DeepSeek-V3": (1.25, 1.25),
        "deepseek-ai/DeepSeek-R1": (3.00, 7.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": 131072,
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": 131072,
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": 131072,
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": 130815,
        "meta-llama/Llama-3.2-3B-Instruct-Turbo": 131072,
        "Qwen/Qwen2.5-72B-Instruct-Turbo": 32768,
        "Qwen/Qwen2.5-7B-Instruct-Turbo": 32768,
        "mistralai/Mixtral-8x7B-Instruct-v0.1": 32768,
        "mistralai/Mistral-7B-Instruct-v0.3": 32768,
        "deepseek-ai/DeepSeek-V3": 131072,
        "deepseek-ai/DeepSeek-R1": 163840,
    }

    def __init__(
        self,
        model_name: str,
        chat_prompt_template: str | None = AUTO,
        system_prompt: str | None = AUTO,
        api_key: str | None = None,
        max_context_length: int | None = None,
        tokenizer_model_name: str | None = None,
        tokenizer_revision: str | None = None,
        tokenizer_trust_remote_code: bool = False,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("chat", chat_prompt_template is AUTO)
        super().__init__(
            model_name,
            None if system_prompt is AUTO else system_prompt,
            api_key=api_key,
            max_context_length=max_context_length,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )
        self.chat_prompt_template = None if chat_prompt_template is AUTO else chat_prompt_template
        self.tokenizer_model_name = tokenizer_model_name
        self.tokenizer_revision = tokenizer_revision
        self.tokenizer_trust_remote_code = tokenizer_trust_remote_code
        self._tokenizer: Any = None

    def _identity(self) -> dict[str, Any]:
        return {**super()._identity(), "chat_prompt_template": self.chat_prompt_template}

    def _full_prompt(self, prompt: str) -> str:
        template = self.chat_prompt_template
        if self.chat or template is None:
            return super()._full_prompt(prompt)
        out = template.replace("{{prompt}}", str(prompt))
        return out.replace("{{system_prompt}}", self.system_prompt or "")

    def count_tokens(self, value: str) -> int:
        """Exact with ``tokenizer_model_name`` (if it loads offline), else an estimate."""
        tok = self._load_tokenizer()
        if tok is None:
            return estimate_tokens(value)
        return len(tok(value, add_special_tokens=False)["input_ids"])

    def _load_tokenizer(self) -> Any:
        if self.tokenizer_model_name is None or self._tokenizer is False:
            return None
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(
                    self.tokenizer_model_name,
                    revision=self.tokenizer_revision,
                    trust_remote_code=self.tokenizer_trust_remote_code,
                )
            except (OSError, ValueError) as e:
                warnings.warn(
                    f"{self!r}: tokenizer {self.tokenizer_model_name!r} cannot be loaded "
                    f"({type(e).__name__}); token counts are estimates. Download it once or "
                    "pass a local folder as tokenizer_model_name.",
                    stacklevel=3,
                )
                self._tokenizer = False
                return None
        return self._tokenizer

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_tokenizer"] = None
        return state

    def _body(self, prompt: str, params: dict[str, Any], seed: Any) -> dict[str, Any]:
        body = super()._body(prompt, params, seed)
        if "max_completion_tokens" in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        if params.get("repetition_penalty") is not None:
            self._provider_field(body, "repetition_penalty", params["repetition_penalty"])
            if params.get("frequency_penalty") is not None:
                body["frequency_penalty"] = params["frequency_penalty"]
            else:
                body.pop("frequency_penalty", None)
        for k in ("top_k", "min_p"):
            if params.get(k) is not None:
                self._provider_field(body, k, params[k])
        return body


__all__ = ["TOGETHER_BASE_URL", "Together"]
