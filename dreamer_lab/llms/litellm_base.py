"""The base of the commercial providers through a routing library (:class:`LiteLLM`).
The providers: ``Anthropic`` (llms/anthropic.py), ``Cohere`` (llms/cohere.py),
``GoogleAIStudio`` (Gemini) and ``VertexAI`` (llms/google.py), ``Bedrock``
(llms/bedrock.py) and ``AI21`` (llms/ai21.py); failures are read in llms/litellm_errors.py.

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
from dreamer_lab.llms.api_llm import APILLM, Failure, MalformedResponse, int_seed
from dreamer_lab.llms.base import AUTO, LLMError, truncate_at_stop
from dreamer_lab.llms.litellm_errors import classify_litellm_error
from dreamer_lab.llms.structured import ConstrainedOutput

# Secret attributes: pickles carry a process-local reference instead (see __getstate__).
_SECRET_ATTRS = ("_api_key", "_aws_access_key_id", "_aws_secret_access_key",
                 "_aws_session_token", "_vertex_credentials")  # fmt: skip


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
        self._check_args(model_name, chat_prompt_template)
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
        self._store_credentials(
            api_key, aws_access_key_id, aws_secret_access_key, aws_session_token, vertex_credentials
        )
        self._store_location(base_url, aws_region_name, vertex_project, vertex_location)
        self.tokenizer_model_name = tokenizer_model_name
        self.tokenizer_revision = tokenizer_revision
        self.tokenizer_trust_remote_code = tokenizer_trust_remote_code
        self._store_litellm_kwargs(litellm_kwargs)
        self._tokenizer: Any = None

    def _check_args(self, model_name: Any, chat_prompt_template: Any) -> None:
        name = type(self).__name__
        if not isinstance(model_name, str) or not model_name.strip():
            raise StepInputError(f"{name}: model_name must be a model name, got {model_name!r}.")
        if chat_prompt_template not in (AUTO, None):
            raise StepInputError(
                f"{name}: chat_prompt_template applies to local models (HFTransformers); "
                f"{self.provider_name or name} formats chat prompts itself. Leave it unset."
            )

    def _store_credentials(self, *values: Any) -> None:
        """Keys stay on the object: redacted wherever they would appear, never pickled."""
        for attr, value in zip(_SECRET_ATTRS, values, strict=True):
            setattr(self, attr, value)
            register_secret(value)
        self._keys_not_restored = False

    def _store_location(
        self,
        base_url: str | None,
        aws_region_name: str | None,
        vertex_project: str | None,
        vertex_location: str | None,
    ) -> None:
        """Where requests go (part of the identity, see :meth:`_endpoint`)."""
        self.aws_region_name = aws_region_name
        self.vertex_project = vertex_project
        self.vertex_location = vertex_location
        self.base_url = (base_url or _env(self.base_url_envs) or "").rstrip("/") or None

    def _store_litellm_kwargs(self, litellm_kwargs: dict[str, Any] | None) -> None:
        name = type(self).__name__
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
        failure = classify_litellm_error(self, e)
        return failure if failure is not None else super()._classify(e)


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


__all__ = ["LiteLLM", "load_litellm"]
