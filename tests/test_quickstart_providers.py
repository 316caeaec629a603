"""The quickstart notebook on another provider: ``-p llm=<spec>`` switches the whole workflow.

The notebook runs headless (a real kernel) with ``llm=openai:gpt-4o-mini@<local server>``
(the OpenAI test server) and with ``llm=anthropic:...@<local server>`` (Anthropic's
Messages API through litellm), each answering like a model that follows the two prompts,
then again: the second run sends no request. The key is only in the environment and is in
none of the files the runs write. The default (embedded SmolLM2) run is
tests/test_quickstart.py's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fake_keys import fake_key
from openai_server import FakeOpenAIServer

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def review_model(prompt: str, i: int = 0) -> str:
    """Answers the quickstart's two prompts like an instruction-following model."""
    m = re.search(r"short (positive|negative) customer review of a ([\w ]+)\.", prompt)
    if m:
        good = m.group(1) == "positive"
        return (
            f"I love this {m.group(2)}, it works great every day."
            if good
            else f"This {m.group(2)} broke after a week, a terrible purchase."
        )
    if "Is the sentiment" in prompt:
        return "positive" if "love" in prompt else "negative"
    return "unexpected prompt"


def _openai_server(key: str):
    return FakeOpenAIServer(api_key=key, latency=0.01, idle_timeout=600), "openai:gpt-4o-mini@"


def _anthropic_server(key: str):
    from provider_servers import AnthropicServer

    server = AnthropicServer(api_key=key, latency=0.01, idle_timeout=600)
    return server, "anthropic:claude-3-5-haiku-20241022@"


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_server, key_env",
    [(_openai_server, "OPENAI_API_KEY"), (_anthropic_server, "ANTHROPIC_API_KEY")],
    ids=["openai-compatible", "anthropic"],
)
def test_quickstart_runs_on_another_provider(tmp_path, monkeypatch, make_server, key_env):
    from dreamer_lab.runner import run_notebook

    key = fake_key("quickstart-provider")
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    monkeypatch.setenv(key_env, key)  # the kernel inherits it
    monkeypatch.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(tmp_path / "signing.key"))
    monkeypatch.delenv("DREAMER_LAB_WORKSPACE", raising=False)
    server, prefix = make_server(key)
    with server as srv:
        srv.responder = review_model
        spec = prefix + srv.base_url
        params = {"rows": 8, "epochs": 1, "llm": spec}
        first = run_notebook(tmp_path / NOTEBOOK.name, tmp_path / "run1", parameters=params,
                             verbose=False)  # fmt: skip
        sent = srv.requests
        # 8 reviews, then one judgement per distinct review.
        assert 8 < sent <= 16 and srv.served == sent
        second = run_notebook(tmp_path / NOTEBOOK.name, tmp_path / "run2", parameters=params,
                              verbose=False)  # fmt: skip
        assert srv.requests == sent  # every step (and every request) was cached
    report = json.loads(first["json"].read_text())
    assert report["run"]["parameters"]["values"]["llm"] == spec
    assert {"reviews", "sentiment judgements", "review sentiment classifier"} <= set(
        report["expected_fingerprints"]
    )
    executed = json.loads(first["notebook"].read_text())
    text = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert "test accuracy:" in text
    again = json.loads(second["json"].read_text())
    assert all(s["cache_hit"] is True for s in again["run"]["timings"]["steps"])
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaked == []
