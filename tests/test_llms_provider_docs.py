"""docs/providers.md's code runs as written: the smallest provider subclass, and
``ParallelLLM`` over several OpenAI-compatible (vLLM-style) servers, both against local
OpenAI-compatible test servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_keys import fake_key
from openai_server import FakeOpenAIServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "providers.md"
QWEN = "Qwen/Qwen2.5-7B-Instruct"


def _block(after: str) -> str:
    """The first ```python block of the doc after the text ``after``."""
    text = DOC.read_text()
    start = text.index(after)
    return re.search(r"```python\n(.*?)```", text[start:], re.DOTALL).group(1)


def test_the_smallest_provider_subclass(workspace, monkeypatch):
    from dreamer_lab.llms import LLMError, OpenAICompatible

    source = _block("<!-- smallest-provider:start -->")
    assert source.count("\n") <= 10  # it stays the smallest
    namespace: dict = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    groq_cls = namespace["Groq"]
    assert issubclass(groq_cls, OpenAICompatible)

    key = fake_key("groq")
    monkeypatch.setenv("GROQ_API_KEY", key)
    model = "llama-3.3-70b-versatile"
    default = groq_cls(model)
    assert default.base_url == "https://api.groq.com/openai/v1"
    assert default._identity()["endpoint"] == "https://api.groq.com/openai/v1"
    with FakeOpenAIServer(api_key=key, models=(model,), path_prefix="/openai", latency=0.02) as srv:
        srv.inject("429", 1, retry_after=0.1)
        srv.inject("500", 1)
        llm = groq_cls(model, base_url=srv.base_url, backoff_base=0.01)
        prompts = [f"p{i}" for i in range(6)]
        assert llm.run(prompts, max_new_tokens=8, verbose=False) == [
            srv.reply_for(p) for p in prompts
        ]
        assert llm.last_usage.retries == 2 and llm.last_usage.prompt_tokens > 0
        assert (workspace / "requests" / "groq.sqlite").exists()
        sent = srv.requests
        assert groq_cls(model, base_url=srv.base_url).run(prompts, max_new_tokens=8,
                                                           verbose=False)  # fmt: skip
        assert srv.requests == sent  # cached
        monkeypatch.delenv("GROQ_API_KEY")
        with pytest.raises(LLMError, match="Set the GROQ_API_KEY environment variable"):
            groq_cls(model, base_url=srv.base_url).run(["new"], verbose=False)


def test_parallel_llm_over_vllm_style_servers(workspace):
    from dreamer_lab.steps import DataSource, Prompt

    source = _block("### Without a local GPU")
    with (
        FakeOpenAIServer(api_key=None, models=(QWEN,), latency=0.05) as s1,
        FakeOpenAIServer(api_key=None, models=(QWEN,), latency=0.05) as s2,
    ):
        urls = repr([s1.base_url, s2.base_url])
        runnable = source.replace('["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"]', urls)
        assert runnable != source
        namespace: dict = {}
        exec(compile(runnable, str(DOC), "exec"), namespace)
        llm = namespace["llm"]
        rows = [f"question {i}" for i in range(20)]
        src = DataSource("questions", {"q": rows})
        step = Prompt("answers", inputs={"prompts": src.output["q"]}, args={"llm": llm})
        assert step.output["generations"].to_list() == [f"echo: {q}" for q in rows]
        # Split between the two servers, each prompt sent once.
        assert s1.served == s2.served == 10
        assert sum(s1.prompts.values()) + sum(s2.prompts.values()) == 20
        assert set(s1.prompts).isdisjoint(s2.prompts)
        # A rerun (a new ParallelLLM, as after a restart) sends nothing.
        namespace = {}
        exec(compile(runnable, str(DOC), "exec"), namespace)
        again = namespace["llm"]
        assert again.run(rows, verbose=False) == [f"echo: {q}" for q in rows]
        assert again.last_usage.cached == 20 and s1.requests + s2.requests == 20
