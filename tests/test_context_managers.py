"""``with llm:`` / ``with embedder:`` / ``with retriever:`` / ``with task_model:`` /
``with trainer:`` load the model on entering and unload it on leaving (even on an error),
and a trainer prints its model card (DataDreamer's ``model_card()``)."""

from __future__ import annotations

import pytest
from embedding_server import EmbeddingServer
from test_task_models import classifier_dir  # noqa: F401 - the tiny classifier fixture
from trainer_fixtures import tiny_llama  # noqa: F401 - the tiny causal LM fixture

from dreamer_lab.embedders import OpenAIEmbedder, SentenceTransformersEmbedder
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms import HFTransformers, ParallelLLM
from dreamer_lab.retrievers import EmbeddingRetriever
from dreamer_lab.steps import DataSource
from dreamer_lab.task_models import HFClassificationTaskModel, ParallelTaskModel


def test_with_llm_loads_on_enter_and_unloads_on_exit(workspace, tiny_llama):  # noqa: F811
    llm = HFTransformers(str(tiny_llama))
    assert llm._model is None
    with llm as entered:
        assert entered is llm and llm._model is not None  # loaded before any call
        out = llm.run(["hello"], max_new_tokens=2, temperature=0.0, top_p=0.0, verbose=False)
        assert len(out) == 1
    assert llm._model is None
    with pytest.raises(RuntimeError, match="boom"), llm:
        assert llm._model is not None
        raise RuntimeError("boom")
    assert llm._model is None  # unloaded although the block raised
    a, b = HFTransformers(str(tiny_llama)), HFTransformers(str(tiny_llama))
    with ParallelLLM(a, b):
        assert a._model is not None and b._model is not None
    assert a._model is None and b._model is None


def test_with_embedder_and_retriever(workspace):
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    with emb:
        assert "model" in emb.__dict__
    assert "model" not in emb.__dict__
    with EmbeddingServer(dims=8) as srv:
        api = OpenAIEmbedder("m", base_url=srv.base_url)
        with api:  # nothing to load for an API client: entering costs no request
            assert srv.requests == 0
        retriever = EmbeddingRetriever(texts=["a", "bb", "ccc"], embedder=api)
        with retriever:
            assert "embeddings" in retriever.__dict__  # the index is built on entering
            assert sorted(srv.served_inputs) == ["a", "bb", "ccc"]
        assert "embeddings" not in retriever.__dict__


def test_with_task_model(workspace, classifier_dir):  # noqa: F811
    model = HFClassificationTaskModel(str(classifier_dir))
    with model:
        assert "model" in model.__dict__
        assert len(model.run(["fine"])) == 1
    assert "model" not in model.__dict__
    a, b = (
        HFClassificationTaskModel(str(classifier_dir)),
        HFClassificationTaskModel(str(classifier_dir)),
    )
    with ParallelTaskModel(a, b):
        assert "model" in a.__dict__ and "model" in b.__dict__
    assert "model" not in a.__dict__ and "model" not in b.__dict__


def test_with_trainer_and_model_card(workspace, tiny_llama, capsys):  # noqa: F811
    from dreamer_lab.trainers import TrainHFFineTune

    trainer = TrainHFFineTune("sft for cards", model_name=str(tiny_llama))
    with pytest.raises(StepInputError, match="not been trained"):
        trainer.model_card()
    with trainer:  # nothing trained yet: entering loads nothing
        qa = DataSource("qa", {"q": ["sky", "grass"] * 2, "a": ["blue", "green"] * 2})
        trainer.train(
            train_input=qa.output["q"], train_output=qa.output["a"], epochs=1, batch_size=4
        )
        assert trainer._model is None
        _ = trainer.model
        assert trainer._model is not None
    assert trainer._model is None
    with trainer:
        assert trainer._model is not None  # trained: loaded on entering
    trainer.model_card()
    card = capsys.readouterr().out
    assert card.startswith("---\n")  # Hub metadata front matter, then the card
    assert "sft for cards" in card and trainer.fingerprint in card
