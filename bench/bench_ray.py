"""The Ray executor's throughput: ``python bench/bench_ray.py [--address ADDR]``.

Starts a local Ray node (``ray start --head --block``, 2 CPUs; or uses ``--address``) and
prints one table, every arm in the same run:

* generation with a tiny local model (tests/tiny_models.py): in-process, on 1 and 2 Ray
  replicas through ``DataDreamer(executor="ray")`` (warm actors, ``force=True``), and a plain
  Ray map of the same batches on 2 actors (no cache, no commits);
* the driver's commit ceiling: the same with a backend whose generation is free
  (``ray_echo.EchoLLM``), plus the request cache's raw ``put_many`` rate.

Rows/s are rows committed to the request cache per second (the plain map: rows returned).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
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


def via_executor(address: str, make: Any, prompts: list[str], gen: dict, replicas: int) -> float:
    """Seconds for ``prompts`` on warm replicas through ``DataDreamer(executor="ray")``."""
    from dreamer_lab import DataDreamer

    session = {"executor": "ray", "ray_address": address, "replicas": replicas}
    with tempfile.TemporaryDirectory() as ws, DataDreamer(ws, **session):
        llm = make()
        llm.run(prompts[: gen["batch_size"]], **gen)  # actors up, model loaded
        return timed(lambda: llm.run(prompts, **gen, force=True))


def in_process(make: Any, prompts: list[str], gen: dict) -> float:
    from dreamer_lab import DataDreamer

    with tempfile.TemporaryDirectory() as ws, DataDreamer(ws):
        llm = make()
        llm.run(prompts[: gen["batch_size"]], **gen)  # model loaded and warm, as on Ray
        return timed(lambda: llm.run(prompts, **gen, force=True))


def plain_map(make: Any, prompts: list[str], gen: dict, replicas: int) -> float:
    """Seconds for the same batches on ``replicas`` plain actors: submit all, get all."""
    import ray

    from dreamer_lab.executors.portable import to_bytes
    from dreamer_lab.executors.ray_executor import ReplicaActor

    llm = make()
    params = llm._params(gen.get("max_new_tokens"), 0.0, 0.0, 1, None, None, None, {})
    size = gen["batch_size"]
    items = [(str(i), p, [None, None]) for i, p in enumerate(prompts)]
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    cls = ray.remote(ReplicaActor).options(num_cpus=1)
    actors = [cls.remote(to_bytes(llm)) for _ in range(replicas)]
    ray.get([a.ready.remote() for a in actors])

    def run() -> None:
        refs = [
            actors[i % replicas].generate.remote(b, params, size, True)
            for i, b in enumerate(batches)
        ]
        assert sum(len(v) for v in ray.get(refs)) == len(items)

    try:
        return timed(run)
    finally:
        for a in actors:
            ray.kill(a)


def raw_commits(n: int, size: int) -> float:
    from dreamer_lab.core.request_cache import RequestCache

    with tempfile.TemporaryDirectory() as folder:
        cache = RequestCache(Path(folder) / "c.sqlite")
        rows = [
            {f"k{i}": {"g": [f"answer {i}"], "u": {}} for i in range(s, s + size)}
            for s in range(0, n, size)
        ]
        seconds = timed(lambda: [cache.put_many(r) for r in rows])
        cache.close()
        return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", help="an existing cluster (default: start a local node)")
    ap.add_argument("--gen-rows", type=int, default=96)
    ap.add_argument("--echo-rows", type=int, default=20000)
    args = ap.parse_args()
    os.environ.update(RAY_ENV)
    tmp = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))
    proc, address = (None, args.address) if args.address else start_head(tmp, 2)
    import ray
    from ray_echo import EchoLLM
    from tiny_models import build_tiny_llama

    from dreamer_lab.llms import HFTransformers

    ray.init(address=address, log_to_driver=False)
    try:
        model = str(build_tiny_llama(tmp / "tiny"))
        gen = {"max_new_tokens": 16, "temperature": 0, "batch_size": 8, "verbose": False}
        prompts = [f"the {i} of a" + " and the" * (i % 5) for i in range(args.gen_rows)]
        echo = {"batch_size": 200, "verbose": False}
        words = [f"row {i} " * 4 for i in range(args.echo_rows)]
        table: list[tuple[str, str, int, float]] = []

        def arms(work: str, make: Any, rows: list[str], kw: dict) -> None:
            table.append((work, "in-process", len(rows), in_process(make, rows, kw)))
            for r in (1, 2):
                table.append(
                    (
                        work,
                        f"ray executor, {r} replica(s)",
                        len(rows),
                        via_executor(address, make, rows, kw, r),
                    )
                )
            table.append((work, "plain Ray map, 2 actors", len(rows), plain_map(make, rows, kw, 2)))

        arms("tiny-llama generation", lambda: HFTransformers(model), prompts, gen)
        arms("free generation (echo)", EchoLLM, words, echo)
        table.append(
            ("request cache put_many", "driver only", len(words), raw_commits(len(words), 200))
        )
    finally:
        ray.shutdown()
        if proc is not None:
            stop_head(proc)
    print("| work | arm | rows | seconds | rows/s |")
    print("|---|---|---:|---:|---:|")
    for work, arm, n, s in table:
        print(f"| {work} | {arm} | {n} | {s:.2f} | {n / s:,.0f} |")


if __name__ == "__main__":
    main()
