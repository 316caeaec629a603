"""``TogetherEmbedder`` with the real ``openai`` client against the local embeddings server."""

from __future__ import annotations

import time

import numpy as np
import pytest
from embedding_server import EmbeddingServer, vector_for
from fake_keys import fake_key
from resume_harness import kill_resume_rerun

BGE = "BAAI/bge-large-en-v1.5"


@pytest.fixture
def key(monkeypatch):
    value = fake_key("together-emb")
    monkeypatch.setenv("TOGETHER_API_KEY", value)
    return value


def test_defaults_and_missing_key(monkeypatch):
    from dreamer_lab.embedders import TogetherEmbedder

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", fake_key("openai"))  # not Together's variable
    with pytest.raises(ValueError, match="set the TOGETHER_API_KEY environment variable"):
        TogetherEmbedder(BGE)
    emb = TogetherEmbedder(BGE, api_key=fake_key("given"))
    assert emb.base_url == "https://api.together.xyz/v1"
    assert (emb.dims, emb.model_max_length) == (1024, 512)
    assert emb.model_card == f"https://huggingface.co/{BGE}"
    assert emb._identity()["endpoint"] == "https://api.together.xyz/v1"


def test_vectors_usage_retries_and_cache(workspace, key):
    from dreamer_lab.embedders import TogetherEmbedder

    with EmbeddingServer(dims=16, api_key=key, latency=0.01, retry_after=0.3) as srv:
        srv.faults = ["429-retry", "500"]
        emb = TogetherEmbedder(BGE, base_url=srv.base_url, max_concurrency=2)
        texts = [f"text {i}" for i in range(12)]
        t0 = time.monotonic()
        vectors = emb.run(texts, batch_size=5)
        assert time.monotonic() - t0 >= 0.3  # Retry-After honoured by the client
        for t, v in zip(texts, vectors, strict=True):
            np.testing.assert_allclose(v, vector_for(t, 16), rtol=1e-6)
        assert srv.requests == 3 + 2  # three batches, one 429 and one 500 retried
        assert emb.usage["total_tokens"] == 24
        assert emb.cost == pytest.approx(24 * 0.016 / 1e6)
        again = TogetherEmbedder(BGE, base_url=srv.base_url)
        again.run(texts, batch_size=5)
        assert srv.requests == 5 and again.cached_count == 12


def test_rejected_key_names_the_variable(workspace, key):
    from dreamer_lab.embedders import OpenAIEmbedderError, TogetherEmbedder

    wrong = fake_key("wrong")
    with EmbeddingServer(api_key=key) as srv:
        emb = TogetherEmbedder(BGE, base_url=srv.base_url, api_key=wrong)
        with pytest.raises(OpenAIEmbedderError, match="Check TOGETHER_API_KEY") as e:
            emb.run(["x"])
    assert wrong not in str(e.value)


def test_kill_resume_rerun(tmp_path, key):
    with EmbeddingServer(dims=8, api_key=key, latency=0.05) as srv:
        kill_resume_rerun(
            tmp_path,
            f"""
            from dreamer_lab.embedders import TogetherEmbedder

            def make(url):
                return TogetherEmbedder({BGE!r}, base_url=url, max_concurrency=2)
            """,
            srv.base_url,
            answered=lambda: len(srv.served_inputs),
            cache_file="together_embeddings",
            expected=lambda out: all(
                np.allclose(v, vector_for(f"row {i}", 8), rtol=1e-6) for i, v in enumerate(out)
            ),
            secrets=[key],
            env={"TOGETHER_API_KEY": key},
            kind="embed",
            lost_at_most=20,
        )
