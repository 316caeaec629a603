"""EmbeddingRetriever (exact numpy search) and the Retrieve step."""

from __future__ import annotations

import numpy as np
import pytest
from embedding_server import EmbeddingServer, vector_for

from dreamer_lab.embedders import OpenAIEmbedder, SentenceTransformersEmbedder
from dreamer_lab.errors import StepInputError
from dreamer_lab.retrievers import EmbeddingRetriever
from dreamer_lab.steps import DataSource, Retrieve

DOCS = [
    "Paris is the capital and largest city of France.",
    "The Python programming language emphasizes code readability.",
    "Photosynthesis lets plants turn sunlight into chemical energy.",
    "The Great Barrier Reef is the world's largest coral reef system.",
    "Bitcoin is a decentralized digital currency.",
]


@pytest.fixture
def server():
    with EmbeddingServer(dims=16) as srv:
        yield srv


def test_retriever_finds_the_semantic_match(workspace):
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    src = DataSource("docs", data={"text": DOCS})
    retriever = EmbeddingRetriever(texts=src.output["text"], embedder=emb)
    queries = [
        "Which city is France's capital?",
        "How do plants make energy from light?",
        "cryptocurrency without a central bank",
    ]
    results = retriever.run(queries, k=3)
    assert [r["indices"][0] for r in results] == [0, 2, 4]
    for r in results:
        assert len(r["indices"]) == len(r["texts"]) == len(r["scores"]) == 3
        assert r["texts"] == [DOCS[i] for i in r["indices"]]
        assert r["scores"] == sorted(r["scores"], reverse=True)
        assert -1.0 <= r["scores"][-1] <= r["scores"][0] <= 1.0 + 1e-6
    # k larger than the corpus returns every text once.
    assert sorted(retriever.run(queries[:1], k=50)[0]["indices"]) == list(range(len(DOCS)))


def test_search_is_exact_with_stable_ties(workspace, server):
    corpus = [f"doc {i}" for i in range(300)] + ["doc 7"]  # a duplicate: a tie with row 7
    emb = OpenAIEmbedder("m", base_url=server.base_url)
    retriever = EmbeddingRetriever(texts=corpus, embedder=emb, index_batch_size=64)
    queries = ["doc 7", "query a", "query b"]
    results = retriever.run(queries, k=10)
    matrix = np.vstack([vector_for(t, 16) for t in corpus])
    for q, r in zip(queries, results, strict=True):
        sims = matrix @ vector_for(q, 16)
        want = sorted(range(len(corpus)), key=lambda i: (-sims[i], i))[:10]
        assert r["indices"] == want
        np.testing.assert_allclose(r["scores"], sims[want], atol=1e-5)
    assert results[0]["indices"][:2] == [7, 300]  # equal scores: lower position first


def test_rebuilt_index_costs_no_requests(workspace, server):
    corpus = [f"passage {i}" for i in range(40)]
    first = EmbeddingRetriever(
        texts=corpus,
        embedder=OpenAIEmbedder("m", base_url=server.base_url),
        index_instruction="passage: ",
        query_instruction="query: ",
    )
    a = first.run(["hello"], k=3)
    served = list(server.served_inputs)
    assert "passage: passage 0" in served and "query: hello" in served
    emb2 = OpenAIEmbedder("m", base_url=server.base_url)
    second = EmbeddingRetriever(
        texts=corpus, embedder=emb2, index_instruction="passage: ", query_instruction="query: "
    )
    assert second.run(["hello"], k=3) == a
    assert server.served_inputs == served and emb2.computed_count == 0
    assert second.__dreamer_fingerprint__() == first.__dreamer_fingerprint__()
    other = EmbeddingRetriever(texts=corpus[:-1], embedder=emb2)
    assert other.__dreamer_fingerprint__() != first.__dreamer_fingerprint__()


def test_retrieve_step(workspace, server):
    docs = DataSource("docs", data={"text": [f"doc {i}" for i in range(20)]})
    queries = DataSource("q", data={"q": ["doc 3", "doc 11"]})
    emb = OpenAIEmbedder("m", base_url=server.base_url)
    retriever = EmbeddingRetriever(texts=docs.output["text"], embedder=emb)
    step = Retrieve("r", inputs={"queries": queries.output["q"]}, args={"retriever": retriever})
    assert step.output.column_names == ["queries", "results"]
    rows = step.output["results"].to_list()
    assert [r["indices"][0] for r in rows] == [3, 11]
    assert [r["texts"][0] for r in rows] == ["doc 3", "doc 11"]
    assert all(len(r["indices"]) == 5 for r in rows)  # DataDreamer's default k
    assert step.record["card"]["Model Name"] == ["m"]
    k2 = Retrieve(
        "r", inputs={"queries": queries.output["q"]}, args={"retriever": retriever, "k": 2}
    )
    assert k2.fingerprint != step.fingerprint
    assert all(len(r["indices"]) == 2 for r in k2.output["results"].to_list())
    same = Retrieve("r", inputs={"queries": queries.output["q"]}, args={"retriever": retriever})
    assert same.cache_hit is True


def test_retriever_bad_arguments(workspace, server):
    emb = OpenAIEmbedder("m", base_url=server.base_url)
    with pytest.raises(ValueError, match="index_type='Flat' needs FAISS"):
        EmbeddingRetriever(texts=["a"], embedder=emb, index_type="Flat")
    with pytest.raises(TypeError, match="embedder must be an Embedder"):
        EmbeddingRetriever(texts=["a"], embedder="all-MiniLM-L6-v2")
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        EmbeddingRetriever(texts=["a", 3], embedder=emb).run(["q"])
    with pytest.raises(ValueError, match="no texts to search"):
        EmbeddingRetriever(texts=[], embedder=emb).run(["q"])
    retriever = EmbeddingRetriever(texts=["a", "b"], embedder=emb)
    with pytest.raises(ValueError, match="k must be a positive int"):
        retriever.run(["q"], k=0)
    q = DataSource("q", data={"q": ["x"]})
    with pytest.raises(StepInputError, match="k must be a positive int"):
        Retrieve("r", inputs={"queries": q.output["q"]}, args={"retriever": retriever, "k": -1})
    with pytest.raises(StepInputError, match="'retriever' must be a Retriever"):
        Retrieve("r", inputs={"queries": q.output["q"]}, args={"retriever": emb})
    assert server.requests == 0  # every error came before a model call
