"""The OpenAI-compatible embedders use the package's one client factory and retry policy.

The ``openai`` client's own retries are off: every attempt the server sees is one the
policy made (``max_retries`` + 1 at most), a 429 waits what its ``Retry-After`` asks, a
5xx is retried, a rejected key and an unreachable endpoint are clear errors. All against
a real local HTTP server (tests/embedding_server.py).
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from embedding_server import EmbeddingServer, vector_for
from fake_keys import fake_key

from dreamer_lab.embedders import OpenAIEmbedder, OpenAIEmbedderError, TogetherEmbedder


@pytest.fixture
def server():
    with EmbeddingServer(dims=8, retry_after=0.6) as srv:
        yield srv


def test_the_client_never_retries_by_itself(workspace, server):
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=2)
    assert emb.client.max_retries == 0
    server.faults = ["500"] * 10
    with pytest.raises(OpenAIEmbedderError, match="server error 500 after 3 attempts"):
        emb.run(["a"])
    assert server.requests == 3  # the policy's attempts, none of the client's own


def test_a_429_waits_what_retry_after_asks(workspace, server):
    server.faults = ["429-retry"]
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=1)
    start = time.monotonic()
    got = emb.run(["waited"])
    assert time.monotonic() - start >= 0.6
    np.testing.assert_array_equal(got[0], vector_for("waited", 8))
    assert server.requests == 2 and emb.usage["requests"] == 1


def test_429s_without_retry_after_then_a_clear_error(workspace, server):
    server.faults = ["429"] * 3
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=1)
    with pytest.raises(OpenAIEmbedderError, match=r"still rate limited \(429\) after 2 attempts"):
        emb.run(["a"])
    assert server.requests == 2


def test_a_500_is_retried(workspace, server):
    server.faults = ["500", "500"]
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=2)
    np.testing.assert_array_equal(emb.run(["b"])[0], vector_for("b", 8))
    assert server.requests == 3


def test_a_rejected_key_fails_at_once(workspace):
    key = fake_key("wrong")
    with EmbeddingServer(dims=8, api_key=fake_key("right")) as srv:
        emb = TogetherEmbedder(
            "m", base_url=srv.base_url, api_key=key, max_retries=5, warn_max_context_length=False
        )
        with pytest.raises(OpenAIEmbedderError, match="rejected the API key.*TOGETHER_API_KEY"):
            emb.run(["c"])
        assert srv.requests == 1  # a 401 is not retried
        assert key not in repr(emb)


def test_an_unreachable_endpoint_is_retried_then_named(workspace):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    emb = OpenAIEmbedder("m", base_url=url, max_retries=1, timeout=5)
    with pytest.raises(
        OpenAIEmbedderError, match=f"at {url}: cannot reach the endpoint.*after 2 attempts"
    ):
        emb.run(["d"])


def test_together_embedder_shares_the_policy(workspace, server):
    server.faults = ["429-retry", "500"]
    emb = TogetherEmbedder(
        "m",
        base_url=server.base_url,
        api_key=fake_key("t"),
        max_retries=2,
        warn_max_context_length=False,
    )
    assert emb.client.max_retries == 0
    start = time.monotonic()
    np.testing.assert_array_equal(emb.run(["e"])[0], vector_for("e", 8))
    assert time.monotonic() - start >= 0.6 and server.requests == 3
