"""The Ray executor's throughput: ``python bench/bench_ray.py [--address ADDR] [--reps N]``.

Starts a local Ray node (``ray start --head --block``, 2 CPUs; or uses ``--address``) and
prints one table. Every arm runs ``--reps`` times, the arms interleaved (rotated each
repetition), and each cell is min / median:

* generation with a tiny local model (tests/tiny_models.py): in-process, on 1 and 2 Ray
  replicas through the executor (``force=True``; actors started and the model loaded
  before the timing, stopped after it), and a plain Ray map of the same batches on 2
  actors (no cache, no commits);
* the driver's commit ceiling: the same with a backend whose generation is free
  (``ray_echo.EchoLLM``), plus the request cache's raw ``put_many`` rate;
* ``step.map`` over ``--map-rows`` stored rows, a cheap and a costly function, in-process
  and as Ray tasks (``map_min_rows=0``; workers warmed by a small map first), each into a
  fresh workspace (map + commit).

Rows/s are rows committed per second (the plain map: rows returned), from the min and the
median time.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

# Importing ray in every cluster process otherwise builds rfc3987_syntax's lark grammar
# (jsonschema's optional format checker): seconds of CPU, longer than the 15 s the raylet
# gives its agents on a busy machine (ray-project/ray#65983).
SITECUSTOMIZE = "import sys\nsys.modules.setdefault('rfc3987_syntax', None)\n"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def start_head(tmp: Path, cpus: int) -> tuple[subprocess.Popen, str]:
    """A local Ray node; its address once it started."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "site").mkdir(exist_ok=True)
    (tmp / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join([str(tmp / "site"), str(HERE), str(ROOT)])
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    cmd += [f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false"]
    cmd += [f"--temp-dir={tmp}", "--disable-usage-stats"]
    log = tmp / "head.log"
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if b"Ray runtime started" in log.read_bytes():
            return proc, f"127.0.0.1:{port}"
        time.sleep(0.2)
    stop_head(proc)
    raise SystemExit(f"Ray did not start:\n{log.read_text(errors='replace')[-1500:]}")


def stop_head(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def in_process_arm(make: Any, prompts: list[str], gen: dict, threads: int | None = None) -> Any:
    """Seconds for ``prompts`` in this process (model loaded once, before any timing);
    ``threads``: torch's intra-op threads during the run (a 1-CPU Ray actor gets 1)."""
    llm = make()
    llm.run(prompts[: gen["batch_size"]], **gen, force=True)  # loaded and warm

    def run() -> float:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            return timed(lambda: llm.run(prompts, **gen, force=True))
        finally:
            torch.set_num_threads(before)

    return run


def executor_arm(address: str, make: Any, prompts: list[str], gen: dict, replicas: int) -> Any:
    """Seconds for ``prompts`` on ``replicas`` warm actors through the executor. The actors
    start (and load the model) before the timing and stop after it, so arms never compete
    for the cluster's CPUs."""
    from dreamer_lab.core.run_options import executor_scope
    from dreamer_lab.executors import RayExecutor

    def run() -> float:
        executor = RayExecutor(address=address, replicas=replicas)
        try:
            llm = make()
            with executor_scope(executor):
                llm.run(prompts[: gen["batch_size"]], **gen, force=True)  # actors up
                return timed(lambda: llm.run(prompts, **gen, force=True))
        finally:
            executor.close()

    return run


def plain_map_arm(make: Any, prompts: list[str], gen: dict, replicas: int) -> Any:
    """Seconds for the same batches on ``replicas`` plain actors: submit all, get all (no
    cache, no commits); actors started before the timing and stopped after it."""
    import ray

    from dreamer_lab.executors.portable import to_bytes
    from dreamer_lab.executors.ray_executor import ReplicaActor

    llm = make()
    params = llm._params(gen.get("max_new_tokens"), 0.0, 0.0, 1, None, None, None, {})
    size = gen["batch_size"]
    items = [(str(i), p, [None, None]) for i, p in enumerate(prompts)]
    batches = [items[i : i + size] for i in range(0, len(items), size)]

    def run() -> float:
        cls = ray.remote(ReplicaActor).options(num_cpus=1)
        actors = [cls.remote(to_bytes(llm)) for _ in range(replicas)]
        try:
            ray.get([a.ready.remote() for a in actors])

            def send() -> None:
                refs = [
                    actors[i % replicas].generate.remote(b, params, size, True)
                    for i, b in enumerate(batches)
                ]
                assert sum(len(v) for v in ray.get(refs)) == len(items)

            return timed(send)
        finally:
            for a in actors:
                ray.kill(a)

    return run


def raw_commits(n: int, size: int) -> None:
    from dreamer_lab.core.request_cache import RequestCache

    with tempfile.TemporaryDirectory() as folder:
        cache = RequestCache(Path(folder) / "c.sqlite")
        for s in range(0, n, size):
            cache.put_many({f"k{i}": {"g": [f"answer {i}"], "u": {}} for i in range(s, s + size)})
        cache.close()


def cheap(row: dict) -> dict:
    return {"words": len(row["text"].split())}


def costly(row: dict) -> dict:  # pure Python; its cost per row is measured and printed
    h = 0
    for _ in range(10):
        for c in row["text"]:
            h = (h * 31 + ord(c)) % 1_000_003
    return {"h": h}


def map_arm(address: str, rows: int, fn: Any, on_ray: bool) -> Any:
    """``step.map(fn)`` over ``rows`` stored rows into a fresh workspace (timed: the map
    step only, commit included)."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.executors import RayExecutor
    from dreamer_lab.steps import DataSource

    texts = [f"row {i} " * (1 + i % 7) for i in range(rows)]

    def run() -> float:
        executor = RayExecutor(address=address, map_min_rows=0) if on_ray else None
        with tempfile.TemporaryDirectory() as ws, DataDreamer(ws, executor=executor):
            source = DataSource("rows", {"text": texts})
            # Workers up and datasets imported, as actors are warm in the generation arms
            # (a cold start costs seconds: worker processes, imports).
            DataSource("warm", {"text": texts[:1000]}).map(fn, auto_progress=False)
            return timed(lambda: source.map(fn, auto_progress=False))

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", help="an existing cluster (default: start a local node)")
    ap.add_argument("--gen-rows", type=int, default=96)
    ap.add_argument("--echo-rows", type=int, default=20000)
    ap.add_argument("--map-rows", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    os.environ.update(RAY_ENV)
    tmp = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))
    proc, address = (None, args.address) if args.address else start_head(tmp, 2)
    import ray
    from ray_echo import EchoLLM
    from tiny_models import build_tiny_llama

    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import HFTransformers

    ray.init(address=address, log_to_driver=False)
    times: dict[tuple[str, str, int], list[float]] = {}
    try:
        model = str(build_tiny_llama(tmp / "tiny"))
        gen = {"max_new_tokens": 16, "temperature": 0, "batch_size": 8, "verbose": False}
        prompts = [f"the {i} of a" + " and the" * (i % 5) for i in range(args.gen_rows)]
        echo = {"batch_size": 200, "verbose": False}
        words = [f"row {i} " * 4 for i in range(args.echo_rows)]
        arms: dict[tuple[str, str, int], Any] = {}
        with DataDreamer(tmp / "ws"):
            for work, make, rows, kw in (
                (
                    "tiny-llama generation (16 new tokens, batch 8)",
                    lambda: HFTransformers(model),
                    prompts,
                    gen,
                ),
                ("free generation (echo, batch 200)", EchoLLM, words, echo),
            ):
                n = len(rows)
                arms[(work, "in-process", n)] = in_process_arm(make, rows, kw)
                if make is not EchoLLM:  # torch's threads matter only for a real model
                    arms[(work, "in-process, torch 1 thread", n)] = in_process_arm(
                        make, rows, kw, threads=1
                    )
                for r in (1, 2):
                    arms[(work, f"ray executor, {r} replica(s)", n)] = executor_arm(
                        address, make, rows, kw, r
                    )
                arms[(work, "plain Ray map, 2 actors", n)] = plain_map_arm(make, rows, kw, 2)
            arms[("request cache put_many (batches of 200)", "driver only", len(words))] = lambda: (
                timed(lambda: raw_commits(len(words), 200))
            )
            texts = [{"text": f"row {i} " * (1 + i % 7)} for i in range(2000)]
            for name, fn in (("cheap", cheap), ("costly", costly)):
                per_row = timed(lambda fn=fn: [fn(t) for t in texts]) / len(texts)
                name = f"{name} function ({per_row * 1e6:.0f} us/row alone)"
                for on_ray, arm in ((False, "in-process"), (True, "Ray tasks, 2 CPUs")):
                    key = (f"step.map, {name}", arm, args.map_rows)
                    arms[key] = map_arm(address, args.map_rows, fn, on_ray)
            keys = list(arms)  # each returns its seconds
            for rep in range(args.reps):  # interleaved: each repetition starts one arm later
                for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
                    times.setdefault(key, []).append(arms[key]())
                print(f"repetition {rep + 1} of {args.reps} done", file=sys.stderr)
    finally:
        ray.shutdown()
        if proc is not None:
            stop_head(proc)
    print("| work | arm | rows | seconds (min / median) | rows/s (best / median) |")
    print("|---|---|---:|---:|---:|")
    for (work, arm, n), ts in times.items():
        lo, mid = min(ts), statistics.median(ts)
        print(f"| {work} | {arm} | {n:,} | {lo:.2f} / {mid:.2f} | {n / lo:,.0f} / {n / mid:,.0f} |")


if __name__ == "__main__":
    main()
