"""``TogetherEmbedder``: Together AI's OpenAI-compatible embeddings API, through
:class:`~dreamer_lab.embedders.OpenAIEmbedder` (same client, retries, concurrency and
request cache) at ``https://api.together.xyz/v1``."""

from __future__ import annotations

import os
import warnings
from functools import cached_property
from typing import Any, ClassVar

from dreamer_lab.embedders.openai_embedder import OpenAIEmbedder
from dreamer_lab.llms.token_counter import TokenCounter

TOGETHER_BASE_URL = "https://api.together.xyz/v1"

# (dimensions, input limit in tokens) of Together's embedding models.
_MODELS: dict[str, tuple[int, int]] = {
    "togethercomputer/m2-bert-80M-2k-retrieval": (768, 2048),
    "togethercomputer/m2-bert-80M-8k-retrieval": (768, 8192),
    "togethercomputer/m2-bert-80M-32k-retrieval": (768, 32768),
    "BAAI/bge-large-en-v1.5": (1024, 512),
    "BAAI/bge-base-en-v1.5": (768, 512),
    "WhereIsAI/UAE-Large-V1": (1024, 512),
    "intfloat/multilingual-e5-large-instruct": (1024, 514),
}


class TogetherEmbedder(OpenAIEmbedder):
    """Embeddings from Together AI (DataDreamer's arguments).

    Args:
        model_name: e.g. ``"BAAI/bge-large-en-v1.5"``.
        api_key: defaults to ``$TOGETHER_API_KEY``; never stored in records or pickles.
        max_context_length: input limit in tokens (default: known for Together's models).
        tokenizer_model_name, tokenizer_revision, tokenizer_trust_remote_code: a Hugging
            Face tokenizer that counts tokens (loaded from a local folder or the cache);
            without one, counts are estimates (UTF-8 bytes / 4).
        warn_tokenizer_model_name: warn once when counts are estimates.
        warn_max_context_length: warn once when the model's input limit is unknown (texts
            are then sent whole and the endpoint judges their length).
        base_url: another endpoint (a proxy, a local test server).
        **kwargs: :class:`OpenAIEmbedder` options (``max_concurrency``, ``max_retries``,
            ``timeout``, ``dimensions``).
    """

    backend_name = "together_embeddings"
    api_key_env = "TOGETHER_API_KEY"
    # USD per 1M tokens, together.ai/pricing, 2025.
    PRICES_PER_MILLION_TOKENS: ClassVar[dict[str, float]] = {
        "togethercomputer/m2-bert-80M-2k-retrieval": 0.008,
        "togethercomputer/m2-bert-80M-8k-retrieval": 0.008,
        "togethercomputer/m2-bert-80M-32k-retrieval": 0.008,
        "BAAI/bge-large-en-v1.5": 0.016,
        "BAAI/bge-base-en-v1.5": 0.008,
        "WhereIsAI/UAE-Large-V1": 0.016,
        "intfloat/multilingual-e5-large-instruct": 0.02,
    }

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        max_context_length: int | None = None,
        tokenizer_model_name: str | None = None,
        tokenizer_revision: str | None = None,
        tokenizer_trust_remote_code: bool = False,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        warn_tokenizer_model_name: bool | None = True,
        warn_max_context_length: bool | None = True,
        base_url: str | None = None,
        **kwargs: Any,
    ):
        if not (api_key or os.environ.get(self.api_key_env)) and base_url is None:
            raise ValueError(
                f"No Together API key: set the {self.api_key_env} environment variable or "
                "pass api_key=... (keys are never stored in the workspace)."
            )
        super().__init__(
            model_name,
            api_key=api_key,
            base_url=base_url or TOGETHER_BASE_URL,
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            max_context_length=max_context_length,
            **kwargs,
        )
        self._token_counter = TokenCounter(
            tokenizer_model_name, tokenizer_revision, tokenizer_trust_remote_code
        )
        self._warn = {
            "tokenizer": bool(warn_tokenizer_model_name),
            "limit": bool(warn_max_context_length),
        }

    def count_tokens(self, value: str) -> int:
        """Tokens in ``value``: exact with ``tokenizer_model_name``, else an estimate."""
        if not self._token_counter.exact and self._warn["tokenizer"]:
            self._warn["tokenizer"] = False
            warnings.warn(
                f"TogetherEmbedder {self.model_name!r}: token counts are estimates (UTF-8 "
                "bytes / 4); pass tokenizer_model_name=... for exact counts, or "
                "warn_tokenizer_model_name=False.",
                stacklevel=2,
            )
        return self._token_counter.count(value)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if (
            self._OpenAIEmbedder__api_key == "no-key-needed"  # type: ignore[attr-defined]
            and self.base_url == TOGETHER_BASE_URL
        ):
            # Together's own endpoint needs the key: say so instead of sending none.
            self._OpenAIEmbedder__api_key = None

    def __dreamer_repr__(self) -> str:
        where = "" if self.base_url == TOGETHER_BASE_URL else f", base_url={self.base_url!r}"
        return f"TogetherEmbedder({self.model_name!r}{where})"

    @property
    def model_max_length(self) -> int | None:
        if self._max_context_length is not None:
            return self._max_context_length
        known = _MODELS.get(self.model_name)
        if known is None and self._warn["limit"]:
            self._warn["limit"] = False
            warnings.warn(
                f"TogetherEmbedder {self.model_name!r}: its input limit is unknown, so texts are "
                "sent whole; pass max_context_length=... (or warn_max_context_length=False).",
                stacklevel=2,
            )
        return known[1] if known else None

    @cached_property
    def dims(self) -> int:
        if self.dimensions is not None:
            return self.dimensions
        known = _MODELS.get(self.model_name)
        if known is not None and self.base_url == TOGETHER_BASE_URL:
            return known[0]
        return int(len(self.run(["dims"])[0]))  # one (cached) request

    @property
    def model_card(self) -> str | None:
        return f"https://huggingface.co/{self.model_name}"

    @property
    def license(self) -> str | None:
        return "https://www.together.ai/terms-of-service"


__all__ = ["TOGETHER_BASE_URL", "TogetherEmbedder"]
