"""The one place an ``openai`` client is made, and how its errors are read.

:func:`openai_client` makes every client of the package (the ``OpenAI`` LLM, the
OpenAI-compatible embedders, the fine-tuning trainer) with the client library's own
retries off: requests are retried by :class:`~dreamer_lab.llms.retry.RetryPolicy`, which
:func:`classify_openai_error` feeds. Connection pools stay the library's own.
"""

from __future__ import annotations

from typing import Any

from dreamer_lab.llms.api_llm import MalformedResponse, retry_after_seconds
from dreamer_lab.llms.retry import Failure

__all__ = ["classify_openai_error", "openai_client", "openai_error_message"]


def openai_client(
    *,
    api_key: str,
    base_url: str | None = None,
    organization: str | None = None,
    timeout: float = 120.0,
    api_version: str | None = None,
    asynchronous: bool = True,
    **kwargs: Any,
) -> Any:
    """An ``openai`` client (``AsyncOpenAI``, or ``OpenAI`` when not ``asynchronous``;
    Azure's with an ``api_version``) that never retries by itself; ``kwargs`` go to it."""
    import openai

    kwargs.pop("max_retries", None)  # one retry policy: ours
    options: dict[str, Any] = dict(
        api_key=api_key, organization=organization, max_retries=0, timeout=timeout, **kwargs
    )
    if api_version:
        cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
        return cls(azure_endpoint=base_url, api_version=api_version, **options)
    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(base_url=base_url, **options)


def classify_openai_error(e: BaseException) -> Failure | None:
    """The :class:`Failure` behind an ``openai`` exception (``None``: not an API failure)."""
    import openai

    name = type(e).__name__
    if isinstance(e, openai.AuthenticationError):
        return Failure("auth", 401)
    if isinstance(e, openai.PermissionDeniedError):
        return Failure("permission", 403)
    if isinstance(e, openai.NotFoundError):
        return Failure("not_found", 404, detail=openai_error_message(e))
    if isinstance(e, openai.BadRequestError | openai.UnprocessableEntityError):
        return Failure("bad_request", e.status_code, detail=openai_error_message(e))
    if isinstance(e, openai.RateLimitError):
        return Failure("rate_limit", 429, _retry_after(e.response), error=name)
    if isinstance(e, openai.APIStatusError):
        return Failure("server", e.status_code, _retry_after(e.response), error=name)
    if isinstance(e, openai.APITimeoutError | openai.APIConnectionError):
        return Failure("connection", error=name, detail=str(e))
    if isinstance(e, MalformedResponse | openai.APIResponseValidationError | ValueError):
        return Failure("malformed", detail=str(e), error=name)
    return None


def openai_error_message(e: Any) -> str:
    """The message of an API error's body (or of the exception)."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or (body.get("error") or {}).get("message")
        if msg:
            return str(msg)
    return str(getattr(e, "message", "") or type(e).__name__)


def _retry_after(response: Any) -> float | None:
    return retry_after_seconds(getattr(response, "headers", None) if response is not None else None)
