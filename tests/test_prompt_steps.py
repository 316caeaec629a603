"""The prompting step catalog, against the local OpenAI-compatible server (deterministic
replies make prompts and generations checkable) and the tiny local model."""

from __future__ import annotations

import pytest
from openai_fixtures import llm, server, source  # noqa: F401 - shared fixtures
from tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def test_prompt_outputs_and_step_cache(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import Prompt

    src = source(q=["one", "two", "three"])
    step = Prompt("ask", inputs={"prompts": src.output["q"]}, args={"llm": llm})
    assert step.output.column_names == ["prompts", "generations"]
    assert step.output["generations"].to_list() == ["echo: one", "echo: two", "echo: three"]
    assert step.progress == 1.0
    card = step.record["card"]
    assert card["Model Name"] == ["gpt-4o-mini"]
    assert card["Usage"][0]["requests"] == 3
    # Same step again (even renamed): a step-level hit, no request.
    again = Prompt("renamed", inputs={"prompts": src.output["q"]}, args={"llm": llm})
    assert again.cache_hit and server.requests == 3


def test_changed_step_reruns_only_changed_rows(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import Prompt

    rows = [f"row {i}" for i in range(10)]
    Prompt("a", inputs={"prompts": source(q=rows).output["q"]}, args={"llm": llm})
    rows[3], rows[7] = "changed 3", "changed 7"
    step = Prompt("a", inputs={"prompts": source(q=rows).output["q"]}, args={"llm": llm})
    assert not step.cache_hit
    assert server.requests == 12
    assert step.output["generations"][3] == "echo: changed 3"


def test_generation_kwargs_are_forwarded_and_fingerprinted(workspace, server, llm):  # noqa: F811
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import Prompt

    src = source(q=["hi"])
    a = Prompt("p", inputs={"prompts": src.output["q"]}, args={"llm": llm, "max_new_tokens": 7})
    assert server.bodies[-1]["max_completion_tokens"] == 7
    b = Prompt("p", inputs={"prompts": src.output["q"]}, args={"llm": llm, "max_new_tokens": 8})
    assert a.fingerprint != b.fingerprint
    c = Prompt(
        "p",
        inputs={"prompts": src.output["q"]},
        args={"llm": llm, "n": 2, "temperature": 1.0, "top_p": 1.0},
    )
    assert c.output["generations"][0] == ["echo: hi", "echo: hi #1"]
    with pytest.raises(StepInputError, match="unknown argument.*max_tokens"):
        Prompt("p", inputs={"prompts": src.output["q"]}, args={"llm": llm, "max_tokens": 5})


def test_template_variable_without_column_fails_before_any_call(workspace, server, llm):  # noqa: F811
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import ProcessWithPrompt, Prompt

    src = source(text=["a"], topic=["b"])
    with pytest.raises(StepInputError) as e:
        ProcessWithPrompt(
            "x",
            inputs={"inputs": src.output["text"]},
            args={"llm": llm, "instruction": "About {topik}: rewrite"},
        )
    assert "{topik}" in str(e.value) and "['text', 'topic']" in str(e.value)
    with pytest.raises(StepInputError, match="Available columns"):
        Prompt(
            "x",
            inputs={"prompts": src.output["text"]},
            args={"llm": llm, "template": "{nope} {prompts}"},
        )
    assert server.requests == 0


def test_process_with_prompt_labels_and_column_placeholders(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import ProcessWithPrompt

    src = source(text=["the cat sat", "a dog ran"], lang=["French", "German"])
    step = ProcessWithPrompt(
        "translate",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Translate into {lang}. Keep {{braces}}."},
    )
    assert step.output.column_names == ["inputs", "prompts", "generations"]
    p = step.output["prompts"][1]
    assert p == "Input: a dog ran\n\nInstruction: Translate into German. Keep {braces}."
    assert step.output["generations"][1] == "echo: " + p
    assert "Translate into {lang}. Keep {{braces}}." in step.record["card"]["Prompt"]


def test_data_from_prompt_sends_n_distinct_requests(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import DataFromPrompt

    step = DataFromPrompt("gen", args={"llm": llm, "instruction": "Write a tweet.", "n": 5})
    assert step.output.num_rows == 5 and server.requests == 5
    assert set(step.output["prompts"].to_list()) == {"Write a tweet."}
    seeds = {b["seed"] for b in server.bodies}
    assert len(seeds) == 5
    assert server.bodies[0]["temperature"] == 1.0 and server.bodies[0]["top_p"] == 1.0
    more = DataFromPrompt("gen", args={"llm": llm, "instruction": "Write a tweet.", "n": 7})
    assert more.output.num_rows == 7 and server.requests == 7  # first 5 from the cache


def test_data_from_attributed_prompt(workspace, server, llm):  # noqa: F811
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import DataFromAttributedPrompt

    step = DataFromAttributedPrompt(
        "attr",
        args={
            "llm": llm,
            "instruction": "Write a {tone} review of a {thing}.",
            "attributes": {"tone": ["happy", "sad"], "thing": ["book", "movie"]},
            "n": 6,
        },
    )
    prompts = step.output["prompts"].to_list()
    assert prompts[:4] == [
        "Write a happy review of a book.",
        "Write a happy review of a movie.",
        "Write a sad review of a book.",
        "Write a sad review of a movie.",
    ]
    assert prompts[4] == prompts[0]
    assert step.output["attributes"][5] == {"tone": "happy", "thing": "movie"}
    assert server.requests == 6  # repeated prompts are distinct requests (own seeds)
    assert any("arXiv:2306.15895" in c for c in step.record["card"]["Citation Information"])
    with pytest.raises(StepInputError, match="placeholders"):
        DataFromAttributedPrompt(
            "bad",
            args={
                "llm": llm,
                "instruction": "A {tone} {thing}",
                "attributes": [{"tone": "x"}],
                "n": 1,
            },
        )


def test_filter_with_prompt_keeps_all_columns(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import FilterWithPrompt

    server.responder = lambda prompt, i: "Yes." if "keep" in prompt else "No."
    src = source(text=["keep me", "drop me", "keep too"], id=[1, 2, 3])
    step = FilterWithPrompt(
        "filter",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Keep it?"},
    )
    assert step.output.column_names == ["text", "id"]
    assert step.output["id"].to_list() == [1, 3]
    custom = FilterWithPrompt(
        "filter",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Keep it?", "filter_func": lambda g: g.startswith("No")},
    )
    assert custom.output["id"].to_list() == [2]


def test_rank_with_prompt_sorts_and_thresholds(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import RankWithPrompt

    scores = {"alpha": "Score: 3", "beta": "I give it 9.5", "gamma": "7", "delta": "none"}
    server.responder = lambda prompt, i: next(v for k, v in scores.items() if k in prompt)
    src = source(text=list(scores), n=[1, 2, 3, 4])
    step = RankWithPrompt(
        "rank",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Rate 1-10."},
    )
    assert step.output["text"].to_list() == ["beta", "gamma", "alpha", "delta"]
    assert step.output["scores"].to_list() == [9.5, 7, 3, None]
    kept = RankWithPrompt(
        "rank",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Rate 1-10.", "score_threshold": 5},
    )
    assert kept.output["n"].to_list() == [2, 3]


def test_few_shot_prompt(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import FewShotPrompt

    ex = source(i=["2+2", "3+3", "4+4"], o=["4", "6", "8"])
    qs = source(q=["5+5", "6+6"])
    step = FewShotPrompt(
        "fewshot",
        inputs={
            "input_examples": ex.output["i"],
            "output_examples": ex.output["o"],
            "inputs": qs.output["q"],
        },
        args={"llm": llm, "instruction": "Add.", "max_in_context_examples": 2},
    )
    assert step.output["prompts"][0] == (
        "Add.\n\nInput: 2+2\nOutput: 4\nInput: 3+3\nOutput: 6\nInput: 5+5\nOutput:"
    )
    assert step.output["inputs"].to_list() == ["5+5", "6+6"]


def test_judge_pairs_randomizes_order_and_maps_back(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import JudgeGenerationPairsWithPrompt, JudgePairsWithPrompt

    # The judge always prefers the text "good": check that swaps are undone.
    def judge(prompt, i):
        word = "Response" if "Response A:" in prompt else "Input"
        a_part = prompt.split(f"{word} A:")[1].split(f"{word} B:")[0]
        return f"{word} A" if "good" in a_part else f"{word} B"

    server.responder = judge
    src = source(
        p=[f"q{i}" for i in range(8)], a=["good"] * 4 + ["bad"] * 4, b=["bad"] * 4 + ["good"] * 4
    )
    step = JudgeGenerationPairsWithPrompt(
        "judge",
        inputs={"prompts": src.output["p"], "a": src.output["a"], "b": src.output["b"]},
        args={"llm": llm},
    )
    assert step.output.column_names == [
        "prompts",
        "a",
        "b",
        "judge_prompts",
        "judge_generations",
        "judgements",
    ]
    assert step.output["judgements"].to_list() == ["Response A"] * 4 + ["Response B"] * 4
    judge_prompts = step.output["judge_prompts"].to_list()
    assert any(p.index("bad") < p.index("good") for p in judge_prompts[:4])  # some swapped
    assert judge_prompts[0].startswith("Prompt: q0\n\nResponse A:")
    assert "Respond with 'Response A' or 'Response B'." in judge_prompts[0]
    pairs = JudgePairsWithPrompt(
        "pairs",
        inputs={"a": src.output["a"], "b": src.output["b"]},
        args={"llm": llm, "randomize_order": False},
    )
    # DataDreamer's labels for plain pairs are "Input A" / "Input B".
    assert pairs.output["judgements"].to_list() == ["Input A"] * 4 + ["Input B"] * 4
    assert "prompts" not in pairs.output.column_names


def test_dry_run_renders_and_estimates_cost_without_calls(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import ProcessWithPrompt, dry_run

    src = source(text=[f"document number {i} " * 20 for i in range(50)])
    report = dry_run(
        ProcessWithPrompt,
        "summarize",
        inputs={"inputs": src.output["text"]},
        args={"llm": llm, "instruction": "Summarize.", "max_new_tokens": 100},
    )
    assert server.requests == 0
    assert report.num_prompts == 50 and report.num_cached == 0
    assert report.first_prompts[0].startswith("Input: document number 0")
    assert report.completion_tokens == 5000
    assert report.cost == pytest.approx(
        (report.prompt_tokens * 0.15 + report.completion_tokens * 0.60) / 1e6
    )
    assert "$" in str(report)


def test_steps_with_local_model_and_default_arguments(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.steps import ProcessWithPrompt

    src = source(text=["the cat", "a dog"])
    args = {"instruction": "Summarize.", "max_new_tokens": 4, "temperature": 0}
    a = ProcessWithPrompt(
        "s",
        inputs={"inputs": src.output["text"]},
        args={"llm": HFTransformers(str(tiny_llama)), **args},
    )
    b = ProcessWithPrompt(
        "s",
        inputs={"inputs": src.output["text"]},
        args={"llm": HFTransformers(str(tiny_llama), system_prompt="x"), **args},
    )
    assert a.fingerprint != b.fingerprint  # the system prompt is part of the model identity
    assert a.output.num_rows == 2 and all(isinstance(g, str) for g in a.output["generations"])
    assert a.record["args"]["llm"].startswith("HFTransformers(")


def test_wrong_llm_argument(workspace):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import Prompt

    with pytest.raises(StepInputError, match="'llm' must be an LLM"):
        Prompt("x", inputs={"prompts": source(q=["a"]).output["q"]}, args={"llm": "gpt-4"})
