"""The one retry policy of every HTTP backend (LLMs, embedders, the fine-tuning trainer).

Client libraries' own retries are off (:mod:`dreamer_lab.llms.openai_client`); a backend
reads each exception as a :class:`Failure` and :class:`RetryPolicy` decides: failures of
a :data:`RETRYABLE` kind (429, 5xx, timeouts, unreachable endpoints, malformed answers)
are retried at most ``max_retries`` times, waiting what the server asked (``Retry-After``,
plus a little jitter) or else a full-jitter exponential backoff; any other failure (a
rejected key, a bad request) fails at once. The backend turns the last failure into the
error users see, with the fix.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.llms.base import jittered_backoff

__all__ = ["RETRYABLE", "Failure", "RetryPolicy", "gave_up"]

T = TypeVar("T")

#: Failure kinds that are retried; the others fail at once with the fix in the message.
RETRYABLE = frozenset({"rate_limit", "server", "connection", "malformed"})


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request, as a backend reads it.

    ``kind`` is ``auth`` (401), ``permission`` (403), ``not_found`` (404),
    ``bad_request`` (400/422), ``rate_limit`` (429), ``server`` (5xx), ``connection``
    (unreachable, timeout) or ``malformed`` (an unreadable response).
    """

    kind: str
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""
    error: str = ""


def gave_up(f: Failure, where: str, attempts: int, fewer: str) -> str:
    """What users read when a request still fails after ``attempts`` attempts (``fewer``:
    how to send fewer requests at once, for a 429)."""
    tries = f"after {attempts} attempts"
    if f.kind == "connection":
        return (
            f"{where}: cannot reach the endpoint ({f.error}) {tries}. Check base_url, that "
            "the server is running, and the network."
        )
    if f.kind == "rate_limit":
        return f"{where}: still rate limited (429) {tries}. {fewer}; finished requests are cached."
    if f.kind == "server":
        return (
            f"{where}: server error {f.status} {tries}; finished requests are cached, rerun to "
            "resume."
        )
    return f"{where}: malformed responses {tries} ({f.error}: {scrub_text(f.detail)[:200]})."


Classify = Callable[[BaseException], "Failure | None"]
ToError = Callable[[Failure], BaseException]


@dataclass
class RetryPolicy:
    """Bounded retries of :data:`RETRYABLE` failures (see the module docstring).

    ``classify`` reads an exception (``None``: not an API failure, raised as it is);
    ``fatal`` makes the error of a failure that is not retried, ``final`` that of the last
    failure when the retries are used up; ``on_retry`` is told of each retry.
    :meth:`call` runs a blocking request, :meth:`acall` an asynchronous one.
    """

    classify: Classify
    fatal: ToError
    final: ToError
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    on_retry: Callable[[Failure], None] | None = None

    def delay(self, attempt: int, failure: Failure) -> float:
        """Seconds to wait after failed ``attempt`` (0-based): the server's
        ``Retry-After`` plus jitter, else full-jitter backoff; at most ``backoff_max``."""
        if failure.retry_after is not None:
            wait = failure.retry_after + self.rng.uniform(0, self.backoff_base)
        else:
            wait = jittered_backoff(attempt, self.backoff_base, self.backoff_max, self.rng)
        return min(wait, self.backoff_max)

    def _wait(self, e: Exception, attempt: int) -> float:
        """How long to wait before retrying after ``e``; raises when it is not retried."""
        failure = self.classify(e)
        if failure is None:
            raise e
        if failure.kind not in RETRYABLE:
            raise self.fatal(failure) from None
        if attempt >= self.max_retries:
            raise self.final(failure) from None
        if self.on_retry is not None:
            self.on_retry(failure)
        return self.delay(attempt, failure)

    def call(self, send: Callable[[], T]) -> T:
        """``send()`` under the policy (blocking waits)."""
        attempt = 0
        while True:
            try:
                return send()
            except Exception as e:  # noqa: BLE001 - classified; unknown ones re-raised
                wait = self._wait(e, attempt)
            time.sleep(wait)
            attempt += 1

    async def acall(self, send: Callable[[], Awaitable[T]]) -> T:
        """``await send()`` under the policy (waits without blocking the event loop)."""
        attempt = 0
        while True:
            try:
                return await send()
            except Exception as e:  # noqa: BLE001 - classified; unknown ones re-raised
                wait = self._wait(e, attempt)
            await asyncio.sleep(wait)
            attempt += 1
