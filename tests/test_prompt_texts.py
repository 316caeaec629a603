"""The exact prompts DataDreamer's prompting steps send, and their output columns.

Each test runs a step against the local OpenAI-compatible server through the real
``openai`` client and reads the user message the server received: a DataDreamer user's
prompts (and so their cached results and expectations) carry over only if these strings
are DataDreamer's, byte for byte. The expected strings are written out by hand from
DataDreamer 0.46's step definitions (labels, separators, default instructions).
"""

from __future__ import annotations

from openai_fixtures import llm, server, source  # noqa: F401 - shared fixtures


def sent(server) -> list[str]:  # noqa: F811
    """The user messages the server received (requests run concurrently: sorted)."""
    return sorted(b["messages"][-1]["content"] for b in server.bodies)


def test_prompt_sends_the_prompts_as_they_are(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import Prompt

    step = Prompt(
        "p",
        inputs={"prompts": source(q=["Hi {there}", "2 + 2 = ?"]).output["q"]},
        args={"llm": llm},
    )
    assert sent(server) == ["2 + 2 = ?", "Hi {there}"]
    assert [m["role"] for m in server.bodies[0]["messages"]] == ["user"]
    assert step.output.column_names == ["prompts", "generations"]


def test_process_with_prompt(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import ProcessWithPrompt

    src = source(text=["the cat sat"])
    step = ProcessWithPrompt(
        "p", inputs={"inputs": src.output["text"]}, args={"llm": llm, "instruction": "Shorten."}
    )
    assert sent(server) == ["Input: the cat sat\n\nInstruction: Shorten."]
    assert step.output.column_names == ["inputs", "prompts", "generations"]
    ProcessWithPrompt(
        "p",
        inputs={"inputs": src.output["text"]},
        args={
            "llm": llm,
            "instruction": "Shorten.",
            "input_label": None,
            "instruction_label": "Task:",
            "sep": "\n",
        },
    )
    assert server.bodies[-1]["messages"][-1]["content"] == "the cat sat\nTask: Shorten."


def test_filter_with_prompt_prompt_and_default_yes_test(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import FilterWithPrompt

    replies = {"a": "Yes!", "b": "no", "c": "YES, it is", "d": "Yesterday", "e": "yes"}
    server.responder = lambda prompt, i: replies[prompt.split("\n")[0][-1]]
    src = source(text=list("abcde"), n=[1, 2, 3, 4, 5])
    step = FilterWithPrompt(
        "f", inputs={"inputs": src.output["text"]}, args={"llm": llm, "instruction": "Keep?"}
    )
    assert "Input: a\n\nInstruction: Keep?" in sent(server)
    assert step.output.column_names == ["text", "n"]
    assert step.output["n"].to_list() == [1, 3, 5]  # "Yesterday" is not a yes


def test_rank_with_prompt_scores_as_datadreamer_parses_them(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import RankWithPrompt

    replies = {"a": "Score: 7/10", "b": "I'd say 8.5 overall", "c": "4.", "d": "no idea", "e": "-3"}
    server.responder = lambda prompt, i: replies[prompt.split("\n")[0][-1]]
    src = source(text=list("abcde"))
    step = RankWithPrompt(
        "r", inputs={"inputs": src.output["text"]}, args={"llm": llm, "instruction": "Rate."}
    )
    assert "Input: a\n\nInstruction: Rate." in sent(server)
    assert step.output.column_names == ["text", "scores"]
    # The first run of digits and dots: "7/10" -> 7, "4." -> 4.0, "-3" -> 3 (no sign).
    assert step.output["text"].to_list() == ["b", "a", "c", "e", "d"]
    assert step.output["scores"].to_list() == [8.5, 7, 4.0, 3, None]


def test_few_shot_prompt(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import FewShotPrompt

    ex = source("ex", i=["2+2", "3+3"], o=["4", "6"])
    step = FewShotPrompt(
        "fs",
        inputs={
            "input_examples": ex.output["i"],
            "output_examples": ex.output["o"],
            "inputs": source("q", q=["5+5"]).output["q"],
        },
        args={"llm": llm},
    )
    assert sent(server) == ["Input: 2+2\nOutput: 4\nInput: 3+3\nOutput: 6\nInput: 5+5\nOutput:"]
    assert step.output.column_names == ["inputs", "prompts", "generations"]


def test_data_from_prompt_and_attributed_prompt(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import DataFromAttributedPrompt, DataFromPrompt

    step = DataFromPrompt("d", args={"llm": llm, "instruction": "Write {x} {{y}}.", "n": 2})
    assert sent(server) == ["Write {x} {{y}}."] * 2
    assert step.output.column_names == ["prompts", "generations"]
    attr = DataFromAttributedPrompt(
        "a",
        args={
            "llm": llm,
            "instruction": "A {tone} {topic.kind} note, {{kept}}.",
            "attributes": {"tone": ["calm"], "topic.kind": ["travel"]},
            "n": 1,
        },
    )
    # Attribute names may hold dots; doubled braces are sent as written.
    assert server.bodies[-1]["messages"][-1]["content"] == "A calm travel note, {{kept}}."
    assert attr.output.column_names == ["attributes", "prompts", "generations"]


def test_judge_pairs_with_prompt_default_texts(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import JudgePairsWithPrompt

    server.responder = lambda prompt, i: "Input A"
    src = source(a=["x"], b=["y"])
    step = JudgePairsWithPrompt(
        "j",
        inputs={"a": src.output["a"], "b": src.output["b"]},
        args={"llm": llm, "randomize_order": False},
    )
    assert sent(server) == [
        "Input A: x\n\nInput B: y\n\n"
        "Instruction: Which input is better? Respond with 'Input A' or 'Input B'."
    ]
    assert step.output.column_names == [
        "a",
        "b",
        "judge_prompts",
        "judge_generations",
        "judgements",
    ]
    assert step.output["judgements"].to_list() == ["Input A"]


def test_judge_generation_pairs_with_prompt_default_texts(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import JudgeGenerationPairsWithPrompt

    server.responder = lambda prompt, i: "Response B is better"
    src = source(p=["Say hi"], a=["hi"], b=["hello"])
    step = JudgeGenerationPairsWithPrompt(
        "j",
        inputs={"prompts": src.output["p"], "a": src.output["a"], "b": src.output["b"]},
        args={"llm": llm, "randomize_order": False},
    )
    assert sent(server) == [
        "Prompt: Say hi\n\nResponse A: hi\n\nResponse B: hello\n\n"
        "Instruction: Which response is better? Respond with 'Response A' or 'Response B'."
    ]
    assert step.output.column_names == [
        "prompts",
        "a",
        "b",
        "judge_prompts",
        "judge_generations",
        "judgements",
    ]
    assert step.output["judgements"].to_list() == ["Response B"]


def test_rag_prompt_and_few_shot_with_retrieval(workspace, server, llm):  # noqa: F811
    from dreamer_lab.embedders import SentenceTransformersEmbedder
    from dreamer_lab.retrievers import EmbeddingRetriever
    from dreamer_lab.steps import FewShotPromptWithRetrieval, RAGPrompt

    embedder = SentenceTransformersEmbedder("all-MiniLM-L6-v2")
    docs = source("docs", text=["Paris is the capital of France.", "Bananas are yellow."])
    qs = source("qs", q=["What is the capital of France?"])
    retriever = EmbeddingRetriever(texts=docs.output["text"], embedder=embedder)
    rag = RAGPrompt(
        "rag",
        inputs={"prompts": qs.output["q"]},
        args={"llm": llm, "retriever": retriever, "k": 1, "beg_instruction": "Answer."},
    )
    assert server.bodies[-1]["messages"][-1]["content"] == (
        "Answer.\n\nDocument: Paris is the capital of France.\n\n"
        "Question: What is the capital of France?"
    )
    assert rag.output.column_names == ["prompts", "generations"]
    ex = source("ex", i=["Bananas are yellow.", "Paris is in France."], o=["fruit", "city"])
    fs = FewShotPromptWithRetrieval(
        "fsr",
        inputs={
            "input_examples": ex.output["i"],
            "output_examples": ex.output["o"],
            "inputs": source("in", t=["Lyon is in France."]).output["t"],
        },
        args={"llm": llm, "embedder": embedder, "k": 1},
    )
    assert server.bodies[-1]["messages"][-1]["content"] == (
        "Input: Paris is in France.\nOutput: city\nInput: Lyon is in France.\nOutput:"
    )
    assert fs.output.column_names == ["inputs", "prompts", "generations"]
