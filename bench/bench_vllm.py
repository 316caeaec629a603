"""VLLM against HFTransformers: generation tokens/s on one GPU machine, same model and prompts.

Arms (greedy decoding, the same prompts and ``max_new_tokens``, models loaded and warmed
up before timing, every run through a fresh request cache so nothing is a cache hit):

1. ``HFTransformers.run`` (sorted batches of ``--hf-batch-size``),
2. ``VLLM.run`` (chunks of ``--vllm-batch-size`` prompts, committed to the request cache),
3. the same ``vllm.LLM`` engine called directly with the same token ids and parameters
   (what ``VLLM`` adds on top of vLLM: rendering, tokenizing, caching).

Completion tokens are counted from the token ids each backend reports. The default model
is the embedded SmolLM2-135M-Instruct (converted to safetensors; no Hub download); pass
``--model`` (a local folder or a cached Hub name) for a bigger one, ``--devices 0,1`` for
tensor parallel.

It needs an NVIDIA GPU and ``pip install vllm``; without them it refuses before loading
anything (exit status 2). Run: ``python bench/bench_vllm.py [--prompts 512]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOPICS = ["a kettle", "the sea", "a library", "a robot", "winter", "a bicycle", "jazz", "bread"]


def refuse_without_gpu() -> None:
    """Exit with status 2 and a clear message unless vLLM and a GPU are here."""
    problems = []
    try:
        import torch

        if torch.cuda.device_count() == 0:
            problems.append("no NVIDIA GPU is visible")
    except ImportError:
        problems.append("torch is not installed")
    if importlib.util.find_spec("vllm") is None:
        problems.append("vLLM is not installed (pip install vllm; there is no CPU wheel)")
    if problems:
        print(
            "bench_vllm.py refuses to run: "
            + "; ".join(problems)
            + ". It compares the vLLM engine with HFTransformers on a GPU machine; nothing "
            "was loaded or measured. Without a GPU, see docs/providers.md (vLLM's "
            "OpenAI-compatible server through OpenAI(base_url=...)).",
            file=sys.stderr,
        )
        sys.exit(2)


def prompts_for(n: int) -> list[str]:
    return [
        f"Write a short paragraph about {TOPICS[i % len(TOPICS)]} (variation {i})."
        for i in range(n)
    ]


def timed_run(llm, prompts: list[str], max_new_tokens: int, batch_size: int) -> tuple[int, float]:
    """(completion tokens, seconds) of one uncached ``llm.run``."""
    t = time.perf_counter()
    llm.run(
        prompts,
        max_new_tokens=max_new_tokens,
        temperature=0,
        batch_size=batch_size,
        force=True,
        verbose=False,
    )
    return llm.last_usage.completion_tokens, time.perf_counter() - t


def plain_engine(vllm_llm, prompts: list[str], max_new_tokens: int) -> tuple[int, float]:
    """The same engine called directly: the same token ids and sampling parameters."""
    import vllm

    tok = vllm_llm.tokenizer
    special = not vllm_llm._uses_template()
    inputs = [
        {"prompt_token_ids": tok(vllm_llm._full_prompt(p), add_special_tokens=special)["input_ids"]}
        for p in prompts
    ]
    params = vllm.SamplingParams(n=1, max_tokens=max_new_tokens, temperature=0.0, top_p=1.0)
    t = time.perf_counter()
    outs = vllm_llm.model.generate(inputs, params, use_tqdm=False)
    seconds = time.perf_counter() - t
    return sum(len(o.outputs[0].token_ids) for o in outs), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="smollm2", help="local folder, cached Hub name, smollm2")
    ap.add_argument("--prompts", type=int, default=512)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--hf-batch-size", type=int, default=32)
    ap.add_argument("--vllm-batch-size", type=int, default=256)
    ap.add_argument("--devices", default="0", help="GPU indices for VLLM, e.g. 0,1")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.6)
    ap.add_argument("--repeats", type=int, default=2, help="best of N per arm")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    refuse_without_gpu()

    import torch

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import VLLM, HFTransformers

    prompts = prompts_for(args.prompts)
    devices = [int(d) for d in args.devices.split(",")]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, DataDreamer(Path(tmp) / "ws"):
        hf = HFTransformers(args.model, dtype=args.dtype, device=devices[0])
        hf.run(prompts[:2], max_new_tokens=4, temperature=0, verbose=False)  # load + warm up
        best = min(
            (timed_run(hf, prompts, args.max_new_tokens, args.hf_batch_size)
             for _ in range(args.repeats)),
            key=lambda r: r[1],
        )  # fmt: skip
        results["HFTransformers.run"] = {"tokens": best[0], "seconds": best[1]}
        hf.unload_model()
        del hf
        torch.cuda.empty_cache()

        vl = VLLM(
            args.model,
            dtype=args.dtype,
            device=devices,
            gpu_memory_utilization=args.gpu_memory_utilization,
        )
        vl.run(prompts[:2], max_new_tokens=4, temperature=0, verbose=False)  # load + warm up
        best = min(
            (timed_run(vl, prompts, args.max_new_tokens, args.vllm_batch_size)
             for _ in range(args.repeats)),
            key=lambda r: r[1],
        )  # fmt: skip
        results["VLLM.run"] = {"tokens": best[0], "seconds": best[1]}
        best = min(
            (plain_engine(vl, prompts, args.max_new_tokens) for _ in range(args.repeats)),
            key=lambda r: r[1],
        )
        results["vllm.LLM.generate (plain)"] = {"tokens": best[0], "seconds": best[1]}

    gpu = torch.cuda.get_device_name(devices[0])
    print(
        f"{len(prompts)} prompts, max_new_tokens={args.max_new_tokens}, model {args.model}, "
        f"{gpu} x{len(devices)}"
    )
    base = results["HFTransformers.run"]
    for name, r in results.items():
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        speedup = r["tokens_per_s"] / (base["tokens"] / base["seconds"])
        print(
            f"  {name:28s} {r['tokens']:8d} tokens {r['seconds']:8.2f} s "
            f"{r['tokens_per_s']:10.1f} tokens/s  x{speedup:.1f} vs HFTransformers"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
