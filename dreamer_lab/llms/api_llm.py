"""``APILLM``: what every remote-API backend shares, in one place.

``OpenAI`` (and OpenAI-compatible servers) and the routing-library backends (Anthropic,
Cohere, Gemini, Vertex AI, Bedrock, AI21) differ only in how one request is sent and how
a failure is read. Everything else lives here, once:

* asynchronous requests under a concurrency bound (``max_concurrency``);
* client-side rate limits (requests and tokens per minute, :class:`RateLimiter`);
* one retry policy: bounded retries on 429, 5xx, timeouts, connection errors and
  malformed responses, honouring ``Retry-After`` (plus a little jitter) and otherwise
  waiting a full-jitter exponential backoff;
* a cost budget: each request reserves its estimated cost before it is sent, so
  concurrent requests cannot overspend ``max_cost`` together;
* commits into the request cache every ``commit_every`` finished requests (and every
  half second), so a killed run loses at most one batch and the requests in flight;
* error mapping: a backend's :meth:`APILLM._classify` turns its exceptions into a
  :class:`Failure` kind, and the messages users see (with the fix) are written here.

Connection pools stay the client libraries' own (``openai`` 3.x on httpx2, litellm on
aiohttp): handing either a shared httpx client measured 4x (openai) and 2x (litellm)
slower at concurrency 64 (bench/bench_providers.py).

A backend implements :meth:`APILLM._open_client`, :meth:`APILLM._send`,
:meth:`APILLM._classify` and :meth:`APILLM._check_credentials`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.errors import CostBudgetExceededError  # noqa: F401
from dreamer_lab.llms.base import (
    LLM,
    LLMError,
    UnknownModelError,
    estimate_tokens,
)
from dreamer_lab.llms.retry import RETRYABLE, Failure, RetryPolicy, gave_up  # noqa: F401


class MalformedResponse(Exception):
    """A response that cannot be read (no choices, no text, invalid JSON): retried."""


class RateLimiter:
    """Requests and tokens per minute over a sliding window (``window`` seconds)."""

    def __init__(self, rpm: int | None, tpm: int | None, window: float = 60.0):
        self.rpm, self.tpm, self.window = rpm, tpm, window
        self._events: list[tuple[float, int]] = []
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._events = [(t, k) for t, k in self._events if now - t < self.window]
                used = sum(k for _, k in self._events)
                ok_r = not self.rpm or len(self._events) < self.rpm
                ok_t = not self.tpm or used + tokens <= self.tpm or not self._events
                if ok_r and ok_t:
                    self._events.append((now, tokens))
                    return
                await asyncio.sleep(max(0.01, self.window - (now - self._events[0][0])))


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion, also from inside a running loop (Jupyter).

    There it runs in a thread; an interrupt of the waiting thread (a kernel interrupt)
    cancels it and waits for its cleanup (finished requests committed, client closed), so
    no request goes on after the interrupt."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> Any:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await coro

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as e:  # noqa: BLE001
            box["error"] = e
        finally:
            started.set()

    t = threading.Thread(target=target, name="dreamer_lab-api")
    t.start()
    try:
        t.join()
    except BaseException:
        started.wait()
        if "task" in box:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
                box["loop"].call_soon_threadsafe(box["task"].cancel)
        t.join()
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asks to wait: ``retry-after-ms``, ``retry-after`` in seconds or
    as an HTTP date; ``None`` when the headers say nothing."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def int_seed(seed: Any) -> int | None:
    """A request's seed as the integer APIs accept (``None`` when no seed was given)."""
    if seed is None or seed == [None, None]:
        return None
    from dreamer_lab.core.fingerprint import hash_value

    return int(hash_value(seed, label="seed")[:7], 16)


def lookup_model(table: Mapping[str, Any], model: str) -> Any:
    """``table[model]``, else the entry of the longest key that ``model`` starts with
    followed by ``-``, ``@``, ``:`` or ``.`` (``claude-3-5-haiku-20241022`` uses
    ``claude-3-5-haiku``), else ``None``."""
    if model in table:
        return table[model]
    best = max(
        (k for k in table if model.startswith(k) and model[len(k) : len(k) + 1] in "-@:."),
        key=len,
        default=None,
    )
    return table[best] if best else None


def exception_chain(e: BaseException) -> Iterable[BaseException]:
    """``e`` and the exceptions it was raised from (causes and contexts)."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


class APILLM(LLM):
    """Base class of backends that call a remote API (see the module docstring).

    Prices and context lengths come from the class tables ``PRICES`` (USD per 1M input /
    output tokens) and ``CONTEXT_LENGTHS`` (tokens), by exact model name or name prefix,
    which users can extend; prices then fall back to
    :func:`dreamer_lab.llms.register_price`. ``max_context_length=`` overrides.
    """

    #: USD per 1M (input, output) tokens, by model name or name prefix.
    PRICES: ClassVar[dict[str, tuple[float, float]]] = {}
    #: Context windows in tokens, by model name or name prefix.
    CONTEXT_LENGTHS: ClassVar[dict[str, int]] = {}

    def __init__(
        self,
        model_name: str,
        system_prompt: str | None = None,
        cache_folder_path: str | None = None,
        *,
        retry_on_fail: bool = True,
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
    ):
        super().__init__(model_name, system_prompt, cache_folder_path)
        self.max_concurrency = max(1, int(max_concurrency))
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.max_retries = max_retries if retry_on_fail else 0
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.max_cost = max_cost
        self.max_context_length = max_context_length
        self.commit_every = max(1, int(commit_every))
        self.spent = 0.0
        self._rng = random.Random()

    # -- hooks -------------------------------------------------------------------------------
    def _endpoint(self) -> str:
        """Where requests go (shown in errors; part of the identity of most backends)."""
        return "the API"

    def _check_credentials(self) -> None:
        """Fail before any request when credentials or client libraries are missing."""

    def _open_client(self) -> Any:
        """The client of one ``run()`` (closed by :meth:`_close_client`)."""
        return None

    async def _close_client(self, client: Any) -> None:
        close = getattr(client, "close", None)
        if close is not None:
            await close()

    async def _send(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        """Send one request: ``{"g": [texts], "u": usage}`` (see :meth:`_value`); raise
        :class:`MalformedResponse` for an unreadable response."""
        raise NotImplementedError

    def _classify(self, e: BaseException) -> Failure | None:
        """The :class:`Failure` behind exception ``e`` (``None``: not an API failure)."""
        if isinstance(e, MalformedResponse | ValueError):
            return Failure("malformed", error=type(e).__name__, detail=str(e))
        return None

    def _key_hint(self) -> str:
        """How to fix a rejected key (never shows the key)."""
        return "Check the API key (the key is not shown here)."

    def _rejected(self) -> str:
        """What a 401 means for this backend."""
        return "the API key was rejected"

    def _permission_hint(self) -> str:
        return "Check that your key's project can use this model."

    # -- tokens, context, cost ------------------------------------------------------------
    def count_tokens(self, value: str) -> int:
        """An offline estimate (no tokenizer download); the server's usage is exact."""
        return estimate_tokens(value)

    def _context_length(self) -> int | None:
        if self.max_context_length is not None:
            return self.max_context_length
        return lookup_model(self.CONTEXT_LENGTHS, self.model_name)

    def get_max_context_length(self, max_new_tokens: int) -> int | None:
        length = self._context_length()
        if length is None:
            return None
        return length - int(max_new_tokens or 0)

    def _price_entry(self) -> tuple[float, float] | None:
        from dreamer_lab.llms.openai import price_of

        return lookup_model(self.PRICES, self.model_name) or price_of(self.model_name)

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self._price_entry()
        if price is None:
            return None
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6

    def _value(
        self, texts: list[str], prompt: str, prompt_tokens: Any, completion_tokens: Any
    ) -> dict[str, Any]:
        """A cache value: the generations and their usage (estimated when the server
        sent no usage fields)."""
        estimated = prompt_tokens is None or completion_tokens is None
        pt = (
            int(prompt_tokens)
            if prompt_tokens is not None
            else estimate_tokens(self._full_prompt(prompt))
        )
        ct = (
            int(completion_tokens)
            if completion_tokens is not None
            else sum(estimate_tokens(t) for t in texts)
        )
        return {
            "g": texts,
            "u": {
                "prompt_tokens": pt,
                "completion_tokens": ct,
                "cost": self._price(pt, ct),
                "estimated": estimated,
            },
        }

    def _where(self) -> str:
        return f"{self!r} at {self._endpoint()}"

    # -- generation -----------------------------------------------------------------------
    def _preflight(self) -> None:
        if self.max_cost is not None and self._price(0, 0) is None:
            raise LLMError(
                f"{self!r}: max_cost is set but there is no price for {self.model_name!r}. "
                "Add one with dreamer_lab.llms.register_price(model, input_per_million, "
                "output_per_million)."
            )
        self._check_credentials()

    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        self._preflight()
        run_coroutine(self._run_all(items, params, commit))

    def _rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.requests_per_minute, self.tokens_per_minute)

    async def _run_all(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        commit: Callable[[dict[str, Any]], None],
    ) -> None:
        client = self._open_client()
        sem = asyncio.Semaphore(self.max_concurrency)
        limiter = self._rate_limiter()
        buffer: dict[str, Any] = {}
        reserved = 0.0
        stop: list[BaseException] = []
        completion_guess = params["max_new_tokens"] or self._default_completion_estimate()

        def flush() -> None:
            if buffer:
                values = dict(buffer)
                buffer.clear()
                commit(values)

        async def one(key: str, prompt: str, seed: Any) -> None:
            nonlocal reserved
            async with sem:
                if stop:
                    return
                est_prompt = estimate_tokens(self._full_prompt(prompt))
                estimate = 0.0
                if self.max_cost is not None:
                    estimate = self._price(est_prompt, completion_guess * params["n"]) or 0.0
                    if self.spent + reserved + estimate > self.max_cost:
                        stop.append(
                            CostBudgetExceededError(
                                f"{self!r}: the next request (about ${estimate:.4f}) would "
                                f"exceed max_cost=${self.max_cost:.4f} (spent "
                                f"${self.spent:.4f}). Finished requests are cached; raise "
                                "max_cost and rerun to continue where it stopped."
                            )
                        )
                        return
                    reserved += estimate
                await limiter.acquire(est_prompt + completion_guess * params["n"])
                try:
                    value = await self._request(client, prompt, params, seed)
                finally:
                    reserved -= estimate
            cost = value["u"].get("cost")
            if cost:
                self.spent += cost
            buffer[key] = value
            if len(buffer) >= self.commit_every:
                flush()

        async def flusher() -> None:
            while True:
                await asyncio.sleep(0.5)
                flush()

        tasks = [asyncio.create_task(one(*it)) for it in items]
        ticker = asyncio.create_task(flusher())
        try:
            for fut in asyncio.as_completed(tasks):
                await fut
        finally:
            for t in tasks:
                t.cancel()
            ticker.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
            flush()
            await self._close_client(client)
        if stop:
            raise stop[0]

    async def _request(
        self, client: Any, prompt: str, params: dict[str, Any], seed: Any
    ) -> dict[str, Any]:
        """One request under the retry policy (:class:`~dreamer_lab.llms.retry.RetryPolicy`)."""
        return await self._retry_policy().acall(lambda: self._send(client, prompt, params, seed))

    def _retry_policy(self) -> RetryPolicy:
        """This backend's one retry policy (every request it sends goes through it)."""

        def retried(_: Failure) -> None:
            self.last_usage.retries += 1

        return RetryPolicy(
            self._classify,
            self._fatal_error,
            self._final_error,
            self.max_retries,
            self.backoff_base,
            self.backoff_max,
            self._rng,
            on_retry=retried,
        )

    # -- errors users see -------------------------------------------------------------------
    def _fatal_error(self, f: Failure) -> LLMError:
        where = self._where()
        if f.kind == "auth":
            status = f" ({f.status})" if f.status else ""
            return LLMError(f"{where}: {self._rejected()}{status}. {self._key_hint()}")
        if f.kind == "permission":
            return LLMError(
                f"{where}: permission denied ({f.status or 403}) for model "
                f"{self.model_name!r}. {self._permission_hint()}"
            )
        if f.kind == "not_found":
            return UnknownModelError(
                f"{where}: the endpoint does not serve model {self.model_name!r} "
                f"({f.status or 404}). Check the model name (or the base_url)."
            )
        return LLMError(
            f"{where}: the request was rejected ({f.status}): {scrub_text(f.detail)}. Fix "
            "the prompt or parameters."
        )

    def _final_error(self, f: Failure) -> LLMError:
        fewer = "Lower max_concurrency or set requests_per_minute / tokens_per_minute"
        return LLMError(gave_up(f, self._where(), self.max_retries + 1, fewer))


__all__ = [
    "APILLM",
    "CostBudgetExceededError",
    "Failure",
    "MalformedResponse",
    "RateLimiter",
    "exception_chain",
    "int_seed",
    "lookup_model",
    "retry_after_seconds",
    "run_coroutine",
]
