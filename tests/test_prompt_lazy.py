"""``lazy=True`` on the prompting steps (as DataDreamer): the output streams, the LLM runs
on chunks of rows as they are read, a second pass is answered by the request cache, and
``.save()`` stores the same rows as the step run without ``lazy``."""

from __future__ import annotations

import itertools

import pytest
from openai_fixtures import llm, server, source  # noqa: F401 - shared fixtures


def test_lazy_prompt_streams_caches_and_saves(workspace, server, llm):  # noqa: F811
    from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
    from dreamer_lab.steps import Prompt

    src = source(q=[f"question {i}" for i in range(20)])
    step = Prompt("ask", inputs={"prompts": src.output["q"]}, args={"llm": llm, "lazy": True})
    assert isinstance(step.output, OutputIterableDataset)
    assert step.output.num_rows == 20
    first = list(itertools.islice(step.output, 3))
    assert [r["generations"] for r in first] == [f"echo: question {i}" for i in range(3)]
    assert 3 <= server.requests <= 10, "reading 3 rows sends one chunk, not all 20"
    rows = list(step.output)
    sent = server.requests
    assert sent == 20
    assert list(step.output) == rows and server.requests == sent, "a second pass is cached"
    saved = step.save()
    assert isinstance(saved.output, OutputDataset) and server.requests == sent
    eager = Prompt("ask", inputs={"prompts": src.output["q"]}, args={"llm": llm})
    assert saved.output.dataset.to_list() == eager.output.dataset.to_list() == rows
    assert server.requests == sent


def test_lazy_bad_argument_refused_before_any_request(workspace, server, llm):  # noqa: F811
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import ProcessWithPrompt, Prompt

    src = source(q=["a", "b"])
    with pytest.raises(StepInputError, match=r"\{missing\}"):
        Prompt(
            "ask",
            inputs={"prompts": src.output["q"]},
            args={"llm": llm, "lazy": True, "template": "{missing}"},
        )
    with pytest.raises(StepInputError, match="lazy must be True or False"):
        ProcessWithPrompt(
            "p",
            inputs={"inputs": src.output["q"]},
            args={"llm": llm, "instruction": "x", "lazy": "yes"},
        )
    assert server.requests == 0


def test_lazy_filter_judge_and_rank_match_eager(workspace, server, llm):  # noqa: F811
    from dreamer_lab.datasets import OutputDataset, OutputIterableDataset
    from dreamer_lab.steps import FilterWithPrompt, JudgePairsWithPrompt, RankWithPrompt

    server.responder = lambda prompt, i: (
        "Yes, 7" if "keep" in prompt else ("Input A" if "Input A: x" in prompt else "No, 2")
    )
    n = 25
    src = source(
        text=["keep" if i % 3 else "drop" for i in range(n)],
        a=[f"x{i}" if i % 2 else f"y{i}" for i in range(n)],
        b=[f"y{i}" if i % 2 else f"x{i}" for i in range(n)],
        id=list(range(n)),
    )
    cases = [
        (FilterWithPrompt, {"inputs": src.output["text"]}, {"instruction": "Keep?"}),
        (JudgePairsWithPrompt, {"a": src.output["a"], "b": src.output["b"]}, {}),
        (
            RankWithPrompt,
            {"inputs": src.output["text"]},
            {"instruction": "Rate.", "sort": False, "score_threshold": 5},
        ),
    ]
    for cls, inputs, args in cases:
        lazy = cls("s", inputs=inputs, args={"llm": llm, "lazy": True, **args})
        assert isinstance(lazy.output, OutputIterableDataset), cls.__name__
        eager = cls("s", inputs=inputs, args={"llm": llm, **args})
        assert list(lazy.output) == eager.output.dataset.to_list(), cls.__name__
    assert len(eager.output) == len([i for i in range(n) if i % 3])
    # Sorting needs every score: computed whole, as DataDreamer's sort of a lazy output.
    ranked = RankWithPrompt(
        "rank",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "lazy": True, "instruction": "Rate."},
    )
    assert isinstance(ranked.output, OutputDataset)
    assert ranked.output["scores"].to_list() == sorted(
        ranked.output["scores"].to_list(), reverse=True
    )


def test_lazy_help_text_says_it_streams():
    from dreamer_lab import steps

    names = [
        "Prompt",
        "ProcessWithPrompt",
        "FewShotPrompt",
        "DataFromPrompt",
        "DataFromAttributedPrompt",
        "FilterWithPrompt",
        "RankWithPrompt",
        "JudgePairsWithPrompt",
        "JudgeGenerationPairsWithPrompt",
        "RAGPrompt",
        "FewShotPromptWithRetrieval",
    ]
    for name in names:
        assert "'lazy': 'Stream the output" in getattr(steps, name).help, name


def test_lazy_retrieval_steps_retrieve_and_generate_as_rows_are_read(workspace, server, llm):  # noqa: F811
    from dreamer_lab.datasets import OutputIterableDataset
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.retrievers import EmbeddingRetriever
    from dreamer_lab.steps import FewShotPromptWithRetrieval, RAGPrompt

    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    docs = source(text=["Paris is in France.", "Python is a language.", "Rain is wet."])
    qs = source(q=[f"Where is Paris? ({i})" for i in range(20)], o=[str(i) for i in range(20)])
    retriever = EmbeddingRetriever(texts=docs.output["text"], embedder=emb)
    rag = RAGPrompt(
        "rag",
        inputs={"prompts": qs.output["q"]},
        args={"llm": llm, "retriever": retriever, "k": 1, "lazy": True},
    )
    assert isinstance(rag.output, OutputIterableDataset)
    first = next(iter(rag.output))
    assert "Document: Paris is in France." in first["prompts"]
    assert server.requests <= 10, "one chunk generated, not all 20 rows"
    eager = RAGPrompt(
        "rag", inputs={"prompts": qs.output["q"]}, args={"llm": llm, "retriever": retriever, "k": 1}
    )
    assert list(rag.output) == eager.output.dataset.to_list()
    inputs = {
        "input_examples": qs.output["q"],
        "output_examples": qs.output["o"],
        "inputs": docs.output["text"],
    }
    args = {"llm": llm, "embedder": emb, "k": 2}
    lazy = FewShotPromptWithRetrieval("fs", inputs=inputs, args={**args, "lazy": True})
    eager = FewShotPromptWithRetrieval("fs", inputs=inputs, args=args)
    assert list(lazy.output) == eager.output.dataset.to_list()
    assert lazy.record["card"]["Retrieval"] == eager.record["card"]["Retrieval"]
