"""What counts as a secret, and how secrets are kept out of records and messages."""

from __future__ import annotations

import os
import re
from typing import Any

# Matched on whole name segments: ``hf_token`` and ``OPENAI_API_KEY`` are secrets,
# ``tokenizer`` and ``max_new_tokens`` are not.
_SECRET_NAME = re.compile(
    r"(^|[_\-.])(api[_\-]?key|apikey|token|secret|secret[_\-]?key|password|passwd|credentials?"
    r"|bearer|private[_\-]?key|access[_\-]?key)($|[_\-.])",
    re.IGNORECASE,
)
# Shapes of common keys, for scrubbing free text (exception messages, notebook outputs).
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,}|ghp_[A-Za-z0-9]{20,}|xox[abp]-[A-Za-z0-9\-]{10,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)
REDACTED = "***REDACTED***"


def is_secret_name(name: str) -> bool:
    """True for argument/variable names that hold secrets (``api_key``, ``hf_token`` ...)."""
    return bool(_SECRET_NAME.search(name))


def _env_secret_values() -> list[str]:
    return [v for k, v in os.environ.items() if is_secret_name(k) and v and len(v) >= 6]


def scrub_text(text: str) -> str:
    """Remove known key shapes and the values of secret environment variables from text."""
    for value in _env_secret_values():
        text = text.replace(value, REDACTED)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(obj: Any, name: str = "") -> Any:
    """A JSON-safe copy of ``obj`` with secret-named entries and key-shaped strings removed."""
    if name and is_secret_name(name):
        return REDACTED
    if isinstance(obj, dict):
        return {str(k): redact(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float):
        return obj
    if isinstance(obj, str):
        return scrub_text(obj)
    text = getattr(obj, "__dreamer_repr__", None)
    if text is not None:
        return scrub_text(str(text()))
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"<function {obj.__qualname__}>"
    return scrub_text(f"<{type(obj).__qualname__}>")
