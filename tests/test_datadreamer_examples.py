"""DataDreamer's documented workflows (examples/datadreamer/) run, and rerun from the cache.

Each example script runs in-process twice in one workspace: the first run checks what a user
relies on (columns, row counts, a trained model that loads and predicts); the second run must
load every step and trainer from the workspace and send no request to the model server.
The guides' GPT-4 is played by the local OpenAI-compatible test server (with the real
``openai`` client); models to train are tiny random ones built here; datasets are the scripts'
bundled samples, loaded through ``HFHubDataSource`` like the guides' Hub datasets; publishing
goes to the local fake of the Hub's API (tests/hub_server.py).
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_finetune_server import API_KEY, FakeFineTuneServer
from trainer_fixtures import minilm, tiny_llama  # noqa: F401

from tests.hub_server import FakeHub

HUB_TOKEN = f"hf_{secrets.token_hex(16)}"  # made at run time: no token-shaped text committed

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "datadreamer"
SPORTS = ("football", "tennis", "cycling", "rowing", "hockey", "cricket")


def _reply(prompt: str, i: int) -> str:
    """What the stand-in for GPT-4 answers: lists for list prompts, yes/no for yes/no
    prompts, a short text naming a few words of the prompt otherwise."""
    if "separated by commas" in prompt:
        kind = re.search(r"List (?:the )?(?:\d+ )?(\w+)", prompt).group(1)
        return ", ".join(f"{kind} {n}" for n in range(1, 6))
    if "Answer 'Yes' or 'No'" in prompt:
        return "Yes." if any(s in prompt for s in SPORTS) else "No."
    words = re.findall(r"[A-Za-z]+", prompt.splitlines()[-1] if prompt.strip() else prompt)
    return "Reply about " + " ".join(words[-4:]) + (f" (take {i})" if i else "")


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """One server for the module: it plays GPT-4 and OpenAI's fine-tuning API."""
    with FakeFineTuneServer(phases=(0.02, 0.02, 0.05), models=("gpt-4",), idle_timeout=600) as srv:
        srv.responder = _reply
        yield srv


@pytest.fixture
def hub(monkeypatch) -> Iterator[Any]:
    """The local fake of the Hub's publishing API, with huggingface_hub pointed at it."""
    from huggingface_hub import constants

    with FakeHub(tokens=(HUB_TOKEN,)) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        monkeypatch.setattr(constants, "ENDPOINT", fake.endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield fake


def _gpt4(srv: Any) -> Any:
    from dreamer_lab.llms import OpenAI

    return OpenAI(model_name="gpt-4", base_url=srv.base_url, api_key=API_KEY)


def _script(name: str) -> Any:
    """The example script ``name`` as a module (its folder on ``sys.path`` for ``_offline``)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(
        f"datadreamer_example_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _leaves(result: Any) -> Iterator[Any]:
    """Every step and trainer in a script's (nested) result."""
    if isinstance(result, dict):
        for value in result.values():
            yield from _leaves(value)
    else:
        yield result


def _run_twice(name: str, workspace: Path, srv: Any | None, **kw: Any) -> tuple[Any, Any]:
    """Run the script, then again from scratch in the same workspace; check the rerun loads
    everything from the cache without a model request. Returns both results."""
    main = _script(name).main
    llm = {"llm": _gpt4(srv)} if srv is not None and "llm" in main.__code__.co_varnames else {}
    first = main(str(workspace), **llm, **kw)
    cached = [x.name for x in _leaves(first) if x.cache_hit is not False]
    assert cached == [], f"a fresh workspace had these already: {cached}"
    requests = srv.requests if srv is not None else None
    llm = {"llm": _gpt4(srv)} if llm else {}
    second = main(str(workspace), **llm, **kw)
    stale = [x.name for x in _leaves(second) if x.cache_hit is not True]
    assert stale == [], f"recomputed on the rerun: {stale}"
    if srv is not None:
        assert srv.requests == requests
    return first, second


def _rows(step: Any) -> list[dict[str, Any]]:
    return step.output.dataset.to_list()


def _generate(model_path: Path, prompt: str) -> str:
    """Greedy text from a trained model folder (an adapter loads with its base model)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    return tok.decode(out[0, ids.shape[1] :])


def test_abstract_to_tweet(tmp_path, server, hub, tiny_llama):  # noqa: F811
    publish = {"dataset_repo": "me/abstracts_and_tweets", "model_repo": "me/abstract_to_tweet",
               "hub_token": HUB_TOKEN}  # fmt: skip
    first, second = _run_twice("abstract_to_tweet", tmp_path / "ws", server, n=4,
                               model_name=str(tiny_llama), **publish)  # fmt: skip
    pairs = _rows(first["pairs"])
    assert len(pairs) == 4 and set(first["pairs"].output.column_names) >= {"abstracts", "tweets"}
    assert all(r["abstracts"].startswith("Reply about") for r in pairs)
    assert len(_rows(first["train"])) == 3 and len(_rows(first["validation"])) == 1
    trainer = first["trainer"]
    assert trainer.is_adapter and (trainer.model_path / "adapter_config.json").is_file()
    assert second["trainer"].model_path == trainer.model_path
    _generate(trainer.model_path, "the story")
    # Both were published once: the rerun found the same files on the Hub and committed none.
    data = hub.files("me/abstracts_and_tweets")
    assert sorted(p for p in data if p.startswith("data/")) == [
        "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"]  # fmt: skip
    assert "## Lineage" in data["README.md"].decode()
    model = hub.files("me/abstract_to_tweet", "model")
    # adapter_only=False (DataDreamer's default) publishes the adapter merged into its base.
    assert {"config.json", "model.safetensors", "README.md"} <= set(model)
    assert "adapter_config.json" not in model
    # The rerun uploaded no data again (its cards differ: see the test below).
    assert [len(c["ops"]) > 1 for c in hub.commits[:2]] == [True, True]
    assert all(kind != "lfsFile" for c in hub.commits[2:] for kind, _ in c["ops"])


def test_attributed_prompts(tmp_path, server):
    first, second = _run_twice("attributed_prompts", tmp_path / "ws", server, n=6)
    attrs = _rows(first["generated"])
    assert len(attrs) == 6 and {"attributes", "prompts", "reviews"} <= set(attrs[0])
    # The attribute values came from the model's comma-separated lists, one per prompt.
    for row in attrs:
        assert row["attributes"]["movie_name"].startswith("titles ")
        assert row["attributes"]["movie_element"].startswith("aspects ")
        assert row["attributes"]["review_style"].startswith("adjectives ")
        assert row["attributes"]["movie_name"] in row["prompts"]
    reviews = first["reviews"]
    assert reviews.output.column_names == ["reviews"] and len(reviews.output) == 6
    assert sorted(_rows(reviews), key=str) == sorted(
        [{"reviews": r["reviews"]} for r in attrs], key=str
    )
    assert _rows(second["reviews"]) == _rows(reviews)


def test_attribute_values_read_comma_and_numbered_lists():
    values = _script("attributed_prompts").attribute_values
    assert values("drama, comedy ,, horror") == ["drama", "comedy", "horror"]
    numbered = 'Here are 3 films:\n\n1. "Up" (2009)\n2. **Heat**\n3. "Up" (2009)\n4'
    assert values(numbered) == ["Up (2009)", "Heat"]


def test_publishing_again_after_a_rerun_commits_nothing(tmp_path, server, hub):
    args = {"n": 3, "hub_repo": "me/movie_reviews", "hub_token": HUB_TOKEN}
    _run_twice("attributed_prompts", tmp_path / "ws", server, **args)
    assert len(hub.commits) == 1


def test_instruction_tuning(tmp_path, tiny_llama):  # noqa: F811
    first, _ = _run_twice("instruction_tuning", tmp_path / "ws", None, rows=8,
                          model_name=str(tiny_llama))  # fmt: skip
    rows = _rows(first["formatted"])
    assert len(rows) == 8 and set(rows[0]) == {"instruction", "output"}
    assert rows[0]["instruction"].startswith("Input: rivers\n\n")  # the input folded in
    assert not rows[1]["instruction"].startswith("Input:")
    trainer = first["trainer"]
    assert trainer.is_adapter
    assert trainer.record["hyperparams"]["gradient_accumulation_steps"] == 2
    _generate(trainer.model_path, "### Instruction:\nName one fact.\n\n### Response:\n")


def test_aligning(tmp_path, tiny_llama):  # noqa: F811
    first, _ = _run_twice("aligning", tmp_path / "ws", None, rows=8, model_name=str(tiny_llama))
    assert len(_rows(first["train"])) == 6 and len(_rows(first["validation"])) == 2
    trainer = first["trainer"]
    assert trainer.is_adapter and (trainer.model_path / "adapter_config.json").is_file()
    assert "eval_rewards/accuracies" in trainer.metrics
    _generate(trainer.model_path, "what is the sky")


def test_self_rewarding(tmp_path, tiny_llama):  # noqa: F811
    first, _ = _run_twice("self_rewarding", tmp_path / "ws", None, rows=4, rounds=2,
                          max_new_tokens=4, model_name=str(tiny_llama))  # fmt: skip
    assert first["prompts"].output.column_names == ["question"]
    seen = []
    for r in (1, 2):
        step = first[f"round {r}"]
        questions = step["prompts"].output["question"].to_list()
        assert len(questions) == 2
        seen += questions
        pairs = _rows(step["pairs"])
        judged = _rows(step["judgements"])
        for pair, j in zip(pairs, judged, strict=True):
            assert {pair["chosen"], pair["rejected"]} == {j["a"], j["b"]}
        assert step["trainer"].is_adapter
    assert len(set(seen)) == 4  # the rounds use disjoint shards
    # Round 2 sampled and judged with round 1's adapter: it is their lineage parent.
    r1, r2 = first["round 1"], first["round 2"]
    for name in ("candidate_0", "candidate_1", "judgements"):
        assert r1["trainer"].fingerprint in r2[name].record["parents"]
        assert r1["trainer"].fingerprint not in r1[name].record["parents"]
    _generate(r2["trainer"].model_path, "what is the sky")


def test_bootstrapping(tmp_path, server, minilm):  # noqa: F811
    first, _ = _run_twice("bootstrapping", tmp_path / "ws", server, rows=8, rounds=2,
                          embedder_name=str(minilm))  # fmt: skip
    for r in (1, 2):
        step = first[f"round {r}"]
        assert len(step["pairs"].output) == 4
        ranked = step["ranked"].output["similarities"].to_list()
        assert ranked == sorted(ranked, reverse=True)
        assert _rows(step["best"]) == _rows(step["ranked"])[:2]
    translated = first["translated"]
    assert translated.output.column_names == ["english", "tamil"]
    assert len(translated.output) == 6
    # Round 2 prompts show round 1's best pairs; the test-set prompts show round 2's.
    best = {r: first[f"round {r}"]["best"].output["english"].to_list() for r in (1, 2)}
    few_shot = [p for p in server.prompts if "\nTamil:" in p]
    test_prompts = [p for p in few_shot if "A short note on" in p.splitlines()[-2]]
    assert len(few_shot) == 4 + 6 and len(test_prompts) == 6
    for prompt in few_shot:
        shown = best[2] if prompt in test_prompts else best[1]
        assert all(f"English: {sentence}" in prompt for sentence in shown)


def test_openai_distillation(tmp_path, server):
    first, _ = _run_twice("openai_distillation", tmp_path / "ws", server, rows=12,
                          base_url=server.base_url, api_key=API_KEY,
                          poll_interval=0.02)  # fmt: skip
    answers = _rows(first["answers"])
    assert len(answers) == 12 and {"questions", "answers"} <= set(answers[0])
    trainer = first["trainer"]
    assert trainer.fine_tuned_model.startswith("ft:gpt-3.5-turbo")
    job = server.jobs[trainer.job_id]
    lines = server.files[job["training_file"]].decode().splitlines()
    assert len(lines) == 10
    assert server.job_creates == 1  # the rerun loaded the fine-tuned model, no second job


def test_dataset_augmentation(tmp_path, server):
    first, _ = _run_twice("dataset_augmentation", tmp_path / "ws", server, rows=6)
    rows = _rows(first["augmented"])
    assert first["augmented"].output.column_names == ["questions", "decompositions"]
    assert len(rows) == 6 and rows[0]["questions"].startswith("Which is older")


def test_dataset_cleaning(tmp_path, server):
    first, _ = _run_twice("dataset_cleaning", tmp_path / "ws", server, rows=8)
    kept = first["sports"].output["article"].to_list()
    assert len(first["subset"].output) == 8
    assert kept and len(kept) == 4  # the sample alternates sports and other news
    assert all(any(s in a for s in SPORTS) for a in kept)
