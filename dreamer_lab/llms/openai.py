"""``OpenAI``: the OpenAI API and any OpenAI-compatible endpoint (vLLM, llama.cpp server,
Together, ...) through the official ``openai`` client.

Concurrency, rate limits, retries (honouring ``Retry-After``), the cost budget and
per-batch commits into the request cache are :class:`~dreamer_lab.llms.api_llm.APILLM`'s,
shared with every API backend; this module sends one request with the official client,
reads its failures, and adds the OpenAI Batch API. Usage comes from the server's
``usage`` fields (or an offline estimate when a server omits them); cost comes from a
price table users can extend (:func:`register_price`), and ``max_cost`` stops before
overspending.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from dreamer_lab.core.secrets import drop_secret, register_secret, restore_secret, scrub_text
from dreamer_lab.errors import (
    BatchPendingError,  # noqa: F401
    StepInputError,
)
from dreamer_lab.llms.api_llm import (
    APILLM,
    CostBudgetExceededError,
    Failure,
    MalformedResponse,
    int_seed,
)
from dreamer_lab.llms.api_llm import RateLimiter as _RateLimiter  # noqa: F401 (moved there)
from dreamer_lab.llms.base import LLMError, estimate_tokens, truncate_at_stop
from dreamer_lab.llms.openai_client import classify_openai_error, openai_client
from dreamer_lab.llms.openai_models import OpenAITokens
from dreamer_lab.llms.structured import ConstrainedOutput

# USD per 1M tokens (input, output). Extend or override with register_price().
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
}


def register_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Set the price (USD per 1M input / output tokens) of a model name or name prefix."""
    PRICES[model] = (float(input_per_million), float(output_per_million))


def price_of(model: str) -> tuple[float, float] | None:
    """The price of ``model``: exact name first, then the longest matching prefix
    (``gpt-4o-2024-08-06`` uses ``gpt-4o``)."""
    if model in PRICES:
        return PRICES[model]
    best = max((p for p in PRICES if model.startswith(p + "-")), key=len, default=None)
    return PRICES[best] if best else None


class OpenAI(ConstrainedOutput, OpenAITokens, APILLM):
    """An OpenAI (or OpenAI-compatible) chat model.

    Args:
        model_name: e.g. ``"gpt-4o-mini"``, or the name a compatible server serves.
        system_prompt: system message sent with every prompt.
        api_key: defaults to ``$OPENAI_API_KEY``; never stored in records or fingerprints.
        base_url: an OpenAI-compatible endpoint (part of the model identity).
        max_concurrency: requests in flight at once.
        requests_per_minute, tokens_per_minute: client-side rate limits.
        max_retries: retries per request on 429, 5xx, timeouts, connection errors and
            malformed responses (jittered exponential backoff, ``Retry-After`` honoured).
        max_cost: USD budget for this object's requests; a request that could exceed it
            is not sent (:class:`CostBudgetExceededError`).
        max_context_length: the model's context window, if known (checked before sending).
        chat: use the chat completions API (``False``: the legacy completions API).
        use_batch_api: send missing requests as one OpenAI Batch API job (cheaper, slower).
            The job id is saved in the workspace, so a rerun after a kernel restart resumes
            polling instead of paying again; failed rows are resubmitted up to
            ``batch_max_resubmits`` times. ``batch_timeout`` (seconds) stops waiting with
            :class:`BatchPendingError`; ``batch_discount`` scales the price table.

    ``run(..., response_format={"type": "json_schema", "json_schema": {...}})`` checks the
    schema before sending, lets the server constrain decoding, and validates every
    generation (see :mod:`dreamer_lab.llms.structured`).
    """

    backend_name = "openai"
    #: Environment variable holding the API key (subclasses for other providers set theirs).
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"
    extra_generation_kwargs = frozenset(
        {"response_format", "presence_penalty", "frequency_penalty"}
    )

    def __init__(
        self,
        model_name: str,
        system_prompt: str | None = None,
        organization: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        retry_on_fail: bool = True,
        cache_folder_path: str | None = None,
        max_concurrency: int = 16,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 120.0,
        max_cost: float | None = None,
        max_context_length: int | None = None,
        chat: bool | None = None,
        commit_every: int = 16,
        use_batch_api: bool = False,
        batch_poll_interval: float = 30.0,
        batch_timeout: float | None = None,
        batch_max_resubmits: int = 2,
        batch_discount: float = 0.5,
        **kwargs: Any,
    ):
        if not isinstance(model_name, str) or not model_name.strip():
            raise StepInputError(f"OpenAI: model_name must be a model name, got {model_name!r}.")
        super().__init__(
            model_name,
            system_prompt,
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
        self.organization = organization
        self._api_key = api_key
        register_secret(api_key)  # redacted wherever it would appear
        self._key_not_restored = False
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.api_version = api_version
        self.chat = chat if chat is not None else not model_name.endswith("-instruct")
        self.use_batch_api = use_batch_api
        self.batch_poll_interval = batch_poll_interval
        self.batch_timeout = batch_timeout
        self.batch_max_resubmits = batch_max_resubmits
        self.batch_discount = batch_discount
        self.client_kwargs = kwargs

    def _identity(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "endpoint": (self.base_url or "https://api.openai.com/v1").rstrip("/"),
            "api_version": self.api_version,
            "system_prompt": self.system_prompt,
            "chat": self.chat,
        }

    @property
    def model_card(self) -> str | None:
        return None if self.base_url else "https://platform.openai.com/docs/models"

    @property
    def license(self) -> str | None:
        return None if self.base_url else "https://openai.com/policies/terms-of-use"

    # -- pickling: never the key ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return drop_secret(self.__dict__, "_api_key")

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_key_not_restored"] = restore_secret(state, "_api_key")
        self.__dict__.update(state)

    # -- client ---------------------------------------------------------------------------
    def _key(self) -> str:
        key = self._api_key or os.environ.get(self.api_key_env)
        if not key and getattr(self, "_key_not_restored", False):
            raise LLMError(
                f"{self!r} was restored from a saved copy (a %%dream cache hit or a pickle), "
                f"and API keys are never saved. Set the {self.api_key_env} environment "
                "variable, or create the object again with api_key=..."
            )
        if not key:
            raise LLMError(
                f"{self!r}: no API key. Set the {self.api_key_env} environment variable "
                "(or pass api_key=...; keys are never stored in the workspace). For a local "
                "OpenAI-compatible server that needs none, pass any placeholder such as "
                "api_key='none'."
            )
        register_secret(key)
        return key

    def _client(self) -> Any:
        return openai_client(
            api_key=self._key(),
            base_url=self.base_url,
            organization=self.organization,
            timeout=self.timeout,
            api_version=self.api_version,
            **self.client_kwargs,
        )

    def _endpoint(self) -> str:
        return self._identity()["endpoint"]

    def _check_credentials(self) -> None:
        self._key()

    def _open_client(self) -> Any:
        return self._client()

    def _key_hint(self) -> str:
        return f"Check {self.api_key_env} (the key is not shown here)."

    # -- generation -----------------------------------------------------------------------
    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        if not self.use_batch_api:
            super()._generate_missing(items, params, batch_size, commit, adaptive_batch_size)
            return
        self._preflight()
        self._run_batch(items, params, commit)

    def _body(self, prompt: str, params: dict[str, Any], seed: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "n": params["n"]}
        if params["max_new_tokens"] is not None:
            body["max_completion_tokens" if self.chat else "max_tokens"] = params["max_new_tokens"]
        body["temperature"] = params["temperature"] if params["top_p"] > 0 else 0.0
        if params["top_p"] > 0:
            body["top_p"] = params["top_p"]
        if params["stop"]:
            body["stop"] = params["stop"]
        if params.get("logit_bias"):
            body["logit_bias"] = params["logit_bias"]
        for k in ("response_format", "presence_penalty", "frequency_penalty"):
            if params.get(k) is not None:
                body[k] = params[k]
        if params.get("repetition_penalty") is not None:
            body["frequency_penalty"] = params["repetition_penalty"] - 1.0
        seed_value = int_seed(seed)
        if seed_value is not None:
            body["seed"] = seed_value
        if self.chat:
            messages = []
            if self.system_prompt:
                messages.append({"role": "system", "content": self.system_prompt})
            messages.append({"role": "user", "content": str(prompt)})
            body["messages"] = messages
        else:
            body["prompt"] = self._full_prompt(prompt)
        return body

    async def _send(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        body = self._body(prompt, params, seed)
        endpoint = client.chat.completions if self.chat else client.completions
        resp = await endpoint.create(**body)
        return self._parse(resp, prompt, params)

    def _classify(self, e: BaseException) -> Failure | None:
        return classify_openai_error(e)

    def _parse(self, resp: Any, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse(f"no choices in the response ({type(resp).__name__})")
        texts = []
        for c in sorted(choices, key=lambda c: getattr(c, "index", 0) or 0):
            if self.chat:
                msg = getattr(c, "message", None)
                text = getattr(msg, "content", None)
                if text is None and isinstance(getattr(msg, "refusal", None), str):
                    # Structured outputs: a refusal replaces the content (not JSON: the
                    # validation reports it with the model's words).
                    text = msg.refusal
            else:
                text = getattr(c, "text", None)
            if not isinstance(text, str):
                raise MalformedResponse("a choice without text")
            texts.append(truncate_at_stop(text, params["stop"]).strip())
        usage = getattr(resp, "usage", None)
        pt = getattr(usage, "prompt_tokens", None)
        ct = getattr(usage, "completion_tokens", None)
        estimated = pt is None or ct is None
        if pt is None:
            pt = estimate_tokens(self._full_prompt(prompt))
        if ct is None:
            ct = sum(estimate_tokens(t) for t in texts)
        return {
            "g": texts,
            "u": {
                "prompt_tokens": int(pt),
                "completion_tokens": int(ct),
                "cost": self._price(int(pt), int(ct)),
                "estimated": estimated,
            },
        }

    # -- Batch API ------------------------------------------------------------------------
    def _batch_state_path(self) -> Path:
        from dreamer_lab.core.workspace import current_workspace

        return current_workspace().path / "requests" / "openai_batches.json"

    def _batch_state(self) -> dict[str, Any]:
        try:
            return json.loads(self._batch_state_path().read_text())
        except (OSError, ValueError):
            return {}

    def _save_batch_state(self, state: dict[str, Any]) -> None:
        path = self._batch_state_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, path)

    def _run_batch(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        commit: Callable[[dict[str, Any]], None],
    ) -> None:
        from dreamer_lab.core.fingerprint import hash_value

        client = openai_client(
            api_key=self._key(),
            base_url=self.base_url,
            organization=self.organization,
            timeout=self.timeout,
            api_version=self.api_version,
            asynchronous=False,
            **self.client_kwargs,
        )
        call = self._retry_policy().call
        url = "/v1/chat/completions" if self.chat else "/v1/completions"
        pending = {k: (p, seed) for k, p, seed in items}
        self._check_batch_budget([p for p, _ in pending.values()], params)
        for _ in range(self.batch_max_resubmits + 1):
            job = hash_value([self.__dreamer_fingerprint__(), params, sorted(pending)])
            state = self._batch_state()
            batch_id = state.get(job, {}).get("batch_id")
            if batch_id is None:
                lines = [
                    json.dumps(
                        {
                            "custom_id": k,
                            "method": "POST",
                            "url": url,
                            "body": self._body(p, params, seed),
                        }
                    )
                    for k, (p, seed) in pending.items()
                ]
                data = ("dreamer_lab_batch.jsonl", "\n".join(lines).encode())
                upload = call(partial(client.files.create, file=data, purpose="batch"))
                batch = call(
                    partial(
                        client.batches.create,
                        input_file_id=upload.id,
                        endpoint=url,
                        completion_window="24h",
                    )
                )
                batch_id = batch.id
                state[job] = {"batch_id": batch_id, "rows": len(pending), "created": time.time()}
                self._save_batch_state(state)
            batch = self._poll_batch(partial(call, partial(client.batches.retrieve, batch_id)))
            fid = batch.output_file_id
            content = call(partial(client.files.content, fid)).text if fid else ""
            values = self._batch_results(content, pending, params)
            commit(values)
            pending = {k: v for k, v in pending.items() if k not in values}
            state = self._batch_state()
            state.pop(job, None)
            self._save_batch_state(state)
            if batch.status == "failed" and not values:
                errors = getattr(getattr(batch, "errors", None), "data", None) or []
                detail = "; ".join(scrub_text(str(getattr(e, "message", e))) for e in errors)
                raise LLMError(
                    f"{self._where()}: batch {batch_id} failed: {detail or 'no detail'}."
                )
            if not pending:
                return
        raise LLMError(
            f"{self._where()}: {len(pending)} requests still failed after "
            f"{self.batch_max_resubmits + 1} batch submissions. Finished rows are cached; "
            "rerun to resubmit the rest."
        )

    def _check_batch_budget(self, prompts: list[str], params: dict[str, Any]) -> None:
        """Refuse a batch whose estimated cost would pass ``max_cost`` (before submitting)."""
        if self.max_cost is None:
            return
        guess = params["max_new_tokens"] or self._default_completion_estimate()
        est = self.batch_discount * sum(
            self._price(estimate_tokens(self._full_prompt(p)), guess * params["n"]) or 0.0
            for p in prompts
        )
        if self.spent + est > self.max_cost:
            raise CostBudgetExceededError(
                f"{self!r}: this batch of {len(prompts)} requests is estimated at "
                f"${est:.4f}, over max_cost=${self.max_cost:.4f} (spent ${self.spent:.4f}). "
                "Nothing was submitted."
            )

    def _poll_batch(self, retrieve: Callable[[], Any]) -> Any:
        start = time.monotonic()
        while True:
            batch = retrieve()
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                return batch
            if self.batch_timeout is not None and time.monotonic() - start > self.batch_timeout:
                raise BatchPendingError(
                    f"{self._where()}: batch {batch.id} is still {batch.status}. Nothing is "
                    "lost: rerun the same step (also after a kernel restart) to resume polling."
                )
            time.sleep(self.batch_poll_interval)

    def _batch_results(
        self, content: str, pending: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        from openai.types import Completion
        from openai.types.chat import ChatCompletion

        values: dict[str, Any] = {}
        model = ChatCompletion if self.chat else Completion
        for line in content.splitlines():
            try:
                rec = json.loads(line)
                key, resp = rec["custom_id"], rec.get("response") or {}
                if key not in pending or resp.get("status_code") != 200:
                    continue
                value = self._parse(model.model_validate(resp["body"]), pending[key][0], params)
            except (MalformedResponse, ValueError, KeyError, TypeError):
                continue
            cost = value["u"].get("cost")
            if cost is not None:
                value["u"]["cost"] = cost * self.batch_discount
                self.spent += value["u"]["cost"]
            values[key] = value
        return values
