"""LLM backend benchmarks; each compares with a baseline measured in the same run.

1. OpenAI backend throughput against the local test server (its own process) with a fixed
   latency, at concurrency 1, 16 and 64, against the plain ``openai.AsyncOpenAI`` client
   sending the same chat requests under an ``asyncio.Semaphore`` of the same size (the
   ideal ``concurrency / latency`` is printed for reference). Both arms: a warmed-up
   server, a fresh client, the same number of distinct prompts; ours also renders the
   prompts, writes every answer to the request cache and counts cost.
2. Local generation through ``HFTransformers.run`` against plain ``model.generate`` with
   token-length-sorted batches on the same 48 mixed-length prompts, batch size and model
   object (embedded SmolLM2), interleaved pairs, min / median (``arms.gen``); and what
   ``run()`` adds around the model, with ``generate`` answering instantly in both arms.
3. Structured output on SmolLM2: share of generations that are valid JSON for the schema,
   and tokens/s, with ``response_format`` (xgrammar-constrained decoding) against the
   same prompts without it (the schema only described in the prompt).
4. Request-cache overhead per row: ``LLM.run`` on a backend that returns instantly
   (misses, then hits) against calling that backend directly.

Run: ``python bench/bench_llm.py [--latency 0.2] [--skip-hf] [--gen-reps 5]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from plain_clients import plain_chat_seconds  # noqa: E402


def bench_api(latency: float) -> None:
    import subprocess

    from openai_server import API_KEY

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import OpenAI

    # The server runs in its own process so that it does not share the client's GIL.
    server = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parent.parent / "tests" / "openai_server.py"),
            "--latency",
            str(latency),
            "--idle-timeout",
            "120",
            "--api-key",
            API_KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])
        base_url = f"http://127.0.0.1:{port}/v1"
        print(
            f"\n## OpenAI backend vs plain AsyncOpenAI + semaphore "
            f"(server latency {latency * 1000:.0f} ms)"
        )
        print(
            f"{'concurrency':>11} {'requests':>8} {'ours req/s':>10} {'plain req/s':>11} "
            f"{'ideal':>7} {'ours/plain':>10}"
        )
        with tempfile.TemporaryDirectory() as d, DataDreamer(d):
            warm = OpenAI("gpt-4o-mini", base_url=base_url, api_key=API_KEY)
            warm.run(["warm-up"], verbose=False)  # imports and first connection
            for conc in (1, 16, 64):
                n = max(10, conc * 4)
                plain_s = plain_chat_seconds(
                    base_url, API_KEY, [f"plain c{conc} prompt {i}" for i in range(n)], conc
                )
                llm = OpenAI(
                    "gpt-4o-mini", base_url=base_url, api_key=API_KEY, max_concurrency=conc
                )
                prompts = [f"c{conc} prompt {i}" for i in range(n)]
                t0 = time.perf_counter()
                llm.run(prompts, max_new_tokens=16, verbose=False)
                dt = time.perf_counter() - t0
                ideal = conc / latency
                print(
                    f"{conc:>11} {n:>8} {n / dt:>10.1f} {n / plain_s:>11.1f} {ideal:>7.1f} "
                    f"{plain_s / dt:>10.2f}"
                )
    finally:
        server.terminate()
        server.wait()


def bench_hf(reps: int) -> None:
    """``HFTransformers.run`` against plain ``model.generate`` (token-length-sorted batches)
    on the same model object, interleaved in this process: ``arms.gen`` (also the
    generation row of ``compare.py``)."""
    import statistics

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from arms import GEN_BATCH, GEN_NEW_TOKENS, GEN_PROMPTS, gen

    from dreamer_lab.llms.embedded import embedded_model_path

    print(
        f"\n## Local generation (SmolLM2-135M, {GEN_PROMPTS} mixed-length prompts, batch "
        f"{GEN_BATCH}, {GEN_NEW_TOKENS} new tokens, greedy, {torch.get_num_threads()} threads; "
        f"{reps} interleaved pairs)"
    )
    with tempfile.TemporaryDirectory() as d:
        res = gen("ours", str(Path(d) / "ws"), str(embedded_model_path()), str(reps))
    ours, plain = res["ours"], res["plain"]
    ratios = [a / b for a, b in zip(ours, plain, strict=True)]
    print(f"{'method':>36} {'min s':>8} {'median s':>9}")
    for label, vals in (
        ("model.generate (plain, sorted)", plain),
        ("HFTransformers.run (cache, commits)", ours),
    ):
        print(f"{label:>36} {min(vals):>8.2f} {statistics.median(vals):>9.2f}")
    print(
        f"ours / plain: {min(ours) / min(plain):.3f} (min / min), "
        f"{statistics.median(ratios):.3f} (median of the pairs); same texts: yes"
    )


def bench_hf_overhead(reps: int) -> None:
    """What ``HFTransformers.run`` adds around the model (templates, tokens, order,
    padding, request-cache keys, lookups and commits, decoding) against the plain script
    around the same model, with ``model.generate`` answering instantly (the same fixed
    tokens for both), interleaved, min / median of ``reps``."""
    import statistics

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from arms import GEN_BATCH, GEN_NEW_TOKENS, GEN_PROMPTS, gen_prompts, plain_generate

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import HFTransformers

    prompts = gen_prompts()
    kw = {"max_new_tokens": GEN_NEW_TOKENS, "temperature": 0, "batch_size": GEN_BATCH}
    with tempfile.TemporaryDirectory() as d, DataDreamer(d):
        llm = HFTransformers("smollm2")
        tok = llm.tokenizer
        answer = tok("The sea is wide and calm today.", add_special_tokens=False)["input_ids"]
        new = torch.tensor((answer + [tok.eos_token_id] * GEN_NEW_TOKENS)[:GEN_NEW_TOKENS])

        def instant(input_ids: Any = None, **kwargs: Any) -> Any:
            return torch.cat([input_ids, new.expand(input_ids.shape[0], -1)], dim=1)

        llm.model.generate = instant
        llm.run(prompts, seed=-1, verbose=False, **kw)  # warm-up
        plain_generate(llm.model, tok, prompts, GEN_BATCH, GEN_NEW_TOKENS)
        times: dict[str, list[float]] = {"ours": [], "plain": []}
        for rep in range(reps):
            for name in ("ours", "plain") if rep % 2 == 0 else ("plain", "ours"):
                t0 = time.perf_counter()
                if name == "ours":
                    ours = llm.run(prompts, seed=rep, verbose=False, **kw)
                else:
                    plain = plain_generate(llm.model, tok, prompts, GEN_BATCH, GEN_NEW_TOKENS)
                times[name].append(time.perf_counter() - t0)
        assert ours == plain
    print(
        f"\n## Around the model: {GEN_PROMPTS} prompts, batch {GEN_BATCH}, generate() instant "
        f"({reps} interleaved pairs; every run of ours misses the cache and commits 6 batches)"
    )
    for label, vals in (("plain script", times["plain"]), ("HFTransformers.run", times["ours"])):
        print(
            f"{label:>20} {min(vals) * 1000:>7.1f} ms min {statistics.median(vals) * 1000:>7.1f}"
            " ms median"
        )
    print(f"ours - plain (min): {(min(times['ours']) - min(times['plain'])) * 1000:+.1f} ms")


def bench_structured(batch_size: int, repeats: int = 3) -> None:
    import json

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import HFTransformers
    from dreamer_lab.llms.structured import (
        StructuredOutputError,
        check_generations,
    )

    rf = {
        "type": "json_schema",
        "json_schema": {
            "name": "person",
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer"},
                    "mood": {"enum": ["happy", "sad", "calm"]},
                },
                "required": ["name", "age", "mood"],
                "additionalProperties": False,
            },
        },
    }
    people = ["Ann, 31", "Bob, 45", "Carla, 7", "Dev, 62", "Eve, 19", "Femi, 28", "Gus, 80"]
    people += ["Hana, 55"]
    prompts = [
        f'Describe {p} as JSON like {{"name": ..., "age": ..., "mood": "happy"|"sad"|"calm"}}.'
        for p in people
    ][:batch_size]
    print(f"\n## Structured output (SmolLM2-135M, {len(prompts)} prompts, greedy, 48 new tokens)")
    with tempfile.TemporaryDirectory() as d, DataDreamer(d):
        llm = HFTransformers("smollm2")
        llm.run(prompts[:1], max_new_tokens=4, temperature=0, verbose=False)  # load + warm-up
        t0 = time.perf_counter()
        llm._grammar(rf)
        compile_s = time.perf_counter() - t0
        rows = []
        for label, extra in (("prompt only", {}), ("response_format", {"response_format": rf})):
            best, valid = None, 0
            for _ in range(repeats):
                t0 = time.perf_counter()
                try:
                    out = llm.run(
                        prompts,
                        max_new_tokens=48,
                        temperature=0,
                        force=True,
                        verbose=False,
                        **extra,
                    )
                except StructuredOutputError as e:  # invalid rows raise; count them below
                    out = e.generations
                dt = time.perf_counter() - t0
                tokens = llm.last_usage.completion_tokens
                best = min(best or (dt, tokens), (dt, tokens))
            valid = sum(e is None for e in check_generations(out, rf))
            rows.append((label, valid, best[1], best[0]))
            if label == "prompt only":
                print("   sample without response_format:", json.dumps(out[0])[:90])
    print(f"grammar compile (once per schema): {compile_s * 1000:.0f} ms")
    print(f"{'method':>16} {'valid':>6} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    for label, valid, tokens, dt in rows:
        print(
            f"{label:>16} {valid:>3}/{len(prompts):<2} {tokens:>7} {dt:>8.2f} {tokens / dt:>9.1f}"
        )


def bench_cache(rows: int) -> None:
    from dreamer_lab import DataDreamer
    from dreamer_lab.llms.base import LLM

    class Instant(LLM):
        backend_name = "bench_instant"

        def _generate_batch(self, prompts, params, seeds):
            return [{"g": [p[::-1]], "u": {}} for p in prompts]

    print(f"\n## Request-cache overhead ({rows} rows, batch 100)")
    prompts = [f"prompt number {i} " * 4 for i in range(rows)]
    llm = Instant("instant")
    t0 = time.perf_counter()
    for i in range(0, rows, 100):
        llm._generate_batch(prompts[i : i + 100], {}, [None] * 100)
    base_dt = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d, DataDreamer(d):
        t0 = time.perf_counter()
        llm.run(prompts, batch_size=100, verbose=False)
        miss_dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        llm.run(prompts, batch_size=100, verbose=False)
        hit_dt = time.perf_counter() - t0
    print(f"{'path':>28} {'seconds':>8} {'us/row':>8}")
    print(f"{'backend called directly':>28} {base_dt:>8.3f} {base_dt / rows * 1e6:>8.1f}")
    print(f"{'run(): all misses + commit':>28} {miss_dt:>8.3f} {miss_dt / rows * 1e6:>8.1f}")
    print(f"{'run(): all cache hits':>28} {hit_dt:>8.3f} {hit_dt / rows * 1e6:>8.1f}")
    print(f"overhead per row (misses): {(miss_dt - base_dt) / rows * 1e6:.1f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--gen-reps", type=int, default=5)
    ap.add_argument("--cache-rows", type=int, default=5000)
    ap.add_argument("--skip-hf", action="store_true")
    args = ap.parse_args()
    bench_api(args.latency)
    if not args.skip_hf:
        bench_hf_overhead(30)
        bench_hf(args.gen_reps)
        bench_structured(args.batch_size)
    bench_cache(args.cache_rows)


if __name__ == "__main__":
    main()
