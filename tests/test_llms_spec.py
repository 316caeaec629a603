"""``from_spec``: one string picks a backend; specs run against local test servers."""

from __future__ import annotations

import pytest
from fake_keys import fake_key
from openai_server import API_KEY, FakeOpenAIServer

LLAMA = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("smollm2", ("", "smollm2", None)),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini", None)),
        (
            "openai:local-model@http://127.0.0.1:8000/v1",
            ("openai", "local-model", "http://127.0.0.1:8000/v1"),
        ),
        ("OpenAI: gpt-4o ", ("openai", "gpt-4o", None)),
        ("together:meta-llama/Llama-3.3-70B", ("together", "meta-llama/Llama-3.3-70B", None)),
        ("mistralai:mistral-small-latest", ("mistral", "mistral-small-latest", None)),
        # "@" that does not start a URL belongs to the model name (Vertex versions).
        ("vertex:claude-3-5-sonnet@20240620", ("vertex", "claude-3-5-sonnet@20240620", None)),
        (
            "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
            ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", None),
        ),  # fmt: skip
        # An unknown prefix is part of the model name (Ollama-style tags).
        ("llama3:8b@http://h:11434/v1", ("", "llama3:8b", "http://h:11434/v1")),
        (
            "tgi:m@https://e.endpoints.huggingface.cloud",
            ("hf-endpoint", "m", "https://e.endpoints.huggingface.cloud"),
        ),  # fmt: skip
    ],
)
def test_parse_spec(spec, parsed):
    from dreamer_lab.llms.spec import parse_spec

    assert parse_spec(spec) == parsed


def test_specs_map_to_backends(monkeypatch, tmp_path):
    from dreamer_lab.llms import (
        VLLM,
        HFAPIEndpoint,
        HFTransformers,
        MistralAI,
        OpenAI,
        Together,
        from_spec,
    )

    monkeypatch.setenv("OPENAI_API_KEY", fake_key("spec"))
    default = from_spec(None)
    assert isinstance(default, HFTransformers) and default.embedded
    assert isinstance(from_spec("smollm2"), HFTransformers)
    assert from_spec(default) is default  # an LLM object passes through
    llm = from_spec("openai:gpt-4o-mini", max_concurrency=3)
    assert type(llm) is OpenAI and llm.max_concurrency == 3 and llm.base_url is None
    local = from_spec("openai:local-model@http://127.0.0.1:8000/v1")
    assert local.base_url == "http://127.0.0.1:8000/v1" and local._api_key is None  # env key
    monkeypatch.delenv("OPENAI_API_KEY")
    assert from_spec("openai:m@http://127.0.0.1:8000/v1")._api_key == "none"  # local server
    assert isinstance(from_spec(f"together:{LLAMA}"), Together)
    assert isinstance(from_spec("mistral:mistral-small-latest"), MistralAI)
    tgi = from_spec("hf-endpoint:tgi@http://127.0.0.1:8080")
    assert isinstance(tgi, HFAPIEndpoint) and tgi.endpoint == "http://127.0.0.1:8080"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert isinstance(from_spec(str(folder)), HFTransformers)  # a local folder needs no "hf:"
    assert isinstance(from_spec(f"vllm:{folder}"), VLLM)


def test_bad_specs_say_what_to_write():
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import from_spec

    with pytest.raises(StepInputError, match="name the provider, e.g. 'openai:gpt-4o'"):
        from_spec("gpt-4o")
    with pytest.raises(StepInputError, match="no model name after 'openai:'"):
        from_spec("openai:")
    with pytest.raises(StepInputError, match="'hf-endpoint:' needs the endpoint URL"):
        from_spec("hf-endpoint:tgi")
    with pytest.raises(StepInputError, match="takes no URL; use 'hf-endpoint:m@http"):
        from_spec("hf:m@http://127.0.0.1:1")
    with pytest.raises(StepInputError, match="expected a string"):
        from_spec(42)


def test_openai_and_together_specs_generate_against_local_servers(workspace, monkeypatch):
    from dreamer_lab.llms import from_spec

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with FakeOpenAIServer() as srv:
        llm = from_spec(f"openai:gpt-4o-mini@{srv.base_url}")
        assert llm.run(["a", "b"], verbose=False) == ["echo: a", "echo: b"]
        assert srv.served == 2
    key = fake_key("together-spec")
    monkeypatch.setenv("TOGETHER_API_KEY", key)
    with FakeOpenAIServer(api_key=key, models=(LLAMA,), path_prefix="/together") as srv:
        llm = from_spec(f"together:{LLAMA}@{srv.base_url}")
        assert llm.run(["c"], verbose=False) == ["echo: c"]
        assert srv.served == 1


def test_a_routing_library_spec(workspace, monkeypatch):
    """``anthropic:`` maps to the routing-library backend by name: against its local
    Messages API server when that backend is in this version, else a clear error."""
    import dreamer_lab.llms as llms
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import from_spec

    try:
        llms.Anthropic  # noqa: B018 - lazily loaded by name
    except AttributeError:
        with pytest.raises(StepInputError, match="needs dreamer_lab.llms.Anthropic"):
            from_spec("anthropic:claude-3-5-haiku-20241022@http://127.0.0.1:1")
        return
    from provider_servers import AnthropicServer

    with AnthropicServer() as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", srv.api_key)
        llm = from_spec(f"anthropic:claude-3-5-haiku-20241022@{srv.base_url}")
        assert type(llm).__name__ == "Anthropic"
        assert llm.run(["hello"], max_new_tokens=20, verbose=False) == ["echo: hello"]
        assert srv.served == 1
