"""The OpenAI backend with the real ``openai`` client against the local test server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from fake_keys import fake_key
from openai_server import API_KEY, FakeOpenAIServer


@pytest.fixture
def server():
    with FakeOpenAIServer(idle_timeout=60) as srv:
        yield srv


def make_llm(server, **kw):
    from dreamer_lab.llms import OpenAI

    kw.setdefault("api_key", API_KEY)
    kw.setdefault("backoff_base", 0.01)
    return OpenAI(kw.pop("model", "gpt-4o-mini"), base_url=server.base_url, **kw)


def test_generations_usage_and_cost(workspace, server):
    llm = make_llm(server, system_prompt="You are terse.")
    prompts = [f"question {i}" for i in range(20)]
    out = llm.run(prompts, max_new_tokens=50, verbose=False)
    assert out == [server.reply_for(p) for p in prompts]
    assert server.requests == 20
    body = server.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["max_completion_tokens"] == 50
    u = llm.last_usage
    assert u.requests == 20 and not u.estimated_tokens
    # Server usage: (3 words + 4) system + (2 words + 4) user prompt tokens, 3 completion.
    assert (u.prompt_tokens, u.completion_tokens) == (20 * 13, 20 * 3)
    assert u.cost == pytest.approx((260 * 0.15 + 60 * 0.60) / 1e6)
    # Rerun: nothing sent, nothing paid again.
    assert llm.run(prompts, max_new_tokens=50, verbose=False) == out
    assert server.requests == 20 and llm.last_usage.cost == 0 and llm.last_usage.cached == 20
    assert llm.usage.cost == pytest.approx(u.cost)


def test_n_choices(workspace, server):
    out = make_llm(server).run(["hi"], n=3, temperature=1.0, top_p=1.0, verbose=False)
    assert out == [["echo: hi", "echo: hi #1", "echo: hi #2"]]


def test_retries_on_429_500_and_malformed_lose_nothing(workspace, server):
    llm = make_llm(server, max_concurrency=4)
    server.inject("429", 2, retry_after=0)
    server.inject("429", 2)  # without Retry-After: jittered backoff
    server.inject("500", 2)
    server.inject("malformed", 1)
    server.inject("nochoices", 1)
    prompts = [f"p{i}" for i in range(30)]
    out = llm.run(prompts, verbose=False)
    assert out == [server.reply_for(p) for p in prompts]
    assert server.requests == 30 + 8
    assert server.served == 30
    assert llm.last_usage.retries == 8
    assert llm.last_usage.requests == 30  # usage counted once per prompt
    assert llm.last_usage.prompt_tokens == 30 * 5


def test_retry_after_is_honoured(workspace, server):
    llm = make_llm(server)
    server.inject("429", 1, retry_after=1)
    t0 = time.monotonic()
    assert llm.run(["wait for me"], verbose=False) == ["echo: wait for me"]
    assert time.monotonic() - t0 >= 1.0


def test_retries_are_bounded_and_finished_requests_kept(workspace, server):
    from dreamer_lab.llms import LLMError

    llm = make_llm(server, max_retries=2, max_concurrency=1)
    server.inject_for_prompt("doomed", "500", 10)
    with pytest.raises(LLMError, match="server error 500 after 3 attempts"):
        llm.run(["ok 1", "ok 2", "doomed"], verbose=False)
    assert server.prompts["doomed"] == 0
    assert server.statuses[500] == 3
    before = server.requests
    server.prompt_faults.clear()
    assert llm.run(["ok 1", "ok 2", "doomed"], verbose=False)[2] == "echo: doomed"
    assert server.requests - before == 1  # only the failed one is sent again


def test_concurrency_is_bounded(workspace, server):
    server.latency = 0.1
    llm = make_llm(server, max_concurrency=4)
    t0 = time.monotonic()
    llm.run([f"c{i}" for i in range(16)], verbose=False)
    elapsed = time.monotonic() - t0
    assert server.max_in_flight == 4
    assert elapsed >= 0.4  # 16 requests / 4 in flight x 0.1 s


def test_missing_key_fails_before_any_request(workspace, server, monkeypatch):
    from dreamer_lab.llms import LLMError, OpenAI

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = OpenAI("gpt-4o-mini", base_url=server.base_url)
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        llm.run(["hi"], verbose=False)
    assert server.requests == 0


def test_bad_key_is_never_echoed(workspace, server):
    from dreamer_lab.llms import LLMError

    key = fake_key("wrong")
    with pytest.raises(LLMError) as e:
        make_llm(server, api_key=key).run(["hi"], verbose=False)
    assert "401" in str(e.value) and "API key was rejected" in str(e.value)
    assert key not in str(e.value) and key[-4:] not in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_unknown_model_and_unreachable_endpoint(workspace, server):
    from dreamer_lab.llms import LLMError, OpenAI, UnknownModelError

    with pytest.raises(UnknownModelError, match="does not serve model 'gpt-nope'"):
        make_llm(server, model="gpt-nope").run(["hi"], verbose=False)
    dead = OpenAI(
        "gpt-4o-mini",
        api_key=API_KEY,
        base_url="http://127.0.0.1:9/v1",
        max_retries=1,
        backoff_base=0.01,
    )
    with pytest.raises(LLMError, match="cannot reach the endpoint"):
        dead.run(["hi"], verbose=False)


def test_cost_budget_stops_before_overspending(workspace, server, monkeypatch):
    from dreamer_lab.llms import PRICES, CostBudgetExceededError, register_price

    monkeypatch.setattr("dreamer_lab.llms.openai.PRICES", dict(PRICES))
    register_price("local-model", 1000.0, 1000.0)  # $0.001 per token
    llm = make_llm(server, model="local-model", max_cost=0.05, max_concurrency=1)
    prompts = [f"budget {i}" for i in range(20)]
    with pytest.raises(CostBudgetExceededError, match="max_cost"):
        llm.run(prompts, max_new_tokens=3, verbose=False)
    assert 0 < server.served < 20
    assert llm.spent <= 0.05
    # What was paid for is cached: a bigger budget continues where it stopped.
    sent = server.served
    llm.max_cost = 1.0
    assert len(llm.run(prompts, max_new_tokens=3, verbose=False)) == 20
    assert server.served == 20 and llm.last_usage.requests == 20 - sent


def test_budget_needs_a_price(workspace, server):
    from dreamer_lab.llms import LLMError

    with pytest.raises(LLMError, match="register_price"):
        make_llm(server, model="mystery-model", max_cost=1.0).run(["x"], verbose=False)
    assert server.requests == 0


def test_missing_usage_fields_are_estimated(workspace):
    with FakeOpenAIServer(usage=False) as srv:
        llm = make_llm(srv)
        llm.run(["one two three four"], verbose=False)
    u = llm.last_usage
    assert u.estimated_tokens and u.prompt_tokens > 0 and u.completion_tokens > 0


def test_context_window_checked_when_known(workspace, server):
    from dreamer_lab.llms import PromptTooLongError

    llm = make_llm(server, max_context_length=50)
    with pytest.raises(PromptTooLongError, match="Prompt 0"):
        llm.run(["word " * 100], max_new_tokens=10, verbose=False)
    assert server.requests == 0


def test_api_key_stays_out_of_records_and_fingerprints(workspace, server):
    from dreamer_lab.steps import DataSource, Prompt

    src = DataSource("qs", {"q": ["a", "b"]})
    step = Prompt("ask", inputs={"prompts": src.output["q"]}, args={"llm": make_llm(server)})
    text = (step.path / "record.json").read_text()
    assert API_KEY not in text
    assert (
        make_llm(server).__dreamer_fingerprint__()
        == make_llm(server, api_key=fake_key("another")).__dreamer_fingerprint__()
    )


def test_runs_inside_a_running_event_loop(workspace, server):
    import asyncio

    async def in_notebook():
        return make_llm(server).run(["loop"], verbose=False)

    assert asyncio.run(in_notebook()) == ["echo: loop"]


_CHILD = """
import sys
from dreamer_lab import DataDreamer
from dreamer_lab.llms import OpenAI
from dreamer_lab.steps import DataSource, Prompt

ws, url, key = sys.argv[1:4]
with DataDreamer(ws):
    src = DataSource("prompts", {"p": [f"row {i}" for i in range(200)]})
    Prompt("generate", inputs={"prompts": src.output["p"]},
           args={"llm": OpenAI("gpt-4o-mini", base_url=url, api_key=key, max_concurrency=8)})
"""


def test_kill_halfway_then_resume_sends_only_missing_requests(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.steps import DataSource, Prompt

    ws = tmp_path / "ws"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD))
    with FakeOpenAIServer(latency=0.03, idle_timeout=60) as srv:
        child = subprocess.Popen(
            [sys.executable, str(script), str(ws), srv.base_url, API_KEY],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while srv.served < 100 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        first_run = srv.requests
        assert 100 <= first_run < 200

        db = sqlite3.connect(ws / "requests" / "openai.sqlite")
        cached = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        db.close()
        # Committed per batch: at most one batch and the requests in flight are lost.
        assert cached >= first_run - 8 - 16 - 8

        # Requests the child had in flight finish on the server after the kill: wait for
        # them before taking stock, so the resume is measured alone.
        srv.settle()
        before = dict(srv.prompts)
        with DataDreamer(ws):
            src = DataSource("prompts", {"p": [f"row {i}" for i in range(200)]})
            llm = OpenAI("gpt-4o-mini", base_url=srv.base_url, api_key=API_KEY, max_concurrency=8)
            step = Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": llm})
            gens = step.output["generations"].to_list()
        # The resume generates exactly the prompts that were not cached, each once (a request
        # retried after a connection reset on a loaded machine still generates once).
        resumed = {p: n - before.get(p, 0) for p, n in srv.prompts.items() if n > before.get(p, 0)}
        assert len(resumed) == 200 - cached and set(resumed.values()) == {1}
        assert gens == [f"echo: row {i}" for i in range(200)]
        assert sum(srv.prompts.values()) - 200 <= 8 + 16  # requests paid twice
        assert json.loads((step.path / "record.json").read_text())["rows"] == 200


def test_parallel_llm_spreads_requests_over_endpoints(workspace):
    from dreamer_lab.llms import ParallelLLM
    from dreamer_lab.steps import DataSource, Prompt

    with FakeOpenAIServer(latency=0.05) as s1, FakeOpenAIServer(latency=0.05) as s2:
        llm = ParallelLLM(make_llm(s1, max_concurrency=2), make_llm(s2, max_concurrency=2))
        src = DataSource("qs", {"q": [f"q{i}" for i in range(12)]})
        step = Prompt("par", inputs={"prompts": src.output["q"]}, args={"llm": llm})
        assert step.output["generations"].to_list() == [f"echo: q{i}" for i in range(12)]
        assert s1.served == 6 and s2.served == 6
        # Cached under the first backend's identity: that backend alone hits the cache.
        single = make_llm(s1)
        single.run([f"q{i}" for i in range(12)], verbose=False)
        assert single.last_usage.requests == 0 and s1.served == 6


def test_batch_api_resumes_polling_after_restart_and_resubmits_failures(workspace):
    from dreamer_lab.llms import BatchPendingError

    prompts = [f"batch row {i}" for i in range(6)]
    with FakeOpenAIServer() as srv:
        srv.batch_delay = 1.0
        srv.batch_fail_prompts = {"batch row 2"}
        first = make_llm(srv, use_batch_api=True, batch_poll_interval=0.05, batch_timeout=0.2)
        with pytest.raises(BatchPendingError, match="rerun the same step"):
            first.run(prompts, max_new_tokens=20, verbose=False)
        assert len(srv.batches) == 1 and srv.requests == 0
        # A new object (as after a kernel restart) resumes the same batch: no new submission.
        again = make_llm(srv, use_batch_api=True, batch_poll_interval=0.05)
        srv.batch_delay = 0.05
        out = again.run(prompts, max_new_tokens=20, verbose=False)
        assert out == [srv.reply_for(p) for p in prompts]
        # One batch, then one resubmission holding only the failed row.
        assert len(srv.batches) == 2
        assert srv.batches["batch_2"]["request_counts"]["total"] == 1
        assert again.last_usage.requests == 6
        u = again.last_usage
        assert u.cost == pytest.approx(
            0.5 * (u.prompt_tokens * 0.15 + u.completion_tokens * 0.6) / 1e6
        )
        assert again.run(prompts, max_new_tokens=20, verbose=False) == out
        assert len(srv.batches) == 2  # cached: nothing submitted


def test_batch_api_requests_go_through_the_one_retry_policy(workspace):
    from dreamer_lab.llms.base import LLMError

    prompts = [f"batch retry {i}" for i in range(3)]
    with FakeOpenAIServer() as srv:
        srv.batch_delay = 0.05
        # Upload, create, poll and download each meet a 429 or a 500 first: retried by our
        # policy (the client's own retries are off), the rows arrive once.
        srv.inject("429", retry_after=0)
        srv.inject("500", count=3)
        llm = make_llm(srv, use_batch_api=True, batch_poll_interval=0.05, backoff_base=0.01)
        assert llm.run(prompts, max_new_tokens=20, verbose=False) == [
            srv.reply_for(p) for p in prompts
        ]
        assert len(srv.batches) == 1 and llm.last_usage.retries == 4
        srv.inject("500", count=50)
        again = make_llm(srv, use_batch_api=True, max_retries=2, backoff_base=0.01)
        with pytest.raises(LLMError, match="500"):
            again.run(["batch retry new"], max_new_tokens=20, verbose=False)
        assert len(srv.batches) == 1  # the upload never went through: nothing submitted


def test_rate_limiter_spaces_requests_and_tokens():
    import asyncio

    from dreamer_lab.llms.openai import _RateLimiter

    async def timed(limiter, costs):
        t0 = time.monotonic()
        for c in costs:
            await limiter.acquire(c)
        return time.monotonic() - t0

    # 2 requests per 0.3 s window: the 5th request starts in the third window.
    assert asyncio.run(timed(_RateLimiter(2, None, window=0.3), [1] * 5)) >= 0.6
    # 100 tokens per window: 3 requests of 60 tokens need 3 windows.
    assert asyncio.run(timed(_RateLimiter(None, 100, window=0.3), [60] * 3)) >= 0.6
    assert asyncio.run(timed(_RateLimiter(None, None), [10**6] * 50)) < 0.1
