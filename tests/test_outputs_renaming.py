"""``outputs={...}`` renaming as DataDreamer has it, on every kind of step: any subset of
the registered outputs; an unknown name is a ``ValueError`` naming the outputs the step
defines, raised before anything runs; steps whose output is the input step's columns
(``FilterWithPrompt``, ``RankWithPrompt``: DataDreamer's ``*columns``) rename any of those
columns. A rename is part of the step's address, so a renamed step never reuses the
unrenamed step's stored result."""

from __future__ import annotations

import pytest
from openai_fixtures import llm, server, source  # noqa: F401 - shared fixtures


def test_prompt_step_renames_a_subset_of_its_outputs(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import ProcessWithPrompt

    src = source(text=["a", "b"])
    kw = {"inputs": {"inputs": src.output["text"]}, "args": {"llm": llm, "instruction": "Go."}}
    plain = ProcessWithPrompt("p", **kw)
    renamed = ProcessWithPrompt("p", outputs={"generations": "answer"}, **kw)
    assert renamed.output.column_names == ["inputs", "prompts", "answer"]
    assert renamed.output["answer"].to_list() == plain.output["generations"].to_list()
    assert renamed.fingerprint != plain.fingerprint and not renamed.cache_hit
    assert server.requests == 2  # the generations themselves came from the request cache
    again = ProcessWithPrompt("p", outputs={"generations": "answer"}, **kw)
    assert again.cache_hit and again.output.column_names == renamed.output.column_names


def test_unknown_output_is_datadreamers_value_error_before_any_request(workspace, server, llm):  # noqa: F811
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.steps import ProcessWithPrompt

    src = source(text=["a"])
    kw = {"inputs": {"inputs": src.output["text"]}, "args": {"llm": llm, "instruction": "Go."}}
    with pytest.raises(ValueError) as e:
        ProcessWithPrompt("p", outputs={"answers": "x"}, **kw)
    assert isinstance(e.value, StepInputError)
    assert (
        "ProcessWithPrompt only defines ['inputs', 'prompts', 'generations'] as outputs, "
        "got ['answers']" in str(e.value)
    )
    with pytest.raises(ValueError, match="two columns the name"):
        ProcessWithPrompt("p", outputs={"prompts": "inputs"}, **kw)
    with pytest.raises(ValueError, match="non-name values"):
        ProcessWithPrompt("p", outputs={"prompts": 3}, **kw)
    assert server.requests == 0


def test_custom_step_renames_outputs(workspace):
    from dreamer_lab.steps import Step

    class Lengths(Step):
        def setup(self):
            self.register_input("texts")
            self.register_output("texts")
            self.register_output("lengths")

        def run(self):
            texts = self.inputs["texts"].to_list()
            return {"texts": texts, "lengths": [len(t) for t in texts]}

    src = source(text=["ab", "abc"])
    step = Lengths("len", inputs={"texts": src.output["text"]}, outputs={"lengths": "n"})
    assert step.output.column_names == ["texts", "n"]
    assert step.output["n"].to_list() == [2, 3]
    with pytest.raises(ValueError, match=r"Lengths only defines \['texts', 'lengths'\]"):
        Lengths("len", inputs={"texts": src.output["text"]}, outputs={"length": "n"})


def test_filter_and_rank_rename_any_column_of_their_input_step(workspace, server, llm):  # noqa: F811
    from dreamer_lab.steps import FilterWithPrompt, RankWithPrompt

    server.responder = lambda prompt, i: "yes 5" if "keep" in prompt else "no 1"
    src = source(text=["keep a", "drop b"], n=[1, 2])
    kw = {"inputs": {"inputs": src.output["text"]}, "args": {"llm": llm, "instruction": "Ok?"}}
    plain = FilterWithPrompt("f", **kw)
    kept = FilterWithPrompt("f", outputs={"n": "id"}, **kw)
    assert kept.output.column_names == ["text", "id"] and kept.output["id"].to_list() == [1]
    assert kept.fingerprint != plain.fingerprint
    ranked = RankWithPrompt("r", outputs={"scores": "score", "text": "t"}, **kw)
    assert ranked.output.column_names == ["t", "n", "score"]
    assert ranked.output["score"].to_list() == [5, 1]
    before = server.requests
    with pytest.raises(ValueError, match=r"RankWithPrompt only defines \['scores', 'text', 'n'\]"):
        RankWithPrompt("r", outputs={"label": "x"}, **kw)
    assert server.requests == before
