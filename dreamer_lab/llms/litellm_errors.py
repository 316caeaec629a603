"""How the routing-library backends (:mod:`dreamer_lab.llms.litellm_base`) read a failed
request: litellm's exceptions, and the cloud SDKs' credential errors under them, mapped to
:class:`~dreamer_lab.llms.api_llm.Failure` kinds (retry, wait, or stop with a fix).
"""

from __future__ import annotations

from typing import Any

from dreamer_lab.llms.api_llm import (
    Failure,
    MalformedResponse,
    exception_chain,
    retry_after_seconds,
)
from dreamer_lab.llms.base import LLMError

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


def classify_litellm_error(llm: Any, e: BaseException) -> Failure | None:
    """The failure kind of ``e``, raised while ``llm`` sent a request. Raises an
    :class:`LLMError` naming the fix for a missing package or missing cloud credentials;
    ``None`` when ``e`` is none of these (the caller falls back to APILLM's reading)."""
    chain = list(exception_chain(e))
    name = type(e).__name__
    text = " ".join(str(c) for c in chain)
    missing = chain[1] if len(chain) > 1 and name == "APIConnectionError" else e
    if isinstance(missing, ImportError):
        raise LLMError(
            f"{llm._where()}: a package {llm.provider_name} needs is missing "
            f'({missing}). Install it with: pip install "dreamer-lab[{llm.extra}]".'
        ) from None
    missing_creds = _missing_credentials(chain)
    if missing_creds:
        raise LLMError(
            f"{llm._where()}: found no credentials ({missing_creds}). {llm._key_hint()}"
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
