"""Throughput of the API backends at the same server latency, as a fraction of the ideal.

Each backend sends ``--requests`` distinct prompts at concurrency ``--concurrency`` to a
local server that speaks its wire format (tests/openai_server.py for ``OpenAI``,
tests/provider_servers.py for ``Anthropic`` and ``GoogleAIStudio``), each server in its
own process (so it does not share the client's GIL) with a fixed latency per request.
The ideal is ``concurrency / latency`` requests per second.

Two arms per backend, interleaved, best of ``--repeats``:

* **ours**: ``backend.run(prompts)``: prompt checks, the request cache (every answer is
  committed to SQLite), usage and cost, retries, the concurrency bound;
* **plain**: the library's own client with no cache under an ``asyncio.Semaphore`` of the
  same size: ``openai.AsyncOpenAI`` for OpenAI, ``litellm.acompletion`` for the others
  (the same call our backends make).

Run: ``python bench/bench_providers.py [--latency 0.2] [--concurrency 64]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from plain_clients import plain_chat_seconds  # noqa: E402


def _serve(script: str, args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / script), *args], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    return proc, int(line.split()[1])


def _plain_litellm(model: str, kwargs: dict[str, Any], prompts: list[str], conc: int) -> float:
    from dreamer_lab.llms.litellm_llms import load_litellm

    litellm = load_litellm("litellm", "bench")

    async def go() -> None:
        sem = asyncio.Semaphore(conc)

        async def one(prompt: str) -> None:
            async with sem:
                await litellm.acompletion(
                    model=model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=16,
                    num_retries=0,
                    **kwargs,
                )

        await asyncio.gather(*(one(p) for p in prompts))

    t = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests", type=int, default=640)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

    from fake_keys import fake_key

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import Anthropic, GoogleAIStudio, OpenAI

    key = fake_key("bench")
    lat = ["--latency", str(args.latency), "--idle-timeout", "300", "--api-key", key]
    procs: list[subprocess.Popen[str]] = []
    try:
        ports = []
        for script, extra in (
            ("openai_server.py", []),
            ("provider_servers.py", ["anthropic"]),
            ("provider_servers.py", ["gemini"]),
        ):
            proc, port = _serve(script, [*extra, *lat])
            procs.append(proc)
            ports.append(port)
        port_openai, port_anth, port_gem = ports
        arms = [
            (
                "OpenAI",
                "chat completions",
                lambda c: OpenAI(
                    "gpt-4o-mini",
                    base_url=f"http://127.0.0.1:{port_openai}/v1",
                    api_key=key,
                    max_concurrency=c,
                ),
                lambda ps, c: plain_chat_seconds(f"http://127.0.0.1:{port_openai}/v1", key, ps, c),
            ),
            (
                "Anthropic (litellm)",
                "Messages",
                lambda c: Anthropic(
                    "claude-3-5-haiku-20241022",
                    api_key=key,
                    base_url=f"http://127.0.0.1:{port_anth}",
                    max_concurrency=c,
                ),
                lambda ps, c: _plain_litellm(
                    "anthropic/claude-3-5-haiku-20241022",
                    {"api_key": key, "api_base": f"http://127.0.0.1:{port_anth}"},
                    ps,
                    c,
                ),
            ),
            (
                "GoogleAIStudio (litellm)",
                "generateContent",
                lambda c: GoogleAIStudio(
                    "gemini-2.0-flash",
                    api_key=key,
                    base_url=f"http://127.0.0.1:{port_gem}/v1beta",
                    max_concurrency=c,
                ),
                lambda ps, c: _plain_litellm(
                    "gemini/gemini-2.0-flash",
                    {"api_key": key, "api_base": f"http://127.0.0.1:{port_gem}/v1beta"},
                    ps,
                    c,
                ),
            ),
        ]
        conc, n = args.concurrency, args.requests
        ideal = conc / args.latency
        best: dict[str, list[float]] = {name: [0.0, 0.0] for name, *_ in arms}
        with tempfile.TemporaryDirectory() as d, DataDreamer(d):
            for _name, _, make, plain in arms:  # imports, first connections
                make(conc).run(["warm-up"], verbose=False)
                plain(["plain warm-up"], 1)
            for r in range(args.repeats):
                for name, _, make, plain in arms:
                    prompts = [f"r{r} {name} prompt {i}" for i in range(n)]
                    t0 = time.perf_counter()
                    make(conc).run(prompts, max_new_tokens=16, verbose=False)
                    ours = n / (time.perf_counter() - t0)
                    theirs = n / plain([f"plain {p}" for p in prompts], conc)
                    best[name][0] = max(best[name][0], ours)
                    best[name][1] = max(best[name][1], theirs)
        print(
            f"\n## API backends at concurrency {conc}, server latency "
            f"{args.latency * 1000:.0f} ms ({n} requests, best of {args.repeats}; ideal "
            f"{ideal:.0f} req/s)\n"
        )
        print(
            "| backend | wire format | ours req/s | ours / ideal | plain client req/s "
            "| plain / ideal |"
        )
        print("|---|---|---:|---:|---:|---:|")
        for name, wire, *_ in arms:
            ours, theirs = best[name]
            print(
                f"| {name} | {wire} | {ours:.1f} | {ours / ideal:.2f} | {theirs:.1f} "
                f"| {theirs / ideal:.2f} |"
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
