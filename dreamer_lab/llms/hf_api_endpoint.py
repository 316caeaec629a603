"""``HFAPIEndpoint``: a Hugging Face Inference Endpoint or any Text Generation Inference
(TGI) server, through ``huggingface_hub``'s ``AsyncInferenceClient``.

Requests, concurrency, rate limits, retries (one policy, ``Retry-After`` honoured), the
cost budget and the request cache are :class:`~dreamer_lab.llms.api_llm.APILLM`'s; this
module only sends one request and reads its failures. Two routes:

* ``chat_prompt_template=AUTO`` (default): ``chat_completion``, i.e. ``POST
  {endpoint}/v1/chat/completions`` (TGI's Messages API applies the model's chat template
  and reports usage);
* ``chat_prompt_template=None`` or a template string: ``text_generation``, i.e. ``POST
  {endpoint}`` with ``{"inputs", "parameters"}`` (the raw or locally formatted prompt;
  completion tokens from the response's details, prompt tokens estimated).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from dreamer_lab.core.secrets import drop_secret, register_secret, restore_secret
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.api_llm import (
    APILLM,
    Failure,
    MalformedResponse,
    exception_chain,
    int_seed,
    retry_after_seconds,
)
from dreamer_lab.llms.base import AUTO, truncate_at_stop
from dreamer_lab.llms.token_counter import TokenCounter

_API_ARGS = set(inspect.signature(APILLM.__init__).parameters) - {"self", "model_name"}


class HFAPIEndpoint(APILLM):
    """A model behind a Hugging Face Inference Endpoint or a TGI server (DataDreamer's
    arguments).

    Args:
        endpoint: the endpoint's URL (``https://xyz.endpoints.huggingface.cloud`` or
            ``http://127.0.0.1:8080`` for a local TGI); part of the model identity.
        model_name: the model it serves (identity, cards, and the chat ``model`` field).
        chat_prompt_template: ``AUTO`` uses the chat route (the server applies the
            model's template); ``None`` sends raw prompts to ``text_generation``; a string
            with ``{{prompt}}`` (and optionally ``{{system_prompt}}``) formats them here.
        system_prompt: system message (``AUTO``: none).
        token: Hugging Face token (default ``$HF_TOKEN``; none for a local TGI); never
            stored in records, fingerprints or pickles.
        revision: the model revision the endpoint serves (identity only).
        trust_remote_code: passed when loading the model's tokenizer to count tokens (from a
            local folder or the Hugging Face cache only; otherwise counts are estimates).
        **kwargs: the shared API options (``max_concurrency``, ``requests_per_minute``,
            ``max_retries``, ``timeout``, ``max_cost``, ``max_context_length`` ...);
            any others (``headers``, ``cookies``, ``bill_to``) go to ``InferenceClient``.

    ``run()`` also accepts ``top_k``, ``typical_p``, ``frequency_penalty`` and
    ``presence_penalty``; ``n > 1`` and ``logit_bias`` are not supported.
    """

    backend_name = "hf_api_endpoint"
    extra_generation_kwargs = frozenset(
        {"top_k", "typical_p", "frequency_penalty", "presence_penalty"}
    )

    def __init__(
        self,
        endpoint: str,
        model_name: str,
        chat_prompt_template: str | None = AUTO,
        system_prompt: str | None = AUTO,
        token: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise StepInputError(
                f"HFAPIEndpoint: endpoint must be the endpoint's URL (https://... or "
                f"http://HOST:PORT for a TGI server), got {endpoint!r}."
            )
        api = {k: kwargs.pop(k) for k in list(kwargs) if k in _API_ARGS}
        client_args = set(inspect.signature(_client_class().__init__).parameters)
        unknown = sorted(set(kwargs) - client_args - {"self"})
        if unknown:
            raise StepInputError(
                f"HFAPIEndpoint: unknown argument(s) {unknown}. Shared API options: "
                f"{sorted(_API_ARGS - {'system_prompt', 'cache_folder_path'})}; "
                "InferenceClient options: headers, cookies, bill_to."
            )
        super().__init__(
            model_name,
            None if system_prompt is AUTO else system_prompt,
            cache_folder_path,
            retry_on_fail=retry_on_fail,
            **api,
        )
        self.endpoint = endpoint.rstrip("/")
        self.chat_prompt_template = chat_prompt_template
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        # The served model's tokenizer counts tokens when it is a local folder or already in
        # the Hugging Face cache (never downloaded here); otherwise counts are estimates.
        self._token_counter = TokenCounter(
            model_name, revision, trust_remote_code, local_files_only=True, quiet=True
        )
        self._token = token
        register_secret(token)  # redacted wherever it could show up
        self.client_kwargs = kwargs

    # -- identity ---------------------------------------------------------------------------
    @property
    def chat(self) -> bool:
        return self.chat_prompt_template is AUTO

    def _identity(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "revision": self.revision,
            "endpoint": self.endpoint,
            "system_prompt": self.system_prompt,
            "chat_prompt_template": "AUTO" if self.chat else self.chat_prompt_template,
        }

    def _endpoint(self) -> str:
        return self.endpoint

    def __dreamer_repr__(self) -> str:
        return f"HFAPIEndpoint({self.endpoint!r}, {self.model_name!r})"

    @property
    def model_card(self) -> str | None:
        return f"https://huggingface.co/{self.model_name}" if "/" in self.model_name else None

    def __getstate__(self) -> dict[str, Any]:
        # Never the token: a process-local reference (same process) or $HF_TOKEN again.
        return drop_secret(self.__dict__, "_token")

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_secret(state, "_token")
        self.__dict__.update(state)

    def count_tokens(self, value: str) -> int:
        """Exact with the model's local or cached tokenizer, else an offline estimate."""
        if self._token_counter.exact:
            return self._token_counter.count(value)
        return super().count_tokens(value)

    # -- prompts ----------------------------------------------------------------------------
    def _full_prompt(self, prompt: str) -> str:
        template = self.chat_prompt_template
        if self.chat or template is None:
            return super()._full_prompt(prompt)
        out = template.replace("{{prompt}}", str(prompt))
        return out.replace("{{system_prompt}}", self.system_prompt or "")

    # -- requests ---------------------------------------------------------------------------
    def _validate_params(self, params: dict[str, Any]) -> None:
        if params["n"] != 1:
            raise StepInputError(
                f"{self!r}: TGI generates one sequence per request; n > 1 is not supported. "
                "Repeat the prompts with different seeds (e.g. DataFromPrompt) instead."
            )
        if params.get("logit_bias"):
            raise StepInputError(f"{self!r}: logit_bias is not supported by TGI; drop it.")

    def _open_client(self) -> Any:
        # No token: huggingface_hub's own ($HF_TOKEN or the saved login), if any.
        token = self._token or os.environ.get("HF_TOKEN") or None
        client = _client_class()(
            base_url=self.endpoint, token=token, timeout=self.timeout, **self.client_kwargs
        )
        if hasattr(client, "_async_client"):
            # huggingface_hub's default session refuses every request when HF_HUB_OFFLINE=1,
            # also to this endpoint, which is not the Hub (offline work with a local TGI is
            # the point). Give the client its own connection pool, sized to the
            # concurrency, without that hook.
            import httpx2

            client._async_client = httpx2.AsyncClient(
                follow_redirects=True,
                timeout=None,  # per request: InferenceClient passes ``timeout``
                limits=httpx2.Limits(max_connections=max(100, self.max_concurrency)),
            )
        return client

    async def _close_client(self, client: Any) -> None:
        pool = getattr(client, "_async_client", None)
        await client.close()
        if pool is not None:
            await pool.aclose()

    async def _send(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        sample = params["temperature"] > 0 and params["top_p"] > 0
        common: dict[str, Any] = {"seed": int_seed(seed), "stop": params["stop"] or None}
        if sample:
            common["temperature"] = params["temperature"]
            if params["top_p"] < 1:  # TGI accepts top_p only in (0, 1)
                common["top_p"] = params["top_p"]
        for k in ("frequency_penalty", "presence_penalty"):
            if params.get(k) is not None:
                common[k] = params[k]
        if self.chat:
            return await self._send_chat(client, prompt, params, common, sample)
        return await self._send_text(client, prompt, params, common, sample)

    async def _send_chat(
        self,
        client: Any,
        prompt: str,
        params: dict[str, Any],
        common: dict[str, Any],
        sample: bool,
    ) -> dict[str, Any]:
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": str(prompt)})
        extra = {k: params[k] for k in ("top_k", "typical_p") if params.get(k) is not None}
        if params.get("repetition_penalty") is not None and "frequency_penalty" not in common:
            common["frequency_penalty"] = params["repetition_penalty"] - 1.0
        if not sample:
            common["temperature"] = 0.0  # TGI decodes greedily
        resp = await client.chat_completion(
            messages,
            model=self.model_name,
            max_tokens=params["max_new_tokens"],
            extra_body=extra or None,
            **common,
        )
        choices = getattr(resp, "choices", None)
        if not choices:
            raise MalformedResponse("no choices in the response")
        text = getattr(getattr(choices[0], "message", None), "content", None)
        if not isinstance(text, str):
            raise MalformedResponse("a choice without text")
        usage = getattr(resp, "usage", None)
        return self._value(
            [truncate_at_stop(text, params["stop"]).strip()],
            prompt,
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
        )

    async def _send_text(
        self,
        client: Any,
        prompt: str,
        params: dict[str, Any],
        common: dict[str, Any],
        sample: bool,
    ) -> dict[str, Any]:
        max_new = params["max_new_tokens"]
        if max_new is None:
            room = self.get_max_context_length(self.count_tokens(self._full_prompt(prompt)))
            max_new = room if room and room > 0 else None  # None: the server's default
        for k in ("top_k", "typical_p"):
            if params.get(k) is not None:
                common[k] = params[k]
        resp = await client.text_generation(
            self._full_prompt(prompt),
            details=True,
            do_sample=sample,
            max_new_tokens=max_new,
            repetition_penalty=params.get("repetition_penalty"),
            return_full_text=False,
            **common,
        )
        text = getattr(resp, "generated_text", None)
        if not isinstance(text, str):
            raise MalformedResponse("no generated_text in the response")
        generated = getattr(getattr(resp, "details", None), "generated_tokens", None)
        # TGI reports generated tokens, not prompt tokens: the prompt count is an estimate.
        estimate = self.count_tokens(self._full_prompt(prompt))
        texts = [truncate_at_stop(text, params["stop"]).strip()]
        value = self._value(texts, prompt, estimate, generated)
        value["u"]["estimated"] = True
        return value

    # -- failures ---------------------------------------------------------------------------
    def _classify(self, e: BaseException) -> Failure | None:
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        try:
            from httpx2 import TransportError
        except ImportError:  # pragma: no cover - older huggingface_hub uses httpx
            from httpx import TransportError

        for exc in exception_chain(e):
            response = getattr(exc, "response", None)
            if isinstance(exc, HfHubHTTPError) and response is not None:
                return _http_failure(response, type(exc).__name__)
            if isinstance(exc, InferenceTimeoutError | TransportError | TimeoutError):
                return Failure("connection", error=type(exc).__name__)
        return super()._classify(e)

    def _key_hint(self) -> str:
        return "Check the token (token=... or $HF_TOKEN; it is not shown here)."

    def _permission_hint(self) -> str:
        return "Check that your token can use this endpoint."


def _http_failure(response: Any, error: str) -> Failure:
    status = int(response.status_code)
    try:
        body = response.json()
        detail = (
            str(body.get("error") or body.get("message") or body)
            if isinstance(body, dict)
            else str(body)
        )
    except Exception:  # noqa: BLE001 - a body that is not JSON
        detail = (getattr(response, "text", "") or "")[:300]
    kind = {401: "auth", 403: "permission", 404: "not_found", 429: "rate_limit"}.get(status)
    if kind is None:
        kind = "bad_request" if status in (400, 413, 422) else "server"
    retry_after = retry_after_seconds(getattr(response, "headers", None))
    return Failure(kind, status=status, retry_after=retry_after, detail=detail, error=error)


def _client_class() -> Any:
    from huggingface_hub import AsyncInferenceClient

    return AsyncInferenceClient


__all__ = ["HFAPIEndpoint"]
