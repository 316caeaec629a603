"""What counts as a secret, and how secrets are kept out of records, files and messages.

Three sources of truth, so that redaction removes secrets without touching real content:

- **Known values.** Backends register the keys they are given (:func:`register_secret`);
  the values of credential-named environment variables (``OPENAI_API_KEY``, ``HF_TOKEN``
  ...) count too. Every occurrence of a known value is removed from text.
- **Key shapes.** Tokens shaped like provider keys (``sk-``, ``hf_``, ``ghp_``, ``xox*-``,
  ``AKIA``, ``AIza``, ``Bearer`` credentials) are removed when they start at a word
  boundary and look random (length, letters and digits), so ``Task-Agnostic`` stays.
- **Names.** A name is a secret when its last segment(s) denote a credential
  (``api_key``, ``hf_token``, ``auth_token``, ``client_secret``, ``password`` ...);
  ``trainable_token_indices``, ``max_new_tokens``, ``pad_token`` or ``tokenizer_name`` are
  not. :func:`redact` replaces secret-named entries; ``name="value"`` literals in free text
  are removed too.
"""

from __future__ import annotations

import functools
import os
import re
import secrets as _random
import threading
from typing import Any

REDACTED = "***REDACTED***"
REF_PREFIX = "dreamer-secret-ref:"  # marks where an object's pickle left out its key

# -- names ------------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_CREDENTIAL_LAST = {
    "token", "secret", "password", "passwd", "passphrase", "credential", "credentials",
    "apikey", "authorization", "bearer",
}  # fmt: skip
# ``<word>_key`` is a credential for these words only (``sort_key`` and ``cache_key`` are not).
_KEY_QUALIFIERS = {
    "api", "access", "secret", "private", "auth", "signing", "encryption", "master",
    "subscription", "openai", "anthropic", "cohere", "groq", "mistral", "together", "hf",
    "huggingface", "gemini", "google", "azure", "aws", "wandb", "replicate", "deepseek",
}  # fmt: skip
# ``<word>_token`` names a tokenizer's special token, not a credential, for these words.
_SPECIAL_TOKEN_WORDS = {
    "pad", "eos", "bos", "unk", "sep", "cls", "mask", "start", "end", "stop", "eot", "eog",
    "boi", "eoi", "image", "audio", "video", "vision", "special", "additional", "sentinel",
    "decoder", "think", "tool", "fim", "prefix", "suffix", "middle", "default", "new", "num",
    "max", "min", "first", "last", "next", "split", "separator", "chat", "placeholder",
    "class", "context", "system", "user", "assistant", "turn", "eom", "sot", "cross",
}  # fmt: skip


def _segments(name: str) -> list[str]:
    """``OPENAI_API_KEY`` -> ``[openai, api, key]``; ``hfToken2`` -> ``[hf, token]``."""
    words = [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]
    while words and words[-1].isdigit():
        words.pop()
    return words


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True for names that hold credentials (``api_key``, ``OPENAI_API_KEY``, ``hf_token``,
    ``auth_token``, ``client_secret``, ``password`` ...), judged by their last segment(s):
    ``trainable_token_indices``, ``max_new_tokens``, ``pad_token``, ``token_type_ids`` and
    ``tokenizer_name`` are not secrets."""
    words = _segments(str(name))
    if not words:
        return False
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    if last == "token":
        return before not in _SPECIAL_TOKEN_WORDS
    if last == "key":
        return before in _KEY_QUALIFIERS
    return last in _CREDENTIAL_LAST


# -- known values -----------------------------------------------------------------------------
_lock = threading.Lock()
_refs: dict[str, str] = {}  # value -> reference
_by_ref: dict[str, str] = {}  # reference -> value
_redacted: set[str] = set()  # registered values that redaction removes


def _is_key_like(value: str) -> bool:
    """Long enough, one token and not a path: a value worth removing wherever it appears."""
    return (
        len(value) >= 8
        and not any(c.isspace() for c in value)
        and not value.startswith(("/", "~", "./", "../"))
        and value.lower() not in {"true", "false", "none", "null", "no-key-needed"}
    )


def register_secret(value: Any) -> str | None:
    """Remember ``value`` (an API key a backend was given) so redaction removes it anywhere.

    Returns an opaque reference, valid in this process only, that :func:`secret_for`
    turns back into the value: objects pickle the reference instead of the key, so a copy
    unpickled in the same process keeps its key and one unpickled elsewhere has none.
    ``value`` may also be a dict of credentials (a cloud credentials file): the values of
    its credential-named entries are redacted, and the reference gives back the whole dict.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    with _lock:
        if not isinstance(value, str):
            ref = REF_PREFIX + _random.token_hex(16)
            _by_ref[ref] = value
            pieces = _credential_strings(value)
            _redacted.update(v for v in pieces if _is_key_like(v) and _random_looking(v))
            return ref
        ref = _refs.get(value)
        if ref is None:
            ref = _refs[value] = REF_PREFIX + _random.token_hex(16)
            _by_ref[ref] = value
            if _is_key_like(value):
                _redacted.add(value)
        return ref


def _credential_strings(value: Any, secret: bool = False, depth: int = 0) -> list[str]:
    """The whitespace-separated pieces of strings stored under credential names inside
    nested dicts and lists (``private_key``, ``client_secret`` ... of a credentials file);
    other entries (``auth_uri``, ``type``) are not secrets."""
    if isinstance(value, str):
        return value.split() if secret else []
    if depth > 8:
        return []
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            for s in _credential_strings(v, secret or is_secret_name(str(k)), depth + 1)
        ]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for v in value for s in _credential_strings(v, secret, depth + 1)]
    return []


def secret_for(ref: str | None) -> Any:
    """The value behind a :func:`register_secret` reference (None in another process)."""
    if not ref:
        return None
    with _lock:
        return _by_ref.get(ref)


def drop_secret(state: dict[str, Any], attr: str) -> dict[str, Any]:
    """A copy of ``state`` (an object's ``__dict__``, for ``__getstate__``) with the key in
    ``attr`` replaced by a process-local reference, so no pickle carries the key."""
    state = dict(state)
    state[attr + "_ref"] = register_secret(state.get(attr))
    state[attr] = None
    return state


def restore_secret(state: dict[str, Any], attr: str) -> bool:
    """Undo :func:`drop_secret` in ``state`` (for ``__setstate__``): the key comes back in
    the process that pickled it, elsewhere ``attr`` stays None. True when a key was held
    but is not available here (the caller then reads it from the environment)."""
    ref = state.pop(attr + "_ref", None)
    state[attr] = secret_for(ref)
    return ref is not None and state[attr] is None


def known_secrets() -> list[str]:
    """Registered keys and key-like values of credential-named environment variables,
    longest first."""
    with _lock:
        values = set(_redacted)
    values.update(v for k, v in os.environ.items() if v and is_secret_name(k) and _is_key_like(v))
    return sorted(values, key=len, reverse=True)


# -- shapes -----------------------------------------------------------------------------------
_B = r"(?<![A-Za-z0-9])"  # a token starts at a word boundary, never inside a word
_KEY_SHAPE = re.compile(
    _B + r"(?:sk-[A-Za-z0-9_\-]{20,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{35})"
    r"(?![A-Za-z0-9_\-])"
)
_BEARER = re.compile(_B + r"((?i:bearer|basic)\s+)([A-Za-z0-9._~+/=\-]{16,})")
_AUTH_HEADER = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?!(?:bearer|basic)\s)([A-Za-z0-9._~+/=\-]{16,})"
)
# name = "value" / "name": "value" with a credential name and a quoted, key-like value.
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_\-]*)([\"']?\s*[:=]\s*)([\"'])([^\"'\s]{8,})\3"
)
_PLACEHOLDER = re.compile(r"<[A-Za-z0-9_\-]+>|\*+REDACTED\*+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _random_looking(token: str) -> bool:
    """Letters and digits mixed (keys are random): ``Task-Agnostic`` is not a key."""
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    if has_digit and has_alpha:
        return True
    # Letter-only keys (some hf_ tokens) are long and mixed-case.
    return has_alpha and len(token) >= 30 and token != token.lower() and token != token.upper()


def _is_key(token: str) -> bool:
    """A :data:`_KEY_SHAPE` match that is random enough to be a key."""
    if token.startswith(("AKIA", "AIza")):
        return True
    body = token.split("-", 1)[1] if token.startswith(("sk-", "xox")) else token[3:]
    return _random_looking(body)


def _shape(m: re.Match[str]) -> str:
    return REDACTED if _is_key(m.group(0)) else m.group(0)


_KEY_SHAPE_BYTES = re.compile(_KEY_SHAPE.pattern.removeprefix(_B).encode())
_KEY_PREFIXES = (b"sk-", b"hf_", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_",
                 b"xox", b"AKIA", b"AIza")  # fmt: skip


def _bytes_hold_key(data: bytes) -> bool:
    if not any(prefix in data for prefix in _KEY_PREFIXES):
        return False
    for m in _KEY_SHAPE_BYTES.finditer(data):
        if _starts_token(data, m.start()) and _is_key(m.group(0).decode()):
            return True
    return False


def _starts_token(data: bytes, i: int) -> bool:
    """A word boundary at ``data[i]``, or the start of a pickled string: after its opcode
    and length bytes (which may look like letters)."""
    if i == 0 or not chr(data[i - 1]).isalnum() or data[i - 1] > 127:
        return True
    return (
        (i >= 2 and data[i - 2] in b"\x8cC")
        or (i >= 5 and data[i - 5] in b"XB")
        or (i >= 9 and data[i - 9] in b"\x8d\x8e")
    )


def _bearer(m: re.Match[str]) -> str:
    return m.group(1) + REDACTED if _random_looking(m.group(2)) else m.group(0)


def _header(m: re.Match[str]) -> str:
    return m.group(1) + REDACTED if _random_looking(m.group(2)) else m.group(0)


def _assignment(m: re.Match[str]) -> str:
    name, sep, quote, value = m.groups()
    if not is_secret_name(name) or _PLACEHOLDER.fullmatch(value):
        return m.group(0)
    return f"{name}{sep}{quote}{REDACTED}{quote}"


def scrub_text(text: str) -> str:
    """``text`` without known secret values, key-shaped tokens, credentials after
    ``Bearer`` / ``Authorization:`` and quoted values of credential-named assignments.
    Ordinary words (``Task-Agnostic``) and config names are left alone."""
    if not isinstance(text, str):
        text = str(text)
    for value in known_secrets():
        if value in text:
            text = text.replace(value, REDACTED)
    text = _KEY_SHAPE.sub(_shape, text)
    text = _BEARER.sub(_bearer, text)
    text = _AUTH_HEADER.sub(_header, text)
    return _ASSIGNMENT.sub(_assignment, text)


def contains_secret(data: bytes | str) -> bool:
    """True when ``data`` (text, or bytes such as a pickle) holds a known secret or a
    key-shaped token."""
    if isinstance(data, bytes):
        for v in known_secrets():  # UTF-8 (pickled str), UTF-32 (numpy unicode arrays)
            if v.encode() in data or v.encode("utf-32-le") in data:
                return True
        return _bytes_hold_key(data)
    return scrub_text(data) != data


def pickle_holds_secret(data: bytes) -> bool:
    """True when pickled ``data`` holds a secret, or an object in it left its key out
    (:func:`drop_secret`): restoring it would not give back the same object."""
    return REF_PREFIX.encode() in data or contains_secret(data)


def _is_placeholder(value: Any) -> bool:
    """Values that hide nothing: None, booleans, empty text, ``<HUB_TOKEN>``-style markers."""
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, str) and (not value or bool(_PLACEHOLDER.fullmatch(value)))


def redact(obj: Any, name: str = "") -> Any:
    """A JSON-safe copy of ``obj`` with secret-named entries and secrets in text removed.

    An entry whose name denotes a credential is replaced unless its value hides nothing
    (None, a boolean, ``""``, a ``<HUB_TOKEN>`` placeholder); all other values are kept,
    with :func:`scrub_text` applied to strings.
    """
    if name and is_secret_name(name) and not _is_placeholder(obj):
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
