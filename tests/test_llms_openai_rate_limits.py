"""``OpenAI(requests_per_minute=..., tokens_per_minute=...)`` spaces real HTTP requests."""

from __future__ import annotations

import time

import pytest
from openai_server import API_KEY, FakeOpenAIServer

from dreamer_lab.llms import OpenAI, api_llm

WINDOW = 0.5  # seconds standing in for the limiter's minute, so the test takes ~1 s


@pytest.fixture
def short_window(monkeypatch):
    class ShortWindow(api_llm.RateLimiter):
        def __init__(self, rpm, tpm, window=WINDOW):
            super().__init__(rpm, tpm, window=WINDOW)

    monkeypatch.setattr(api_llm, "RateLimiter", ShortWindow)


def test_requests_per_minute_spaces_requests(workspace, short_window):
    with FakeOpenAIServer(idle_timeout=60) as server:
        llm = OpenAI(
            "gpt-4o-mini",
            base_url=server.base_url,
            api_key=API_KEY,
            requests_per_minute=2,
            max_concurrency=8,
        )
        t0 = time.monotonic()
        out = llm.run([f"q{i}" for i in range(5)], max_new_tokens=8, verbose=False)
        elapsed = time.monotonic() - t0
    assert out == [server.reply_for(f"q{i}") for i in range(5)]
    assert server.requests == 5
    # 2 requests per window: the 5th starts in the third window.
    assert elapsed >= 2 * WINDOW


def test_without_limits_the_same_requests_go_out_together(workspace):
    with FakeOpenAIServer(idle_timeout=60, latency=0.2) as server:
        llm = OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY, max_concurrency=8)
        t0 = time.monotonic()
        llm.run([f"q{i}" for i in range(5)], max_new_tokens=8, verbose=False)
        elapsed = time.monotonic() - t0
    assert elapsed < 5 * 0.2  # concurrent, not one after another
