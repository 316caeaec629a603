"""``VLLM`` on CPU up to the engine: argument mapping to ``vllm.LLM`` / ``SamplingParams``,
batching, cache keys, resume, and the errors raised before any model load.

vLLM has no CPU wheel on the package index and its engine needs an NVIDIA GPU, so it
cannot be installed here. Only the engine object itself is faked: a ``vllm`` module in
``sys.modules`` whose ``LLM`` records its arguments and generates with the real tiny
model through transformers (greedy, from the token ids it is given), and whose
``SamplingParams`` records its arguments. Everything else (model resolution, chat
template, tokenization, request cache, steps) is the real code. The real engine is
checked on a GPU machine with ``bench/bench_vllm.py``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from tiny_models import build_tiny_llama

PROMPTS = ["the cat", "a dog is happy and the sea is water", "write a review", "yes", "x"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_vllm") / "model")


class FakeEngine:
    """Stands in for ``vllm.LLM``: records its arguments and every ``generate`` call."""

    instances: list[FakeEngine] = []
    fail_on_call: int | None = None  # raise on this generate() call (1-based)

    def __init__(self, **kwargs: Any):
        import os

        from transformers import AutoModelForCausalLM

        self.kwargs = kwargs
        self.env_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.model = AutoModelForCausalLM.from_pretrained(kwargs["model"])
        self.calls: list[tuple[list[dict[str, Any]], list[Any]]] = []
        FakeEngine.instances.append(self)

    def generate(self, prompts, sampling_params, use_tqdm=True):
        import torch
        from transformers import AutoTokenizer

        self.calls.append((prompts, sampling_params))
        if FakeEngine.fail_on_call == len(self.calls):
            raise RuntimeError("engine died")
        tok = AutoTokenizer.from_pretrained(self.kwargs["tokenizer"])
        outs = []
        for p, sp in zip(prompts, sampling_params, strict=True):
            ids = torch.tensor([p["prompt_token_ids"]])
            choices = []
            for i in range(sp.n):
                if sp.temperature > 0:
                    torch.manual_seed(sp.seed + i)
                g = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=sp.max_tokens or 8,
                    do_sample=sp.temperature > 0,
                    pad_token_id=tok.pad_token_id,
                )[0, ids.shape[1] :].tolist()
                if tok.eos_token_id in g:
                    g = g[: g.index(tok.eos_token_id)]
                choices.append(types.SimpleNamespace(text=tok.decode(g), token_ids=g))
            outs.append(
                types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=choices)
            )
        return outs


class FakeSamplingParams:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.__dict__.update(kwargs)


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeEngine
    module.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeEngine.instances = []
    FakeEngine.fail_on_call = None
    return module


def test_greedy_generations_match_hf_transformers(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM, HFTransformers

    llm = VLLM(str(tiny_llama), device="cpu")
    out = llm.run(PROMPTS, max_new_tokens=6, temperature=0, verbose=False)
    ref = HFTransformers(str(tiny_llama)).run(
        PROMPTS, max_new_tokens=6, temperature=0, verbose=False
    )
    assert out == ref
    engine = FakeEngine.instances[0]
    prompts, sampling = engine.calls[0]
    assert len(engine.calls) == 1 and len(prompts) == len(PROMPTS)  # one batched call
    # Token ids of the chat-templated prompt, with no second BOS added by the tokenizer.
    first = llm.tokenizer(llm._full_prompt(PROMPTS[1]), add_special_tokens=False)["input_ids"]
    assert prompts[0]["prompt_token_ids"] == first  # longest prompt first
    assert sampling[0].kwargs == {
        "n": 1,
        "max_tokens": 6,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": None,
    }
    usage = llm.last_usage
    assert usage.requests == len(PROMPTS) and usage.prompt_tokens > 0 and usage.cost == 0


def test_engine_arguments(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM

    llm = VLLM(
        str(tiny_llama),
        device="cpu",
        dtype="bfloat16",
        quantization="fp8",
        swap_space=4,
        max_context_length=128,
        gpu_memory_utilization=0.5,
    )
    llm.run(["hello"], max_new_tokens=2, temperature=0, verbose=False)
    assert FakeEngine.instances[0].kwargs == {
        "model": str(tiny_llama.resolve()),
        "tokenizer": str(tiny_llama.resolve()),
        "revision": None,
        "tokenizer_revision": None,
        "trust_remote_code": False,
        "dtype": "bfloat16",
        "quantization": "fp8",
        "swap_space": 4,
        "tensor_parallel_size": 1,
        "max_model_len": 128,
        "gpu_memory_utilization": 0.5,
    }
    import torch

    assert VLLM(str(tiny_llama), dtype=torch.float16).engine_arguments()["dtype"] == "float16"
    assert VLLM(str(tiny_llama), device=[0, 1]).engine_arguments()["tensor_parallel_size"] == 2
    custom = VLLM(str(tiny_llama), device=[0, 1], tensor_parallel_size=1)
    assert custom.engine_arguments()["tensor_parallel_size"] == 1


def test_sampling_arguments_and_per_row_seeds(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM

    llm = VLLM(str(tiny_llama), device="cpu")
    out = llm.run(
        ["a", "b"],
        max_new_tokens=3,
        temperature=0.8,
        top_p=0.9,
        n=2,
        stop=["\n"],
        repetition_penalty=1.1,
        logit_bias={5: -100},
        top_k=20,
        min_p=0.05,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        min_new_tokens=1,
        seed=7,
        verbose=False,
    )
    assert len(out) == 2 and all(len(o) == 2 for o in out)
    _, sampling = FakeEngine.instances[0].calls[0]
    kw = dict(sampling[0].kwargs)
    seed = kw.pop("seed")
    assert isinstance(seed, int)
    assert kw == {
        "n": 2,
        "max_tokens": 3,
        "temperature": 0.8,
        "top_p": 0.9,
        "stop": ["\n"],
        "repetition_penalty": 1.1,
        "logit_bias": {5: -100.0},
        "top_k": 20,
        "min_p": 0.05,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "min_tokens": 1,
    }
    # Every row has its own seed, derived from the run seed: reproducible per row.
    assert sampling[0].seed != sampling[1].seed
    again = VLLM(str(tiny_llama), device="cpu").sampling_arguments(
        llm._params(3, 0.8, 0.9, 2, None, None, None, {}), [[7, None], "a"]
    )
    assert again["seed"] in {sampling[0].seed, sampling[1].seed}
    # Greedy with n > 1: one choice from the engine, repeated (like HFTransformers).
    greedy = llm.run(["c"], max_new_tokens=2, temperature=0, n=3, verbose=False)
    assert len(greedy[0]) == 3 and len(set(greedy[0])) == 1
    assert FakeEngine.instances[0].calls[-1][1][0].n == 1


def test_batches_commit_and_a_failed_engine_call_resumes(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM

    prompts = [f"the cat {i}" for i in range(10)]
    FakeEngine.fail_on_call = 3
    llm = VLLM(str(tiny_llama), device="cpu")
    with pytest.raises(RuntimeError, match="engine died"):
        llm.run(prompts, max_new_tokens=2, temperature=0, batch_size=4, verbose=False)
    engine = FakeEngine.instances[0]
    assert [len(c[0]) for c in engine.calls] == [4, 4, 2]
    FakeEngine.fail_on_call = None
    out = llm.run(prompts, max_new_tokens=2, temperature=0, batch_size=4, verbose=False)
    assert len(out) == 10
    # Only the two prompts of the failed call were generated again.
    assert [len(c[0]) for c in engine.calls] == [4, 4, 2, 2]
    assert llm.last_usage.cached == 8 and llm.last_usage.requests == 2
    calls = len(engine.calls)
    assert llm.run(prompts, max_new_tokens=2, temperature=0, batch_size=4, verbose=False) == out
    assert len(engine.calls) == calls  # a rerun is all cache hits


def test_default_batch_is_large(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM

    llm = VLLM(str(tiny_llama), device="cpu")
    llm.run([f"x {i}" for i in range(40)], max_new_tokens=1, temperature=0, verbose=False)
    assert [len(c[0]) for c in FakeEngine.instances[0].calls] == [40]


def test_cache_keys(workspace, tiny_llama):
    from dreamer_lab.llms import VLLM, HFTransformers

    base = VLLM(str(tiny_llama))
    fp = base.__dreamer_fingerprint__()
    # How the engine runs does not change what it generates: same identity.
    for same in (
        VLLM(str(tiny_llama), device=[0, 1]),
        VLLM(str(tiny_llama), swap_space=8, gpu_memory_utilization=0.5),
    ):
        assert same.__dreamer_fingerprint__() == fp
    for other in (
        VLLM(str(tiny_llama), quantization="fp8"),
        VLLM(str(tiny_llama), dtype="bfloat16"),
        VLLM(str(tiny_llama), system_prompt="Be brief."),
        HFTransformers(str(tiny_llama)),  # another engine: its own requests
    ):
        assert other.__dreamer_fingerprint__() != fp
    params = base._params(4, 0.0, 1.0, 1, None, None, None, {})
    keys = base.request_keys(["a", "b"], params)
    assert len(set(keys)) == 2
    longer = base._params(5, 0.0, 1.0, 1, None, None, None, {})
    assert base.request_keys(["a"], longer) != keys[:1]
    assert base.quantization is None
    assert VLLM("someone/Llama-2-7B-AWQ").quantization == "awq"  # as DataDreamer does


def test_clear_errors_before_any_model_load(workspace, tiny_llama, monkeypatch):
    from dreamer_lab.llms import VLLM, LLMError
    from dreamer_lab.llms.vllm import VLLMUnavailableError

    loaded = []
    monkeypatch.setattr(
        "transformers.AutoModelForCausalLM.from_pretrained",
        lambda *a, **k: loaded.append(a),
    )
    # No GPU here, and vllm is not installed (no CPU wheel).
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    llm = VLLM(str(tiny_llama), device=0)
    with pytest.raises(VLLMUnavailableError) as e:
        llm.run(["hi"], max_new_tokens=2, verbose=False)
    msg = str(e.value)
    assert "vLLM is not installed and no GPU is visible" in msg
    assert "OpenAI(MODEL, base_url='http://HOST:8000/v1'" in msg and "providers.md" in msg
    assert isinstance(e.value, LLMError)
    # A CPU build of vLLM skips the GPU check but still needs vLLM.
    with pytest.raises(VLLMUnavailableError, match="vLLM is not installed"):
        VLLM(str(tiny_llama), device="cpu").run(["hi"], max_new_tokens=2, verbose=False)
    assert loaded == []


def test_gpu_missing_with_vllm_installed(workspace, tiny_llama, fake_vllm):
    from dreamer_lab.llms import VLLM
    from dreamer_lab.llms.vllm import VLLMUnavailableError

    with pytest.raises(VLLMUnavailableError, match=r"^VLLM\(.*\): no GPU is visible"):
        VLLM(str(tiny_llama), device=[0, 1]).run(["hi"], max_new_tokens=2, verbose=False)
    assert FakeEngine.instances == []


def test_cached_requests_need_no_engine(workspace, tiny_llama, fake_vllm, monkeypatch):
    """A workspace made on a GPU machine reruns anywhere: hits need neither vLLM nor a GPU."""
    from dreamer_lab.llms import VLLM

    out = VLLM(str(tiny_llama), device="cpu").run(
        PROMPTS, max_new_tokens=3, temperature=0, verbose=False
    )
    monkeypatch.delitem(sys.modules, "vllm")
    FakeEngine.instances = []
    again = VLLM(str(tiny_llama), device=0).run(
        PROMPTS, max_new_tokens=3, temperature=0, verbose=False
    )
    assert again == out and FakeEngine.instances == []


def test_device_parsing_and_engine_environment():
    from dreamer_lab.errors import StepInputError
    from dreamer_lab.llms.vllm import VLLMUnavailableError, engine_environment, parse_vllm_devices

    assert parse_vllm_devices(None) == [0]
    assert parse_vllm_devices(1) == [1]
    assert parse_vllm_devices("cuda:2") == [2]
    assert parse_vllm_devices([0, "cuda:1"]) == [0, 1]
    assert parse_vllm_devices("cpu") is None
    for bad in ([], [0, 0], ["cpu", 0], "tpu", -1, [True]):
        with pytest.raises(StepInputError):
            parse_vllm_devices(bad)
    # The first GPUs need no environment; others are selected with CUDA_VISIBLE_DEVICES.
    assert engine_environment([0, 1], 4, False, None) == {}
    assert engine_environment([2, 3], 4, False, None) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert engine_environment([1], 2, False, "4,6") == {"CUDA_VISIBLE_DEVICES": "6"}
    with pytest.raises(VLLMUnavailableError, match="only 2 GPUs are visible"):
        engine_environment([0, 2], 2, False, None)
    with pytest.raises(VLLMUnavailableError, match="Restart the kernel"):
        engine_environment([1], 2, True, None)


def test_backend_imports_stay_lazy():
    import subprocess

    names = (
        "VLLM CTransformers Petals Together MistralAI HFAPIEndpoint OpenAIAssistant "
        "OpenAICompatible from_spec"
    )
    heavy = "torch transformers vllm openai huggingface_hub.inference httpx2 litellm datasets"
    code = (
        "import sys, dreamer_lab.llms as m, dreamer_lab.embedders as e; e.TogetherEmbedder; "
        f"[getattr(m, n) for n in {names.split()!r}]; "
        f"print([x for x in {heavy.split()!r} if x in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # The backends' modules import their client libraries only when a model is used.
    assert out.stdout.strip() == "[]"


def test_bench_refuses_without_a_gpu():
    import subprocess
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_vllm.py"
    done = subprocess.run([sys.executable, str(bench)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "refuses to run: no NVIDIA GPU is visible; vLLM is not installed" in done.stderr
    assert "nothing was loaded or measured" in done.stderr
