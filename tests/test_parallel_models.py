"""ParallelEmbedder, ParallelRetriever and ParallelTaskModel (DataDreamer's names): the work
of one call is shared out over replicas of one model, in threads, and comes back in order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from embedding_server import EmbeddingServer, vector_for
from test_task_models import classifier_dir  # noqa: F401 - the tiny classifier fixture

from dreamer_lab.embedders import OpenAIEmbedder, ParallelEmbedder
from dreamer_lab.errors import StepInputError
from dreamer_lab.retrievers import EmbeddingRetriever, ParallelRetriever
from dreamer_lab.steps import DataSource, Embed, Retrieve, RunTaskModel
from dreamer_lab.task_models import HFClassificationTaskModel, ParallelTaskModel

TEXTS = [f"text number {i} " + "x" * i for i in range(10)] + ["text number 3 xxx"]


@pytest.fixture
def servers():
    with EmbeddingServer(dims=8) as s1, EmbeddingServer(dims=8) as s2:
        yield s1, s2


def _embedder(srv: EmbeddingServer) -> OpenAIEmbedder:
    return OpenAIEmbedder("m", base_url=srv.base_url, max_concurrency=1)


def test_parallel_embedder_shares_texts_between_replicas_and_keeps_order(workspace, servers):
    s1, s2 = servers
    par = ParallelEmbedder(_embedder(s1), _embedder(s2))
    out = par.run(TEXTS, batch_size=2)
    assert len(out) == len(TEXTS)
    for text, vec in zip(TEXTS, out, strict=True):
        np.testing.assert_allclose(vec, vector_for(text, 8), rtol=1e-6)
    distinct = set(TEXTS)  # the repeated text is embedded once
    assert len(s1.served_inputs) + len(s2.served_inputs) == len(distinct)
    assert len(s1.served_inputs) == 5 and len(s2.served_inputs) == 5
    assert set(s1.served_inputs).isdisjoint(s2.served_inputs)
    # A rerun with the same replicas is answered by their request caches.
    again = ParallelEmbedder(_embedder(s1), _embedder(s2))
    assert [v.tolist() for v in again.run(TEXTS)] == [v.tolist() for v in out]
    assert len(s1.served_inputs) + len(s2.served_inputs) == len(distinct)
    assert again.cached_count == len(TEXTS) and again.computed_count == 0
    assert par.dims == 8 and par.model_name == "m"  # the first replica's facts


def test_parallel_embedder_in_a_step_is_cached_like_its_first_replica(workspace, servers):
    s1, s2 = servers
    src = DataSource("texts", {"text": TEXTS})
    par = ParallelEmbedder(_embedder(s1), _embedder(s2))
    step = Embed("embed", inputs={"texts": src.output["text"]}, args={"embedder": par})
    got = step.output["embeddings"].to_list()
    np.testing.assert_allclose(got[4], vector_for(TEXTS[4], 8), rtol=1e-6)
    # Same model, same step arguments: the step's fingerprint is the same with either
    # replica first (identity is the model's, not the endpoint list's) when identities match.
    assert par.__dreamer_fingerprint__() == _embedder(s1).__dreamer_fingerprint__()
    assert par.license == _embedder(s1).license


def test_parallel_models_reject_bad_replicas(servers):
    s1, s2 = servers
    e = _embedder(s1)
    with pytest.raises(StepInputError, match="more than once"):
        ParallelEmbedder(e, e)
    with pytest.raises(StepInputError, match="at least one"):
        ParallelEmbedder()
    with pytest.raises(StepInputError, match="same model"):
        ParallelEmbedder(e, OpenAIEmbedder("other", base_url=s2.base_url))
    with pytest.raises(StepInputError, match="Embedder objects only"):
        ParallelEmbedder(e, "not an embedder")  # type: ignore[arg-type]


def test_parallel_retriever_matches_one_retriever(workspace, servers):
    s1, s2 = servers
    docs = [f"document about topic {i}" for i in range(12)]
    queries = [f"document about topic {i}" for i in (3, 7, 11, 0, 3)]
    single = EmbeddingRetriever(texts=docs, embedder=_embedder(s1))
    want = single.run(queries, k=2)
    par = ParallelRetriever(
        EmbeddingRetriever(texts=docs, embedder=_embedder(s1)),
        EmbeddingRetriever(texts=docs, embedder=_embedder(s2)),
    )
    assert par.run(queries, k=2) == want
    assert [r["indices"][0] for r in want] == [3, 7, 11, 0, 3]
    assert par.texts == docs
    with pytest.raises(StepInputError, match="same texts"):
        ParallelRetriever(
            EmbeddingRetriever(texts=docs, embedder=_embedder(s1)),
            EmbeddingRetriever(texts=docs[:5], embedder=_embedder(s2)),
        )
    src = DataSource("queries", {"q": queries})
    step = Retrieve(
        "retrieve", inputs={"queries": src.output["q"]}, args={"retriever": par, "k": 1}
    )
    assert [r["indices"] for r in step.output["results"].to_list()] == [[3], [7], [11], [0], [3]]


def test_parallel_task_model_splits_work_and_matches_one_model(workspace, classifier_dir):  # noqa: F811
    texts = ["I loved it.", "awful", "ok", "fine but flat", "Great!", "ok"]
    want = HFClassificationTaskModel(str(classifier_dir)).run(texts, force=True)
    a = HFClassificationTaskModel(str(classifier_dir))
    b = HFClassificationTaskModel(str(classifier_dir))
    par = ParallelTaskModel(a, b)
    step = SimpleNamespace(progress=0.0)  # what a step's progress bar reads
    got = par.run(texts, force=True, _step=step)
    assert step.progress == 1.0
    assert [sorted(r) for r in got] == [sorted(r) for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-5)
    assert a.computed_count == 3 and b.computed_count == 2  # 5 distinct texts, dealt out
    assert par.computed_count == 5
    src = DataSource("t", {"text": texts})
    run_step = RunTaskModel(
        "classify", inputs={"texts": src.output["text"]}, args={"model": ParallelTaskModel(a, b)}
    )
    assert run_step.output["results"].to_list()[4] == pytest.approx(want[4], abs=1e-5)
    par.unload_model()
    assert "model" not in a.__dict__ and "model" not in b.__dict__
