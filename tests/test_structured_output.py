"""Structured output (``response_format``): the OpenAI backend with the real client against
the local server (which honours JSON schemas like the real API), constrained decoding of
local HFTransformers models (xgrammar), and validation-only support for backends that
cannot constrain decoding."""

from __future__ import annotations

import json

import pytest
from openai_server import API_KEY, FakeOpenAIServer
from tiny_models import build_tiny_llama

PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 0},
                "mood": {"type": "string", "enum": ["happy", "sad"]},
            },
            "required": ["name", "age", "mood"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def server():
    with FakeOpenAIServer(idle_timeout=60) as srv:
        yield srv


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


def make_llm(server, **kw):
    from dreamer_lab.llms import OpenAI

    return OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY, backoff_base=0.01, **kw)


def test_json_schema_is_sent_and_outputs_are_validated_json(workspace, server):
    llm = make_llm(server)
    out = llm.run(["Ann", "Bob"], response_format=PERSON, verbose=False)
    assert server.bodies[0]["response_format"] == PERSON
    assert [json.loads(o) for o in out] == [
        {"name": "Ann", "age": 0, "mood": "happy"},
        {"name": "Bob", "age": 0, "mood": "happy"},
    ]
    # Cached per schema: the same call sends nothing, another schema is a new request.
    assert llm.run(["Ann", "Bob"], response_format=PERSON, verbose=False) == out
    assert server.requests == 2
    plain = llm.run(["Ann"], verbose=False)
    assert plain == ["echo: Ann"] and server.requests == 3


def test_invalid_schemas_fail_before_any_request(workspace, server):
    from dreamer_lab.errors import StepInputError

    llm = make_llm(server)
    bad_type = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}
    with pytest.raises(StepInputError, match="not a valid JSON Schema at type"):
        llm.run(["a"], response_format=bad_type, verbose=False)
    no_name = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    with pytest.raises(StepInputError, match="'name' must be"):
        llm.run(["a"], response_format=no_name, verbose=False)
    with pytest.raises(StepInputError, match="unknown response_format type 'yaml'"):
        llm.run(["a"], response_format={"type": "yaml"}, verbose=False)
    assert server.requests == 0


def test_server_rejections_are_clear_errors(workspace, server):
    from dreamer_lab.llms import LLMError

    llm = make_llm(server)
    open_schema = json.loads(json.dumps(PERSON))
    del open_schema["json_schema"]["schema"]["additionalProperties"]
    with pytest.raises(LLMError, match="rejected \\(400\\).*'additionalProperties' is required"):
        llm.run(["a"], response_format=open_schema, verbose=False)
    # JSON mode needs the word "json" in the messages (like the real API).
    with pytest.raises(LLMError, match="must contain the word 'json'"):
        llm.run(["Describe Ann."], response_format={"type": "json_object"}, verbose=False)
    out = llm.run(["Describe Ann as JSON."], response_format={"type": "json_object"}, verbose=False)
    assert json.loads(out[0]) == {"echo": "Describe Ann as JSON."}


def test_cut_off_and_refused_rows_are_reported_per_row_and_kept(workspace, server):
    from dreamer_lab.llms.structured import StructuredOutputError

    llm = make_llm(server, max_concurrency=1)
    server.inject_for_prompt("Carl", "refusal")
    with pytest.raises(StructuredOutputError) as e:
        llm.run(["Ann", "Carl"], response_format=PERSON, verbose=False)
    assert e.value.errors[0] is None
    assert "row 1: not valid JSON" in str(e.value) and "I'm sorry" in str(e.value)
    assert json.loads(e.value.generations[0])["name"] == "Ann"
    # Cut at max_new_tokens: the error says so; all generations are cached (no resend).
    with pytest.raises(StructuredOutputError, match="row 0: not valid JSON \\(it looks cut off"):
        llm.run(["Ann"], response_format=PERSON, max_new_tokens=2, verbose=False)
    before = server.requests
    with pytest.raises(StructuredOutputError):
        llm.run(["Ann"], response_format=PERSON, max_new_tokens=2, verbose=False)
    assert server.requests == before


def test_schema_mismatch_is_reported_with_its_path(workspace, server):
    from dreamer_lab.llms.structured import StructuredOutputError

    llm = make_llm(server)
    # A server that ignores response_format (some compatible servers do).
    server.json_responder = lambda prompt, schema, i: {"name": prompt, "age": -3, "mood": "ok"}
    with pytest.raises(
        StructuredOutputError, match="row 0: does not match the schema at (age|mood)"
    ):
        llm.run(["Ann"], response_format=PERSON, verbose=False)


def test_prompt_step_with_openai_schema(workspace, server):
    from dreamer_lab.steps import DataSource, ProcessWithPrompt

    src = DataSource("names", {"name": ["Ann", "Bob"]})
    step = ProcessWithPrompt(
        "people",
        inputs={"inputs": src.output["name"]},
        args={"llm": make_llm(server), "instruction": "Describe.", "response_format": PERSON},
    )
    gens = [json.loads(g) for g in step.output["generations"]]
    assert [g["name"] for g in gens] == step.output["prompts"].to_list()
    card = step.record["card"]
    assert card["Structured Output"][0]["enforcement"].startswith("constrained decoding")
    assert card["Parameters"][0]["response_format"] == PERSON


# Only enums and booleans: even a random tiny model (near character-level tokens) finishes
# this JSON within 80 tokens.
REVIEW = {
    "type": "json_schema",
    "json_schema": {
        "name": "review",
        "schema": {
            "type": "object",
            "properties": {
                "mood": {"type": "string", "enum": ["happy", "sad", "angry"]},
                "stars": {"enum": [1, 2, 3, 4, 5]},
                "spam": {"type": "boolean"},
            },
            "required": ["mood", "stars", "spam"],
            "additionalProperties": False,
        },
    },
}


def test_local_model_decoding_is_constrained_to_the_schema(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.steps import DataSource, ProcessWithPrompt

    llm = HFTransformers(str(tiny_llama))
    # Unconstrained, the random model writes no JSON at all.
    free = llm.run(["the cat", "a dog"], max_new_tokens=24, temperature=0, verbose=False)
    assert not any(g.lstrip().startswith("{") for g in free)
    src = DataSource("names", {"name": ["the cat", "a dog", "an owl"]})
    args = {"llm": llm, "instruction": "Review:", "max_new_tokens": 80, "response_format": REVIEW}
    greedy = ProcessWithPrompt("p", inputs={"inputs": src.output["name"]}, args=args)
    sampled = ProcessWithPrompt(
        "s", inputs={"inputs": src.output["name"]}, args={**args, "temperature": 1.0, "n": 3}
    )
    rows = [json.loads(g) for g in greedy.output["generations"]]
    rows += [json.loads(c) for g in sampled.output["generations"] for c in g]
    assert len(rows) == 12
    for r in rows:
        assert set(r) == {"mood", "stars", "spam"}
        assert r["mood"] in ("happy", "sad", "angry") and r["stars"] in range(1, 6)
        assert isinstance(r["spam"], bool)
    enforcement = greedy.record["card"]["Structured Output"][0]["enforcement"]
    assert enforcement.startswith("constrained decoding")
    # The format is part of the request key: the same prompts without it are other requests.
    assert llm.run(["the cat", "a dog"], max_new_tokens=24, temperature=0, verbose=False) == free


def test_local_model_output_cut_short_is_reported(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.llms.structured import StructuredOutputError
    from dreamer_lab.steps import DataSource, ProcessWithPrompt

    llm = HFTransformers(str(tiny_llama))
    src = DataSource("names", {"name": ["the cat", "a dog"]})
    args = {"llm": llm, "instruction": "Review:", "max_new_tokens": 3, "response_format": REVIEW}
    with pytest.raises(StructuredOutputError) as e:
        ProcessWithPrompt("p", inputs={"inputs": src.output["name"]}, args=args)
    assert "2 of 2 generations do not match" in str(e.value)
    assert "cut off: raise max_new_tokens" in str(e.value)
    requests = llm.usage.requests
    # Keep going with the invalid rows as None; the generations come from the cache.
    step = ProcessWithPrompt(
        "p", inputs={"inputs": src.output["name"]}, args={**args, "on_invalid_output": "null"}
    )
    assert step.output["generations"].to_list() == [None, None]
    assert llm.usage.requests == requests
    assert [x["row"] for x in step.record["card"]["Structured Output Errors"]] == [0, 1]


def test_local_model_structured_output_bad_input(workspace, tiny_llama, monkeypatch):
    import importlib.util

    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    with pytest.raises(StepInputError, match="not beam search; drop num_beams"):
        llm.run(["a"], response_format=REVIEW, num_beams=2, verbose=False)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "xgrammar" else find_spec(n, *a)
    )
    with pytest.raises(StepInputError, match="pip install xgrammar"):
        llm.run(["a"], response_format=REVIEW, verbose=False)
    assert llm.usage.requests == 0 and llm._model is None  # refused before loading the model


def test_backend_without_constrained_decoding_is_validated(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.llms.structured import StructuredOutputError
    from dreamer_lab.steps import DataSource, ProcessWithPrompt

    class PlainBackend(HFTransformers):  # e.g. a user's own backend without grammars
        extra_generation_kwargs = frozenset({"do_sample"})

    llm = PlainBackend(str(tiny_llama))
    src = DataSource("names", {"name": ["the cat", "a dog"]})
    args = {"llm": llm, "instruction": "Answer in JSON.", "max_new_tokens": 4, "temperature": 0}
    # A random tiny model writes no JSON: every row is reported, nothing pretends.
    with pytest.raises(StructuredOutputError) as e:
        ProcessWithPrompt(
            "p", inputs={"inputs": src.output["name"]}, args={**args, "response_format": PERSON}
        )
    assert "2 of 2 generations do not match" in str(e.value)
    assert "cannot constrain decoding" in str(e.value) and "on_invalid_output='null'" in str(
        e.value
    )
    step = ProcessWithPrompt(
        "p",
        inputs={"inputs": src.output["name"]},
        args={**args, "response_format": PERSON, "on_invalid_output": "null"},
    )
    assert step.output["generations"].to_list() == [None, None]
    card = step.record["card"]
    assert card["Structured Output"][0]["enforcement"].startswith("validated after generation")
    from dreamer_lab.errors import StepInputError

    with pytest.raises(StepInputError, match="on_invalid_output must be"):
        ProcessWithPrompt(
            "p",
            inputs={"inputs": src.output["name"]},
            args={**args, "response_format": PERSON, "on_invalid_output": "skip"},
        )


@pytest.mark.slow
def test_embedded_smollm2_writes_json_that_matches_the_schema(workspace):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers("smollm2")
    people = ["Ann, who is 31 and happy", "Bob, 45, sad", "Carla, a cheerful 7-year-old"]
    out = llm.run(
        [f"Describe {p} as JSON with name, age and mood." for p in people],
        response_format=PERSON,
        max_new_tokens=40,
        temperature=0,
        verbose=False,
    )
    rows = [json.loads(g) for g in out]
    assert [r["name"] for r in rows] == ["Ann", "Bob", "Carla"]
    assert all(r["mood"] in ("happy", "sad") and r["age"] >= 0 for r in rows)


def test_fake_server_samples_match_their_schema():
    from openai_server import sample_for_schema

    from dreamer_lab.llms.structured import validate_text

    nested = {
        "type": "json_schema",
        "json_schema": {
            "name": "list",
            "schema": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2},
                    "score": {"anyOf": [{"type": "number", "minimum": 1}, {"type": "null"}]},
                },
                "$defs": {"item": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
            },
        },
    }
    for rf in (PERSON, nested):
        for i in range(3):
            value = sample_for_schema("p", rf["json_schema"]["schema"], i)
            assert validate_text(json.dumps(value), rf) is None


def test_parallel_local_models_constrain_and_validate(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers, ParallelLLM

    llm = ParallelLLM(HFTransformers(str(tiny_llama)), HFTransformers(str(tiny_llama)))
    prompts = ["the cat", "a dog", "an owl", "a fox"]
    out = llm.run(prompts, response_format=REVIEW, max_new_tokens=80, verbose=False)
    assert all(json.loads(g)["mood"] in ("happy", "sad", "angry") for g in out)
    from dreamer_lab.llms.structured import StructuredOutputError

    with pytest.raises(StructuredOutputError, match="4 of 4 generations"):
        llm.run(prompts, response_format=REVIEW, max_new_tokens=3, verbose=False)
