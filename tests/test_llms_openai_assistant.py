"""``OpenAIAssistant`` with the real ``openai`` client against the local Assistants API."""

from __future__ import annotations

import time

import pytest
from assistants_server import FakeAssistantsServer
from fake_keys import fake_key
from openai_server import API_KEY
from resume_harness import kill_resume_rerun


@pytest.fixture
def server():
    with FakeAssistantsServer(idle_timeout=60) as srv:
        yield srv


def make(server, **kw):
    from dreamer_lab.llms import OpenAIAssistant

    kw.setdefault("api_key", API_KEY)
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("poll_interval", 0.01)
    return OpenAIAssistant(kw.pop("model", "gpt-4o-mini"), base_url=server.base_url, **kw)


def test_one_assistant_one_thread_per_prompt(workspace, server):
    llm = make(server, system_prompt="Answer in one word.")
    prompts = [f"q{i}" for i in range(6)]
    out = llm.run(prompts, max_new_tokens=20, verbose=False)
    assert out == [server.reply_for(p) for p in prompts]
    assert len(server.assistants) == 1
    (assistant,) = server.assistants.values()
    assert (
        assistant["instructions"] == "Answer in one word." and assistant["model"] == "gpt-4o-mini"
    )
    assert server.served == 6 and server.threads == {}  # every thread deleted
    assert server.polls >= 6  # runs were polled until they completed
    run_body = next(b for b in server.bodies if "thread" in b)
    assert run_body["max_completion_tokens"] == 20 and run_body["temperature"] == 0.0
    u = llm.last_usage
    assert u.requests == 6 and not u.estimated_tokens
    assert u.prompt_tokens == 6 * (1 + 4 + 4) and u.completion_tokens == 6 * 2
    assert u.cost == pytest.approx((u.prompt_tokens * 0.15 + u.completion_tokens * 0.6) / 1e6)
    sent = server.requests
    assert llm.run(prompts, max_new_tokens=20, verbose=False) == out
    assert server.requests == sent and llm.last_usage.cached == 6


def test_http_and_run_failures_are_retried(workspace, server):
    llm = make(server, max_concurrency=2)
    server.inject("429", 1, retry_after=0.3)
    server.inject("500", 1)
    server.inject("malformed", 1)
    server.inject("run_failed", 1, code="rate_limit_exceeded")
    server.inject("run_failed", 1, code="server_error")
    t0 = time.monotonic()
    out = llm.run([f"r{i}" for i in range(4)], verbose=False)
    assert time.monotonic() - t0 >= 0.3  # Retry-After honoured
    assert out == [server.reply_for(f"r{i}") for i in range(4)]
    assert llm.last_usage.retries == 5 and server.served == 4
    assert server.threads == {}  # failed runs' threads deleted too


def test_a_rejected_run_fails_at_once_with_the_reason(workspace, server):
    from dreamer_lab.llms import LLMError

    server.inject("run_failed", 1, code="invalid_prompt")
    with pytest.raises(LLMError, match="rejected \\(400\\).*invalid_prompt"):
        make(server, max_retries=3).run(["bad"], verbose=False)
    assert server.requests == 1


def test_the_assistant_is_reused_after_a_restart_and_deleted_on_unload(workspace, server):
    first = make(server, tools=[{"type": "code_interpreter"}])
    first.run(["a"], verbose=False)
    (aid,) = server.assistants
    # A new object with the same identity (as after a kernel restart) reuses it.
    again = make(server, tools=[{"type": "code_interpreter"}])
    again.run(["b"], verbose=False)
    assert list(server.assistants) == [aid]
    # Another identity (other tools) gets its own assistant.
    make(server).run(["c"], verbose=False)
    assert len(server.assistants) == 2
    again.unload_model()
    assert aid not in server.assistants
    # Deleted on the server: the next run makes a new one.
    again.run(["d"], verbose=False)
    assert len(server.assistants) == 2 and aid not in server.assistants


def test_unsupported_arguments_and_identity(workspace, server):
    from dreamer_lab.errors import StepInputError

    llm = make(server)
    with pytest.raises(StepInputError, match="does not support n > 1, stop"):
        llm.run(["x"], n=2, stop=["."], temperature=1.0, top_p=0.5, verbose=False)
    assert server.requests == 0 and server.assistants == {}
    fp = llm.__dreamer_fingerprint__()
    assert make(server, api_key=fake_key("other")).__dreamer_fingerprint__() == fp
    assert make(server, system_prompt="x").__dreamer_fingerprint__() != fp
    assert make(server, tools=[{"type": "file_search"}]).__dreamer_fingerprint__() != fp


def test_kill_resume_rerun(tmp_path):
    key = fake_key("assistant-kill")
    with FakeAssistantsServer(api_key=key, latency=0.02, run_delay=0.02) as srv:
        kill_resume_rerun(
            tmp_path,
            """
            from dreamer_lab.llms import OpenAIAssistant

            def make(url):
                return OpenAIAssistant(
                    "gpt-4o-mini", base_url=url, max_concurrency=8, poll_interval=0.01
                )
            """,
            srv.base_url,
            answered=lambda: srv.served,
            cache_file="openai_assistant",
            expected=lambda out: out == [f"echo: row {i}" for i in range(200)],
            secrets=[key],
            env={"OPENAI_API_KEY": key},
        )
        assert len(srv.assistants) == 1  # the resumed run reused the killed run's assistant
