"""Commercial providers through a routing library: ``Anthropic``, ``Cohere``,
``GoogleAIStudio`` (Gemini), ``VertexAI``, ``Bedrock`` and ``AI21``.

Requests go through ``litellm`` (an optional extra: ``pip install "dreamer-lab[anthropic]"``
and so on, or ``[litellm]`` for all of them). Why litellm rather than six SDKs or six
hand-written clients: it is maintained (frequent releases follow the providers' API
changes), it gives one call shape (OpenAI's chat format in, OpenAI's response out) over
many wire formats (Anthropic Messages, Cohere v2 chat, Gemini generateContent, Bedrock
Converse, ...), and it takes a base URL per call, so the tests target local servers on
127.0.0.1 and users can target proxies and gateways.

Only the sending goes through litellm. Everything else is :class:`~dreamer_lab.llms.api_llm.APILLM`'s,
the same code as the OpenAI backend: the request cache (resume after a kill, reruns are
cache hits), bounded concurrency, rate limits, one retry policy honouring ``Retry-After``
(litellm's own retries are turned off), the cost budget, offline token counts and
context lengths, structured-output validation, and errors that name the fix.

``import dreamer_lab.llms`` does not import litellm; the first request does (it takes
several seconds). Before that import, litellm is told to use its bundled model and
header tables (``LITELLM_LOCAL_MODEL_COST_MAP``, ``LITELLM_OFFLINE_MODE``) instead of
fetching them from the internet, unless those variables are already set.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any, ClassVar

from dreamer_lab.core.secrets import drop_secret, redact, register_secret, restore_secret
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.api_llm import (
    APILLM,
    Failure,
    MalformedResponse,
    exception_chain,
    int_seed,
    retry_after_seconds,
)
from dreamer_lab.llms.base import AUTO, LLMError, truncate_at_stop
from dreamer_lab.llms.structured import ConstrainedOutput

# Secret attributes: pickles carry a process-local reference instead (see __getstate__).
_SECRET_ATTRS = ("_api_key", "_aws_access_key_id", "_aws_secret_access_key",
                 "_aws_session_token", "_vertex_credentials")  # fmt: skip

# Words in litellm's error text that mean "the provider's response could not be read".
_MALFORMED_MARKERS = (
    "Unable to get json response",
    "Error converting to valid response",
    "Unterminated string",
    "Expecting value",
    "Expecting property name",
)
# Providers that answer a bad key with 400/403 instead of 401.
_AUTH_MARKERS = (
    "API_KEY_INVALID",
    "API key not valid",
    "UnrecognizedClientException",
    "security token included in the request is invalid",
    "InvalidSignatureException",
)

_GEMINI_CITATION = """@article{team2023gemini,
  title={Gemini: A Family of Highly Capable Multimodal Models},
  author={{Gemini Team, Google}},
  journal={arXiv preprint arXiv:2312.11805},
  year={2023}
}"""


_LITELLM: Any = None


def load_litellm(extra: str, where: str) -> Any:
    """Import litellm (offline tables, quiet), or say which extra installs it."""
    global _LITELLM
    if _LITELLM is not None:
        return _LITELLM
    if importlib.util.find_spec("litellm") is None:
        raise LLMError(
            f"{where} needs the 'litellm' package. Install it with: "
            f'pip install "dreamer-lab[{extra}]" (or pip install litellm).'
        )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
    # litellm's response types trip a pydantic notice on first use; it says nothing to users.
    warnings.filterwarnings("ignore", message=r".*`ReadOnly` qualifier", category=UserWarning)
    import litellm

    litellm.suppress_debug_info = True
    _LITELLM = litellm
    return litellm


class LiteLLM(ConstrainedOutput, APILLM):
    """Base of the routing-library backends; subclasses set the class attributes.

    Common keyword arguments (beyond each provider's own): ``system_prompt``,
    ``base_url`` (the provider's API root, e.g. a proxy or a local test server; part of
    the model identity), ``max_concurrency``, ``requests_per_minute``,
    ``tokens_per_minute``, ``max_retries``, ``backoff_base``, ``backoff_max``,
    ``timeout``, ``max_cost`` (USD), ``max_context_length``, ``commit_every``,
    ``tokenizer_model_name`` (a Hugging Face tokenizer for exact token counts, loaded from
    the local cache; otherwise counts are offline estimates and usage comes from the
    server), and ``litellm_kwargs`` (extra arguments for every ``litellm.acompletion``
    call, such as ``extra_headers``).

    ``run()`` takes DataDreamer's arguments; ``top_p=0`` or ``temperature=0`` decode
    greedily; ``seed`` is sent to providers that accept one (and always keys the cache);
    ``response_format`` (OpenAI's JSON-schema format) is sent to providers that support
    structured output, and every generation is validated against it.
    """

    backend_name = "litellm"
    extra_generation_kwargs = frozenset({"response_format"})
    #: litellm's provider prefix (``anthropic/claude-...``).
    provider: ClassVar[str] = ""
    #: Human name, for messages.
    provider_name: ClassVar[str] = ""
    #: The pip extra that installs what this backend needs.
    extra: ClassVar[str] = "litellm"
    #: Environment variables read for the API key, in order.
    key_envs: ClassVar[tuple[str, ...]] = ()
    #: Environment variables read for the base URL, in order.
    base_url_envs: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    #: Optional features litellm sends for this provider: ``n``, ``stop``, ``top_p``,
    #: ``seed``, ``response_format``, ``repetition_penalty``.
    supports: ClassVar[frozenset[str]] = frozenset()
    #: ``"openai"``: litellm sends through an OpenAI client for this provider, which we
    #: make without retries; ``None``: litellm's own pooled client (it is about twice as
    #: fast at high concurrency as handing litellm an httpx client, measured).
    client_kind: ClassVar[str | None] = None
    provider_model_card: ClassVar[str | None] = None
    provider_license: ClassVar[str | None] = None

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_region_name: str | None = None,
        vertex_project: str | None = None,
        vertex_location: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        *,
        system_prompt: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 16,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 120.0,
        max_cost: float | None = None,
        max_context_length: int | None = None,
        commit_every: int = 16,
        chat_prompt_template: Any = AUTO,
        tokenizer_model_name: str | None = None,
        tokenizer_revision: str | None = None,
        tokenizer_trust_remote_code: bool = False,
        aws_session_token: str | None = None,
        vertex_credentials: str | dict[str, Any] | None = None,
        litellm_kwargs: dict[str, Any] | None = None,
    ):
        name = type(self).__name__
        if not isinstance(model_name, str) or not model_name.strip():
            raise StepInputError(f"{name}: model_name must be a model name, got {model_name!r}.")
        if chat_prompt_template not in (AUTO, None):
            raise StepInputError(
                f"{name}: chat_prompt_template applies to local models (HFTransformers); "
                f"{self.provider_name or name} formats chat prompts itself. Leave it unset."
            )
        super().__init__(
            model_name,
            None if system_prompt is AUTO else system_prompt,
            cache_folder_path,
            retry_on_fail=retry_on_fail,
            max_concurrency=max_concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            timeout=timeout,
            max_cost=max_cost,
            max_context_length=max_context_length,
            commit_every=commit_every,
        )
        self.retry_on_fail = retry_on_fail
        for attr, value in (
            ("_api_key", api_key),
            ("_aws_access_key_id", aws_access_key_id),
            ("_aws_secret_access_key", aws_secret_access_key),
            ("_aws_session_token", aws_session_token),
            ("_vertex_credentials", vertex_credentials),
        ):
            setattr(self, attr, value)
            register_secret(value)  # redacted wherever it would appear
        self._keys_not_restored = False
        self.aws_region_name = aws_region_name
        self.vertex_project = vertex_project
        self.vertex_location = vertex_location
        self.base_url = (base_url or _env(self.base_url_envs) or "").rstrip("/") or None
        self.tokenizer_model_name = tokenizer_model_name
        self.tokenizer_revision = tokenizer_revision
        self.tokenizer_trust_remote_code = tokenizer_trust_remote_code
        self.litellm_kwargs = dict(litellm_kwargs or {})
        # Headers such as Authorization: redacted in the identity, never pickled.
        self._kwargs_hold_secret = redact(self.litellm_kwargs) != self.litellm_kwargs
        if self._kwargs_hold_secret:
            register_secret(self.litellm_kwargs)
        bad = sorted(k for k in self.litellm_kwargs if k in _RESERVED_KWARGS)
        if bad:
            raise StepInputError(
                f"{name}: litellm_kwargs may not set {bad}; use the constructor's own "
                "arguments (keys go in api_key=... or the environment)."
            )
        self._tokenizer: Any = None

    # -- identity and cards ---------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "provider": self.provider,
            "endpoint": self._endpoint(),
            "system_prompt": self.system_prompt,
            "litellm_kwargs": redact(self.litellm_kwargs) or None,
        }

    def _endpoint(self) -> str:
        return self.base_url or self.default_base_url

    @property
    def model_card(self) -> str | None:
        return self.provider_model_card

    @property
    def license(self) -> str | None:
        return self.provider_license

    # -- tokens -----------------------------------------------------------------------------
    def count_tokens(self, value: str) -> int:
        """Exact with ``tokenizer_model_name`` (a locally cached Hugging Face tokenizer);
        otherwise an offline estimate (the server's usage fields are exact)."""
        if self.tokenizer_model_name is None:
            return super().count_tokens(value)
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.tokenizer_model_name,
                revision=self.tokenizer_revision,
                trust_remote_code=self.tokenizer_trust_remote_code,
            )
        return len(self._tokenizer.encode(value, add_special_tokens=False))

    # -- pickling: never a key --------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tokenizer"] = None
        for attr in self._secret_attrs():
            state = drop_secret(state, attr)
        return state

    def _secret_attrs(self) -> tuple[str, ...]:
        extra = ("litellm_kwargs",) if self.__dict__.get("_kwargs_hold_secret") else ()
        return _SECRET_ATTRS + extra

    def __setstate__(self, state: dict[str, Any]) -> None:
        lost = False
        for attr in _SECRET_ATTRS:
            lost |= restore_secret(state, attr)
        if state.get("_kwargs_hold_secret"):
            state["_kwargs_lost"] = restore_secret(state, "litellm_kwargs")
            state["litellm_kwargs"] = state["litellm_kwargs"] or {}
        state["_keys_not_restored"] = lost
        self.__dict__.update(state)

    # -- parameters -------------------------------------------------------------------------
    def _validate_params(self, params: dict[str, Any]) -> None:
        where = f"{self!r}.run()"
        who = self.provider_name or type(self).__name__
        if params.get("logit_bias"):
            raise StepInputError(f"{where}: {who} does not accept logit_bias. Remove it.")
        if params["n"] > 1 and "n" not in self.supports:
            raise StepInputError(
                f"{where}: {who} returns one generation per request; pass n=1 and repeat "
                "the prompt instead (DataFromPrompt does, with a seed per row)."
            )
        if params.get("repetition_penalty") is not None and (
            "repetition_penalty" not in self.supports
        ):
            raise StepInputError(
                f"{where}: {who} has no repetition penalty. Remove repetition_penalty."
            )
        top_p = params["top_p"]
        if 0 < top_p < 1 and params["temperature"] > 0 and "top_p" not in self.supports:
            raise StepInputError(
                f"{where}: {who} does not accept top_p; use top_p=1.0 (sampling with "
                "temperature) or top_p=0.0 (greedy)."
            )
        if params.get("response_format") is not None and "response_format" not in self.supports:
            raise StepInputError(
                f"{where}: {who} (through litellm) cannot constrain output to a "
                "response_format. Use a provider with structured output (Anthropic, "
                "GoogleAIStudio, VertexAI, Bedrock, AI21, OpenAI) or ask for JSON in the "
                "prompt and validate it yourself."
            )
        super()._validate_params(params)

    # -- credentials ------------------------------------------------------------------------
    def _preflight(self) -> None:
        if self.__dict__.get("_kwargs_lost"):
            raise LLMError(
                f"{self!r} was restored from a saved copy, and its litellm_kwargs held "
                "credentials, which are never saved. Create the object again."
            )
        super()._preflight()

    def _key(self) -> str:
        key = self._api_key or _env(self.key_envs)
        envs = " or ".join(self.key_envs)
        if not key and self._keys_not_restored:
            raise LLMError(
                f"{self!r} was restored from a saved copy (a %%dream cache hit or a pickle), "
                f"and API keys are never saved. Set {envs}, or create the object again "
                "with api_key=..."
            )
        if not key:
            raise LLMError(
                f"{self!r}: no API key. Set the {envs} environment variable (or pass "
                "api_key=...; keys are never stored in the workspace)."
            )
        register_secret(key)
        return key

    def _check_credentials(self) -> None:
        load_litellm(self.extra, repr(self))
        if self.key_envs:
            self._key()

    def _auth_kwargs(self) -> dict[str, Any]:
        return {"api_key": self._key()}

    def _base_kwargs(self) -> dict[str, Any]:
        return {"api_base": self.base_url} if self.base_url else {}

    def _key_hint(self) -> str:
        envs = " or ".join(self.key_envs)
        return f"Check {envs} or api_key=... (the key is not shown here)."

    # -- requests ---------------------------------------------------------------------------
    def _route(self) -> str:
        return f"{self.provider}/{self.model_name}"

    def _open_client(self) -> Any:
        if self.client_kind != "openai":
            return None  # litellm's own pooled client (aiohttp transport)

        from openai import AsyncOpenAI

        class _NoRetryOpenAI(AsyncOpenAI):
            # litellm sets max_retries=2 on the OpenAI clients it is given; retries are
            # dreamer_lab's (one policy), so this client never retries by itself.
            @property
            def max_retries(self) -> int:  # type: ignore[override]
                return 0

            @max_retries.setter
            def max_retries(self, value: int) -> None:
                pass

        return _NoRetryOpenAI(api_key=self._key(), base_url=self._endpoint())

    async def _close_client(self, client: Any) -> None:
        if client is not None:
            await client.close()

    def _call_kwargs(self, prompt: str, params: dict[str, Any], seed: Any) -> dict[str, Any]:
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": str(prompt)})
        kw: dict[str, Any] = {
            "model": self._route(),
            "messages": messages,
            "timeout": self.timeout,
            "num_retries": 0,
            "max_retries": 0,
        }
        if params["max_new_tokens"] is not None:
            kw["max_tokens"] = params["max_new_tokens"]
        greedy = params["top_p"] == 0 or params["temperature"] == 0
        kw["temperature"] = 0.0 if greedy else params["temperature"]
        if not greedy and params["top_p"] < 1:
            kw["top_p"] = params["top_p"]
        if params["n"] > 1:
            kw["n"] = params["n"]
        if params["stop"]:
            kw["stop"] = params["stop"]
        if params.get("repetition_penalty") is not None:
            kw["frequency_penalty"] = params["repetition_penalty"] - 1.0
        if params.get("response_format") is not None:
            kw["response_format"] = params["response_format"]
        if "seed" in self.supports and int_seed(seed) is not None:
            kw["seed"] = int_seed(seed)
        kw.update(self.litellm_kwargs)
        kw.update(self._auth_kwargs())
        kw.update(self._base_kwargs())
        return kw

    async def _send(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        litellm = load_litellm(self.extra, repr(self))
        kw = self._call_kwargs(prompt, params, seed)
        if client is not None:
            kw["client"] = client
        resp = await litellm.acompletion(**kw)
        return self._parse(resp, prompt, params)

    def _parse(self, resp: Any, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse(f"no choices in the response ({type(resp).__name__})")
        texts = []
        for c in sorted(choices, key=lambda c: getattr(c, "index", 0) or 0):
            msg = getattr(c, "message", None)
            text = getattr(msg, "content", None)
            if text is None:
                # Structured output through a forced tool call: the arguments are the JSON.
                calls = getattr(msg, "tool_calls", None) or []
                if calls:
                    text = getattr(getattr(calls[0], "function", None), "arguments", None)
            if not isinstance(text, str):
                raise MalformedResponse("a choice without text")
            texts.append(truncate_at_stop(text, params["stop"]).strip())
        if len(texts) != params["n"]:
            raise MalformedResponse(f"{len(texts)} choices for n={params['n']}")
        usage = getattr(resp, "usage", None)
        return self._value(
            texts,
            prompt,
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
        )

    # -- failures ---------------------------------------------------------------------------
    def _classify(self, e: BaseException) -> Failure | None:
        chain = list(exception_chain(e))
        name = type(e).__name__
        text = " ".join(str(c) for c in chain)
        missing = chain[1] if len(chain) > 1 and name == "APIConnectionError" else e
        if isinstance(missing, ImportError):
            raise LLMError(
                f"{self._where()}: a package {self.provider_name} needs is missing "
                f'({missing}). Install it with: pip install "dreamer-lab[{self.extra}]".'
            ) from None
        missing_creds = _missing_credentials(chain)
        if missing_creds:
            raise LLMError(
                f"{self._where()}: found no credentials ({missing_creds}). {self._key_hint()}"
            ) from None
        if _is_credentials_error(chain):
            return Failure("auth", detail=text[:300], error=name)
        status = getattr(e, "status_code", None)
        status = status if isinstance(status, int) else None
        detail = _message(e)
        if isinstance(e, MalformedResponse) or any(m in text for m in _MALFORMED_MARKERS):
            return Failure("malformed", status, detail=detail, error=name)
        if name in ("Timeout", "APITimeoutError") or _is_connection_error(chain):
            inner = next((type(c).__name__ for c in chain if _is_connection_error([c])), name)
            return Failure("connection", error=inner)
        if status == 401 or (status in (400, 403) and any(m in text for m in _AUTH_MARKERS)):
            return Failure("auth", status, detail=detail, error=name)
        if status == 403:
            return Failure("permission", status, detail=detail, error=name)
        if status == 404:
            return Failure("not_found", status, detail=detail, error=name)
        if status == 429:
            return Failure("rate_limit", 429, _retry_after(e), detail, name)
        if status is not None and 400 <= status < 500:
            return Failure("bad_request", status, detail=detail, error=name)
        if name == "APIConnectionError":
            return Failure("connection", error=name)
        if status is not None:
            return Failure("server", status, _retry_after(e), detail, name)
        return super()._classify(e)


# Arguments litellm_kwargs may not override (credentials, routing, retries, the client).
_RESERVED_KWARGS = frozenset(
    {"model", "messages", "api_key", "api_base", "base_url", "client", "num_retries",
     "max_retries", "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
     "vertex_credentials", "stream"}
)  # fmt: skip


def _env(names: tuple[str, ...]) -> str | None:
    for n in names:
        value = os.environ.get(n)
        if value:
            return value
    return None


def _message(e: BaseException) -> str:
    return str(getattr(e, "message", None) or e)


def _retry_after(e: BaseException) -> float | None:
    for headers in (
        getattr(e, "litellm_response_headers", None),
        getattr(getattr(e, "response", None), "headers", None),
    ):
        try:
            value = retry_after_seconds(headers)
        except (AttributeError, TypeError):
            value = None
        if value is not None:
            return value
    return None


def _is_connection_error(chain: list[BaseException]) -> bool:
    for c in chain:
        mod = type(c).__module__.split(".")[0]
        name = type(c).__name__
        if isinstance(c, ConnectionError | TimeoutError):
            return True
        if mod in ("httpx", "httpx2", "httpcore") and name in (
            "ConnectError",
            "ConnectTimeout",
            "ReadTimeout",
            "WriteTimeout",
            "PoolTimeout",
            "ReadError",
            "RemoteProtocolError",
        ):
            return True
        if mod == "aiohttp" and name.startswith(("ClientConnector", "ServerDisconnected")):
            return True
        if mod == "openai" and name in ("APIConnectionError", "APITimeoutError"):
            return True
    return False


def _missing_credentials(chain: list[BaseException]) -> str | None:
    """The name of a cloud SDK's "no credentials found" error in ``chain``, if any."""
    for c in chain:
        mod, name = type(c).__module__, type(c).__name__
        if mod.startswith("google.auth") and name == "DefaultCredentialsError":
            return name
        if mod.startswith("botocore") and name in ("NoCredentialsError", "PartialCredentialsError"):
            return name
    return None


def _is_credentials_error(chain: list[BaseException]) -> bool:
    """A cloud SDK refused the credentials (e.g. a service account's token request)."""
    return any(
        type(c).__module__.startswith("google.auth") and type(c).__name__ == "RefreshError"
        for c in chain
    )


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


_GEMINI_PRICES: dict[str, tuple[float, float]] = {
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
}
_GEMINI_CONTEXT: dict[str, int] = {
    "gemini-pro": 32_760,
    "gemini-1.0-pro": 32_760,
    "gemini-1.5-flash": 1_048_576,
    "gemini-1.5-pro": 2_097_152,
    "gemini-2.0-flash": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
    "gemini-2.5-pro": 1_048_576,
}


class GoogleAIStudio(LiteLLM):
    """Google's Gemini models through the Gemini API (Google AI Studio).
    Key: ``$GEMINI_API_KEY`` (or ``$GOOGLE_API_KEY``). ``base_url`` includes the version
    (default ``https://generativelanguage.googleapis.com/v1beta``)."""

    backend_name = "google_ai_studio"
    provider = "gemini"
    provider_name = "Google AI Studio"
    extra = "google"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_envs = ("GEMINI_API_BASE",)
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    supports = frozenset({"n", "stop", "top_p", "seed", "response_format"})
    provider_model_card = "https://ai.google.dev/gemini-api/docs/models"
    provider_license = "https://ai.google.dev/gemini-api/terms"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = dict(_GEMINI_PRICES)
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = dict(_GEMINI_CONTEXT)

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

    @property
    def citation(self) -> list[str] | None:
        return [_GEMINI_CITATION]


class VertexAI(LiteLLM):
    """Gemini (and partner) models on Google Cloud Vertex AI.

    Credentials: Application Default Credentials (``gcloud auth application-default
    login``, or ``$GOOGLE_APPLICATION_CREDENTIALS`` naming a service-account key file), or
    ``vertex_credentials=`` (the path or JSON text of a key file; never stored).
    Project and location: ``vertex_project`` / ``$VERTEXAI_PROJECT`` and
    ``vertex_location`` / ``$VERTEXAI_LOCATION`` (default ``us-central1``).
    """

    backend_name = "vertex_ai"
    provider = "vertex_ai"
    provider_name = "Vertex AI"
    extra = "vertexai"
    base_url_envs = ("VERTEXAI_API_BASE",)
    supports = frozenset({"n", "stop", "top_p", "seed", "response_format"})
    provider_model_card = "https://cloud.google.com/vertex-ai/generative-ai/docs/models"
    provider_license = "https://cloud.google.com/terms"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = dict(_GEMINI_PRICES)
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = dict(_GEMINI_CONTEXT)

    def __init__(
        self,
        model_name: str,
        vertex_project: str | None = None,
        vertex_location: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs, {"vertex_credentials"})
        super().__init__(
            model_name,
            vertex_project=vertex_project or _env(("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")),
            vertex_location=vertex_location or _env(("VERTEXAI_LOCATION",)) or "us-central1",
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    def _endpoint(self) -> str:
        root = self.base_url or f"https://{self.vertex_location}-aiplatform.googleapis.com"
        return f"{root} (project {self.vertex_project}, {self.vertex_location})"

    def _check_credentials(self) -> None:
        load_litellm(self.extra, repr(self))
        if importlib.util.find_spec("google.auth") is None:
            raise LLMError(
                f"{self!r} needs the 'google-auth' package. Install it with: "
                'pip install "dreamer-lab[vertexai]".'
            )
        if not self.vertex_project and not self._vertex_credentials:
            raise LLMError(
                f"{self!r}: no Google Cloud project. Pass vertex_project=... or set "
                "VERTEXAI_PROJECT (or GOOGLE_CLOUD_PROJECT)."
            )

    def _auth_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "vertex_project": self.vertex_project,
            "vertex_location": self.vertex_location,
        }
        if self._vertex_credentials:
            kw["vertex_credentials"] = self._vertex_credentials
        return kw

    def _key_hint(self) -> str:
        return (
            "Check the Google Cloud credentials: run `gcloud auth application-default login`, "
            "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or pass "
            "vertex_credentials=... (credentials are not shown here)."
        )

    def _rejected(self) -> str:
        return "the Google Cloud credentials were rejected"

    def _permission_hint(self) -> str:
        return (
            f"Check that the Vertex AI API is enabled in project {self.vertex_project!r} "
            "and that the account has the Vertex AI User role."
        )

    @property
    def citation(self) -> list[str] | None:
        return [_GEMINI_CITATION] if self.model_name.startswith("gemini") else None


class Bedrock(LiteLLM):
    """Models on Amazon Bedrock, through the Converse API.

    Credentials: ``aws_access_key_id`` / ``aws_secret_access_key`` (and
    ``aws_session_token``), else ``$AWS_ACCESS_KEY_ID`` / ``$AWS_SECRET_ACCESS_KEY``, else
    the AWS credential chain (profiles, SSO, instance roles). Region: ``aws_region_name``,
    ``$AWS_REGION``, ``$AWS_DEFAULT_REGION`` (default ``us-east-1``). ``base_url`` is the
    Bedrock runtime endpoint (``$AWS_BEDROCK_RUNTIME_ENDPOINT``), e.g. a VPC endpoint.
    """

    backend_name = "bedrock"
    provider = "bedrock/converse"
    provider_name = "Amazon Bedrock"
    extra = "bedrock"
    base_url_envs = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)
    supports = frozenset({"stop", "top_p", "response_format"})
    provider_model_card = "https://aws.amazon.com/bedrock/"
    provider_license = "https://aws.amazon.com/service-terms/"
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {
        "anthropic.claude-3-haiku": (0.25, 1.25),
        "anthropic.claude-3-5-haiku": (0.80, 4.00),
        "anthropic.claude-3-sonnet": (3.00, 15.00),
        "anthropic.claude-3-5-sonnet": (3.00, 15.00),
        "anthropic.claude-3-7-sonnet": (3.00, 15.00),
        "anthropic.claude-sonnet-4": (3.00, 15.00),
        "anthropic.claude-3-opus": (15.00, 75.00),
        "meta.llama3-8b-instruct": (0.30, 0.60),
        "meta.llama3-70b-instruct": (2.65, 3.50),
        "amazon.nova-micro": (0.035, 0.14),
        "amazon.nova-lite": (0.06, 0.24),
        "amazon.nova-pro": (0.80, 3.20),
        "mistral.mistral-large": (4.00, 12.00),
    }
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {
        "anthropic.claude-v2": 100_000,
        "anthropic.claude-instant": 100_000,
        "anthropic.claude-3": 200_000,
        "anthropic.claude-sonnet-4": 200_000,
        "anthropic.claude-opus-4": 200_000,
        "meta.llama3": 8_192,
        "meta.llama3-1": 128_000,
        "meta.llama3-2": 128_000,
        "meta.llama3-3": 128_000,
        "amazon.nova-micro": 128_000,
        "amazon.nova-lite": 300_000,
        "amazon.nova-pro": 300_000,
        "mistral.mistral-large": 128_000,
    }

    def __init__(
        self,
        model_name: str,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_region_name: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        _only_common(type(self).__name__, kwargs, {"aws_session_token"})
        super().__init__(
            model_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_region_name=aws_region_name
            or _env(("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION_NAME"))
            or "us-east-1",
            retry_on_fail=retry_on_fail,
            cache_folder_path=cache_folder_path,
            **kwargs,
        )

    def _endpoint(self) -> str:
        return self.base_url or f"https://bedrock-runtime.{self.aws_region_name}.amazonaws.com"

    def _route(self) -> str:
        if self.model_name.startswith("bedrock/"):
            return self.model_name
        return f"{self.provider}/{self.model_name}"

    def _table_name(self) -> str:
        # Cross-region inference profiles (``us.anthropic.claude-...``) price like the model.
        head, _, rest = self.model_name.partition(".")
        return (
            rest if head in ("us", "eu", "apac", "global", "us-gov") and rest else self.model_name
        )

    def _context_length(self) -> int | None:
        if self.max_context_length is not None:
            return self.max_context_length
        from dreamer_lab.llms.api_llm import lookup_model

        return lookup_model(self.CONTEXT_LENGTHS, self._table_name())

    def _price_entry(self) -> tuple[float, float] | None:
        from dreamer_lab.llms.api_llm import lookup_model
        from dreamer_lab.llms.openai import price_of

        return lookup_model(self.PRICES, self._table_name()) or price_of(self.model_name)

    def _aws(self) -> dict[str, Any]:
        key_id = self._aws_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = self._aws_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
        token = self._aws_session_token or (
            os.environ.get("AWS_SESSION_TOKEN") if not self._aws_access_key_id else None
        )
        for value in (key_id, secret, token):
            register_secret(value)
        return {"key_id": key_id, "secret": secret, "token": token}

    def _check_credentials(self) -> None:
        load_litellm(self.extra, repr(self))
        if importlib.util.find_spec("boto3") is None:
            raise LLMError(
                f"{self!r} needs the 'boto3' package. Install it with: "
                'pip install "dreamer-lab[bedrock]".'
            )
        aws = self._aws()
        if self._keys_not_restored and not (aws["key_id"] and aws["secret"]):
            raise LLMError(
                f"{self!r} was restored from a saved copy (a %%dream cache hit or a pickle), "
                "and credentials are never saved. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile), or create the object again."
            )
        if bool(aws["key_id"]) != bool(aws["secret"]):
            raise LLMError(
                f"{self!r}: only half of an AWS key pair was given. Pass both "
                "aws_access_key_id and aws_secret_access_key (or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY)."
            )

    def _auth_kwargs(self) -> dict[str, Any]:
        aws = self._aws()
        kw: dict[str, Any] = {"aws_region_name": self.aws_region_name}
        if aws["key_id"] and aws["secret"]:
            kw["aws_access_key_id"] = aws["key_id"]
            kw["aws_secret_access_key"] = aws["secret"]
            if aws["token"]:
                kw["aws_session_token"] = aws["token"]
        return kw

    def _base_kwargs(self) -> dict[str, Any]:
        return {"aws_bedrock_runtime_endpoint": self.base_url} if self.base_url else {}

    def _key_hint(self) -> str:
        return (
            "Check the AWS credentials (aws_access_key_id / aws_secret_access_key, "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or your AWS profile) and "
            f"aws_region_name={self.aws_region_name!r} (credentials are not shown here)."
        )

    def _rejected(self) -> str:
        return "the AWS credentials were rejected"

    def _permission_hint(self) -> str:
        return (
            f"Enable access to this model in the Bedrock console ({self.aws_region_name}) "
            "and check that the IAM policy allows bedrock:InvokeModel."
        )


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


# Keyword arguments every provider takes (see LiteLLM); providers add their own.
_COMMON_KWARGS = frozenset(
    {"system_prompt", "base_url", "max_concurrency", "requests_per_minute",
     "tokens_per_minute", "max_retries", "backoff_base", "backoff_max", "timeout",
     "max_cost", "max_context_length", "commit_every", "chat_prompt_template",
     "tokenizer_model_name", "tokenizer_revision", "tokenizer_trust_remote_code",
     "litellm_kwargs"}
)  # fmt: skip


def _only_common(name: str, kwargs: dict[str, Any], own: set[str] | None = None) -> None:
    unknown = sorted(set(kwargs) - _COMMON_KWARGS - (own or set()))
    if unknown:
        raise StepInputError(
            f"{name}: unknown argument(s) {unknown}. It accepts "
            f"{sorted(_COMMON_KWARGS | (own or set()))} besides its own (see help({name}))."
        )


__all__ = [
    "AI21",
    "Anthropic",
    "Bedrock",
    "Cohere",
    "GoogleAIStudio",
    "LiteLLM",
    "VertexAI",
    "load_litellm",
]
