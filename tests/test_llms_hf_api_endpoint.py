"""``HFAPIEndpoint`` through the real ``huggingface_hub`` ``AsyncInferenceClient`` against a
local server speaking TGI's wire format (chat: ``/v1/chat/completions``; text generation:
``POST`` to the endpoint URL itself)."""

from __future__ import annotations

import time

import pytest
from fake_keys import fake_key
from resume_harness import kill_resume_rerun
from tgi_server import FakeTGIServer


@pytest.fixture
def server():
    with FakeTGIServer(latency=0.01, idle_timeout=60) as srv:
        yield srv


def make(server, **kw):
    from dreamer_lab.llms import HFAPIEndpoint

    kw.setdefault("backoff_base", 0.01)
    return HFAPIEndpoint(server.base_url, kw.pop("model", "tgi"), **kw)


def test_chat_route_retries_and_usage(workspace, server):
    import os

    # Hub offline mode (conftest) must not block an endpoint that is not the Hub.
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    llm = make(server, system_prompt="Be brief.")
    server.inject("429", 1, retry_after=0.5)
    server.inject("500", 1)
    server.inject("malformed", 1)
    t0 = time.monotonic()
    prompts = [f"q{i}" for i in range(5)]
    out = llm.run(prompts, max_new_tokens=10, verbose=False)
    assert time.monotonic() - t0 >= 0.5  # Retry-After honoured
    assert out == [server.reply_for(p) for p in prompts]
    assert llm.last_usage.retries == 3 and server.served == 5
    body = server.bodies[-1]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": body["messages"][1]["content"]},
    ]
    assert body["model"] == "tgi" and body["max_tokens"] == 10 and body["temperature"] == 0.0
    u = llm.last_usage
    assert not u.estimated_tokens and u.prompt_tokens == 5 * (2 + 4 + 1 + 4)
    assert u.cost is None  # endpoints bill by the hour: no token price
    sent = server.requests
    assert llm.run(prompts, max_new_tokens=10, verbose=False) == out
    assert server.requests == sent and llm.last_usage.cached == 5


def test_text_generation_route_speaks_tgi(workspace, server):
    llm = make(server, chat_prompt_template=None)
    for kind in ("429", "500", "503", "malformed"):
        server.inject(kind, 1, retry_after=0)
    out = llm.run(
        ["tell me a story", "more"],
        max_new_tokens=10,
        temperature=0.7,
        top_p=1.0,
        stop=["story"],
        seed=5,
        repetition_penalty=1.2,
        top_k=10,
        verbose=False,
    )
    # The server stops after the stop sequence and includes it; it is cut here.
    assert out == ["echo: tell me a", "echo: more"]
    assert server.statuses[429] == server.statuses[500] == server.statuses[503] == 1
    assert llm.last_usage.retries == 4
    body = next(b for b in server.bodies if b.get("inputs") == "tell me a story")
    params = body["parameters"]
    assert params["details"] is True and params["do_sample"] is True
    assert params["max_new_tokens"] == 10 and params["stop"] == ["story"]
    assert params["temperature"] == 0.7 and "top_p" not in params  # TGI refuses top_p=1
    assert params["repetition_penalty"] == 1.2 and params["top_k"] == 10
    assert isinstance(params["seed"], int) and params["return_full_text"] is False
    u = llm.last_usage
    assert u.estimated_tokens and u.completion_tokens == 5 + 2  # from details


def test_greedy_and_template(workspace, server):
    llm = make(
        server,
        chat_prompt_template="<|user|>{{system_prompt}} {{prompt}}<|assistant|>",
        system_prompt="Hi.",
    )
    assert llm.run(["x"], temperature=0, verbose=False) == ["echo: <|user|>Hi. x<|assistant|>"]
    params = server.bodies[-1]["parameters"]
    assert params["do_sample"] is False and "temperature" not in params


def test_unsupported_arguments_fail_before_any_request(workspace, server):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import HFAPIEndpoint

    llm = make(server)
    with pytest.raises(StepInputError, match="n > 1 is not supported"):
        llm.run(["x"], n=2, temperature=1.0, top_p=0.9, verbose=False)
    with pytest.raises(StepInputError, match="logit_bias"):
        llm.run(["x"], logit_bias={3: 1.0}, verbose=False)
    with pytest.raises(StepInputError, match="endpoint must be the endpoint's URL"):
        HFAPIEndpoint("tgi", "model")
    with pytest.raises(StepInputError, match=r"unknown argument\(s\) \['max_concurency'\]"):
        HFAPIEndpoint(server.base_url, "tgi", max_concurency=4)
    assert server.requests == 0


def test_token_errors_and_identity(workspace, monkeypatch):
    from dreamer_lab.llms import HFAPIEndpoint, LLMError

    token = fake_key("hf")
    monkeypatch.setenv("HF_TOKEN", token)
    with FakeTGIServer(api_key=token) as srv:
        assert make(srv).run(["ok"], verbose=False) == ["echo: ok"]  # token from $HF_TOKEN
        wrong = fake_key("wrong")
        with pytest.raises(LLMError, match="rejected \\(401\\). Check the token") as e:
            make(srv, token=wrong).run(["no"], verbose=False)
        assert wrong not in str(e.value) and wrong[-4:] not in str(e.value)
        a = HFAPIEndpoint(srv.base_url, "tgi", token=wrong)
        assert (
            a.__dreamer_fingerprint__()
            == HFAPIEndpoint(srv.base_url, "tgi").__dreamer_fingerprint__()
        )
        import pickle

        assert wrong.encode() not in pickle.dumps(a)
    other = HFAPIEndpoint("http://127.0.0.1:9", "tgi", max_retries=1, backoff_base=0.01)
    assert other.__dreamer_fingerprint__() != a.__dreamer_fingerprint__()  # another endpoint
    with pytest.raises(LLMError, match="cannot reach the endpoint"):
        other.run(["hi"], verbose=False)


def test_kill_resume_rerun(tmp_path, monkeypatch):
    token = fake_key("hf-kill")
    monkeypatch.setenv("HF_TOKEN", token)
    with FakeTGIServer(api_key=token, latency=0.03) as srv:
        kill_resume_rerun(
            tmp_path,
            """
            from dreamer_lab.llms import HFAPIEndpoint

            def make(url):
                return HFAPIEndpoint(url, "tgi", chat_prompt_template=None, max_concurrency=8)
            """,
            srv.base_url,
            answered=lambda: srv.served,
            cache_file="hf_api_endpoint",
            expected=lambda out: out == [f"echo: row {i}" for i in range(200)],
            secrets=[token],
            env={"HF_TOKEN": token},
        )


def test_token_is_redacted_and_never_pickled(workspace):
    import pickle
    import secrets

    from dreamer_lab.core.secrets import scrub_text
    from dreamer_lab.llms import HFAPIEndpoint

    token = f"plain{secrets.token_hex(10)}"  # not key-shaped: only registration redacts it
    llm = HFAPIEndpoint("http://127.0.0.1:9/", "tiny", token=token)
    assert token not in scrub_text(f"request failed with token {token}")
    data = pickle.dumps(llm)
    assert token.encode() not in data
    assert pickle.loads(data)._token == token  # the same process gets it back
