"""``OpenAIEmbedder``: OpenAI's embedding API, or any OpenAI-compatible endpoint.

Requests use the official ``openai`` client made by the package's one factory
(:func:`~dreamer_lab.llms.openai_client.openai_client`, the client's own retries off) and
the LLMs' one retry policy (:class:`~dreamer_lab.llms.retry.RetryPolicy`): 429s (waiting
what ``Retry-After`` asks), 5xx answers, unreachable endpoints and malformed answers are
retried ``max_retries`` times; a rejected key fails at once. Batches run on a small thread
pool and each finished batch is committed to the request cache at once. The API key
never enters a fingerprint, a record or an error message.
"""

from __future__ import annotations

import os
import random
import threading
from functools import cached_property
from typing import Any, ClassVar

from dreamer_lab.core.secrets import drop_secret, register_secret, restore_secret, scrub_text
from dreamer_lab.embedders.embedder import Embedder
from dreamer_lab.errors import OpenAIEmbedderError  # noqa: F401
from dreamer_lab.llms.api_llm import MalformedResponse
from dreamer_lab.llms.openai_client import classify_openai_error, openai_client
from dreamer_lab.llms.retry import Failure, RetryPolicy, gave_up

_KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder(Embedder):
    """Embeddings from OpenAI or an OpenAI-compatible server (vLLM, llama.cpp, TEI ...).

    Args:
        model_name: e.g. ``"text-embedding-3-small"``.
        dimensions: ask the endpoint for shorter vectors (text-embedding-3 models).
        organization: OpenAI organization id.
        api_key: the key; default ``$OPENAI_API_KEY``. Never stored in records.
        base_url: an OpenAI-compatible endpoint (e.g. ``http://127.0.0.1:8000/v1``);
            such endpoints need no key.
        api_version: not supported (Azure); raises.
        retry_on_fail: retry 429s, 5xx, connection errors and malformed answers
            (``max_retries`` times, with backoff; ``Retry-After`` is honoured).
        cache_folder_path: where the request cache lives (default: the workspace's).
        max_concurrency: requests in flight at once.
        max_retries: retries per request when ``retry_on_fail``.
        timeout: seconds per request.
        max_context_length: input limit in tokens (default 8191 for OpenAI's models).

    Token usage from the server's answers accumulates in :attr:`usage`; :attr:`cost`
    prices it with :attr:`PRICES_PER_MILLION_TOKENS` (extend it for other models).
    Token counts before a request are estimates (UTF-8 bytes / 4) so that nothing needs
    ``tiktoken``'s downloads; ``truncate=True`` cuts texts to ``max_context_length``
    UTF-8 bytes, which is always within the token limit.
    """

    backend_name = "openai_embeddings"
    #: Environment variable holding the API key (subclasses for other providers set theirs).
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"
    PRICES_PER_MILLION_TOKENS: ClassVar[dict[str, float]] = {
        "text-embedding-3-small": 0.02,
        "text-embedding-3-large": 0.13,
        "text-embedding-ada-002": 0.10,
    }

    def __init__(
        self,
        model_name: str,
        dimensions: int | None = None,
        organization: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        max_context_length: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(model_name=model_name, cache_folder_path=cache_folder_path)
        if api_version is not None:
            raise ValueError(
                "OpenAIEmbedder does not support api_version (Azure OpenAI). Use an "
                "OpenAI-compatible base_url instead."
            )
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise ValueError(f"dimensions must be a positive int, got {dimensions!r}.")
        register_secret(api_key)  # redacted wherever it would appear
        key = api_key or os.environ.get(self.api_key_env)
        if not key:
            if base_url is None:
                raise ValueError(
                    f"No OpenAI API key: set the {self.api_key_env} environment variable or "
                    "pass api_key=...; for a local OpenAI-compatible server pass base_url=... "
                    "(it needs no key)."
                )
            key = "no-key-needed"
        self.dimensions = dimensions
        self.organization = organization
        self.base_url = base_url.rstrip("/") if base_url else None
        self.retry_on_fail = retry_on_fail
        self.max_retries = max_retries if retry_on_fail else 0
        self.timeout = timeout
        self._concurrency = max(1, int(max_concurrency))
        self._max_context_length = max_context_length
        self.kwargs = kwargs
        self.__api_key = key  # name-mangled, and a secret name: never hashed or recorded
        self._usage_lock = threading.Lock()
        self._rng = random.Random()
        self.usage: dict[str, int] = {"requests": 0, "prompt_tokens": 0, "total_tokens": 0}

    def _identity(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "endpoint": self.base_url or "https://api.openai.com/v1",
            "dimensions": self.dimensions,
            "kwargs": self.kwargs,
        }

    def __dreamer_repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OpenAIEmbedder({self.model_name!r}{where})"

    def __getstate__(self) -> dict[str, Any]:
        state = drop_secret(self.__dict__, "_OpenAIEmbedder__api_key")  # never the key
        state.pop("client", None)
        state.pop("_usage_lock", None)
        state.pop("_rng", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # The key comes back in the process that pickled the object; elsewhere it is read
        # from the environment again (a local base_url needs none).
        restore_secret(state, "_OpenAIEmbedder__api_key")
        if not state["_OpenAIEmbedder__api_key"]:
            state["_OpenAIEmbedder__api_key"] = os.environ.get(self.api_key_env) or (
                "no-key-needed" if state.get("base_url") else None
            )
        self.__dict__.update(state)
        self._usage_lock = threading.Lock()
        self._rng = random.Random()

    @cached_property
    def client(self) -> Any:
        if not self.__api_key:
            raise OpenAIEmbedderError(
                f"{self.__dreamer_repr__()} was restored from a saved copy (a %%dream cache "
                f"hit or a pickle), and API keys are never saved. Set the {self.api_key_env} "
                "environment variable, or create the object again with api_key=..."
            )
        return openai_client(
            api_key=self.__api_key,
            base_url=self.base_url,
            organization=self.organization,
            timeout=self.timeout,
            asynchronous=False,
        )

    # -- facts -----------------------------------------------------------------------
    @property
    def model_max_length(self) -> int | None:
        if self._max_context_length is not None:
            return self._max_context_length
        return 8191 if self.model_name in _KNOWN_DIMS else None

    @cached_property
    def dims(self) -> int:
        if self.dimensions is not None:
            return self.dimensions
        if self.model_name in _KNOWN_DIMS and self.base_url is None:
            return _KNOWN_DIMS[self.model_name]
        return int(len(self.run(["dims"])[0]))  # one (cached) request

    def count_tokens(self, value: str) -> int:
        """An estimate (UTF-8 bytes / 4, rounded up) that needs no tokenizer download."""
        return -(-len(value.encode("utf-8")) // 4)

    def _check_lengths(self, texts: list[str], max_length: int | None) -> None:
        # Token counts here are estimates, so no text is certainly too long: the endpoint
        # judges, and its 400 answer becomes an OpenAIEmbedderError naming the problem.
        return

    def _truncate_to_limit(self, text: str) -> str:
        limit = self.model_max_length
        if not limit:
            return text
        data = text.encode("utf-8")
        if len(data) <= limit:
            return text
        return data[:limit].decode("utf-8", errors="ignore")

    @property
    def cost(self) -> float | None:
        """Dollars spent by this object's requests (``None`` for unpriced models)."""
        price = self.PRICES_PER_MILLION_TOKENS.get(self.model_name)
        if price is None:
            return None
        return self.usage["total_tokens"] * price / 1_000_000

    @property
    def model_card(self) -> str | None:
        return "https://platform.openai.com/docs/guides/embeddings" if not self.base_url else None

    @property
    def license(self) -> str | None:
        return "https://openai.com/policies" if not self.base_url else None

    # -- requests --------------------------------------------------------------------
    def _embed_batch(self, texts: list[str], truncate: bool, **kwargs: Any) -> list[Any]:
        import numpy as np

        extra = {**self.kwargs, **kwargs}
        if self.dimensions is not None:
            extra["dimensions"] = self.dimensions

        def send() -> Any:
            response = self.client.embeddings.create(model=self.model_name, input=texts, **extra)
            data = getattr(response, "data", None)
            if not isinstance(data, list) or len(data) != len(texts):
                got = len(data) if isinstance(data, list) else "no"
                raise MalformedResponse(f"{got} embeddings for {len(texts)} inputs")
            return response

        policy = RetryPolicy(
            self._classify, self._refused, self._gave_up, self.max_retries, rng=self._rng
        )
        response = policy.call(send)
        usage = getattr(response, "usage", None)
        with self._usage_lock:
            self.usage["requests"] += 1
            if usage is not None:
                self.usage["prompt_tokens"] += int(getattr(usage, "prompt_tokens", 0) or 0)
                self.usage["total_tokens"] += int(getattr(usage, "total_tokens", 0) or 0)
        ordered = sorted(response.data, key=lambda d: d.index)
        return [np.asarray(d.embedding, dtype=np.float32) for d in ordered]

    def _classify(self, e: BaseException) -> Failure | None:
        if isinstance(e, KeyError | TypeError | AttributeError):  # an answer missing fields
            return Failure("malformed", error=type(e).__name__, detail=str(e))
        return classify_openai_error(e)

    def _refused(self, f: Failure) -> OpenAIEmbedderError:
        """The error of a request the endpoint refused (not retried)."""
        where = self.base_url or "api.openai.com"
        if f.kind == "auth":
            return OpenAIEmbedderError(
                f"The endpoint {where} rejected the API key (401). Check {self.api_key_env} "
                "or the api_key you passed."
            )
        return OpenAIEmbedderError(
            f"{where} refused the request ({f.status}): {scrub_text(f.detail)[:300]}. Check "
            f"model_name ({self.model_name!r}) and the arguments."
        )

    def _gave_up(self, f: Failure) -> OpenAIEmbedderError:
        """The error of a request still failing when the retries are used up."""
        where = f"{self.__dreamer_repr__()} at {self.base_url or 'api.openai.com'}"
        fewer = "Lower max_concurrency or batch_size"
        return OpenAIEmbedderError(gave_up(f, where, self.max_retries + 1, fewer))


__all__ = ["OpenAIEmbedder", "OpenAIEmbedderError"]
