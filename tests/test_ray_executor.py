"""``DataDreamer(executor="ray")`` on a real local Ray cluster (2 CPUs) started here.

The cluster is ``ray start --head --block`` in a subprocess (stopped, with every process it
started, at the end); this test process and the driver subprocesses connect to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="the Ray executor needs ray: pip install 'dreamer-lab[ray]'"
)

from openai_server import API_KEY, FakeOpenAIServer  # noqa: E402
from tiny_models import build_tiny_llama  # noqa: E402

from dreamer_lab import DataDreamer  # noqa: E402
from dreamer_lab.llms import HFTransformers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# A throwaway cluster on this machine: no token (real clusters keep Ray's token auth on).
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
PROMPTS = [f"the {i} of a" + " and the" * (i % 4) for i in range(24)]
GEN = {"max_new_tokens": 8, "temperature": 0, "batch_size": 3, "verbose": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The raylet gives its agent processes 15 s to start (ray-project/ray#65983). On a loaded
# machine, importing ray can take longer than that, mostly because jsonschema imports
# rfc3987_syntax (it builds a lark grammar: seconds of CPU) when it is installed, as the
# notebook extras install it. The cluster's processes skip that optional format checker.
SITECUSTOMIZE = "import sys\nsys.modules.setdefault('rfc3987_syntax', None)\n"


def _start_head(tmp: str) -> tuple[subprocess.Popen, str]:
    """``ray start --head --block`` with 2 CPUs; its address once Ray says it started."""
    port = _free_port()
    (Path(tmp) / "site").mkdir(exist_ok=True)
    (Path(tmp) / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(filter(None, [str(Path(tmp) / "site"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OPENAI_API_KEY": API_KEY, **RAY_ENV, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    cmd += [f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    cmd += ["--node-ip-address=127.0.0.1", f"--temp-dir={tmp}", "--disable-usage-stats"]
    log = open(Path(tmp) / "head.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if b"Ray runtime started" in (Path(tmp) / "head.log").read_bytes():
            return proc, address
        time.sleep(0.2)
    _stop_head(proc)
    raise RuntimeError((Path(tmp) / "head.log").read_text(errors="replace")[-1500:])


def _stop_head(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def cluster():
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths
    errors = []
    for _ in range(3):  # a raylet waits 15 s for its agents: a loaded machine can miss it
        try:
            proc, address = _start_head(tmp)
            break
        except RuntimeError as e:
            errors.append(str(e))
    else:
        pytest.skip(f"a local Ray node did not start on this machine: {errors[-1][-400:]}")
    before = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    try:
        ray.init(address=address, log_to_driver=False)
        yield address
    finally:
        ray.shutdown()
        _stop_head(proc)
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory):
    """The single-process output."""
    with DataDreamer(tmp_path_factory.mktemp("single")):
        return HFTransformers(tiny).run(PROMPTS, **GEN)


def _rows(folder: Path) -> int:
    total = 0
    for db in folder.glob("requests/*.sqlite"):
        with sqlite3.connect(db) as con, contextlib.suppress(sqlite3.OperationalError):
            total += con.execute("SELECT count(*) FROM requests").fetchone()[0]
    return total


def test_output_equals_single_process(cluster, tiny, reference, tmp_path):
    with DataDreamer(tmp_path, executor="ray", ray_address=cluster, replicas=2) as dd:
        llm = HFTransformers(tiny)
        assert llm.run(PROMPTS, **GEN) == reference
        assert len(dd.executor.actors(llm)) == 2
        assert _rows(tmp_path) == len(set(PROMPTS))
        assert llm.run(PROMPTS, **GEN) == reference  # all cached: nothing sent
        assert llm.last_usage.cached == len(PROMPTS)
    assert ray.is_initialized()  # the session did not own the connection


def _kill_one_actor_mid_run(cluster, tiny, folder: Path, replicas: int, restart: bool):
    """Run 48 prompts, kill an actor once a batch is committed; (rows at kill, victim,
    executor, output, expected output)."""
    prompts = PROMPTS + [p + " more" for p in PROMPTS]
    gen = {**GEN, "max_new_tokens": 24}
    with DataDreamer(folder / "single"):
        expected = HFTransformers(tiny).run(prompts, **gen)
    ws = folder / "ws"
    with DataDreamer(ws, executor="ray", ray_address=cluster, replicas=replicas) as dd:
        llm = HFTransformers(tiny)
        result: dict = {}

        def run() -> None:
            try:
                result["out"] = llm.run(prompts, **gen)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 60
        while _rows(ws) < GEN["batch_size"] and time.monotonic() < deadline:
            time.sleep(0.005)
        done_at_kill = _rows(ws)
        victim = dd.executor.actors(llm)[0]
        ray.kill(victim, no_restart=not restart)
        worker.join(180)
        assert "error" not in result, result.get("error")
        assert 0 < done_at_kill < len(prompts)
        assert result["out"] == expected  # no missing, duplicated or reordered row
        assert _rows(ws) == len(prompts)
        assert dd.executor.requeued >= 1
        return victim, dd.executor.actors(llm)


def test_killing_a_worker_requeues_its_batches(cluster, tiny, tmp_path):
    victim, live = _kill_one_actor_mid_run(cluster, tiny, tmp_path, replicas=2, restart=False)
    assert victim not in live and len(live) == 1  # the other actor did the rest


def test_a_restarted_worker_takes_its_batches_back(cluster, tiny, tmp_path):
    # One replica: only the actor Ray restarts (max_restarts) can finish the run.
    victim, live = _kill_one_actor_mid_run(cluster, tiny, tmp_path, replicas=1, restart=True)
    assert live == [victim]


DRIVER = """
import sys
from dreamer_lab import DataDreamer
from dreamer_lab.llms import OpenAI
ws, address, url = sys.argv[1:4]
prompts = [f"question {i}" for i in range(40)]
with DataDreamer(ws, executor="ray", ray_address=address, replicas=2):
    out = OpenAI("gpt-4o-mini", base_url=url).run(
        prompts, max_new_tokens=5, batch_size=2, verbose=False
    )
print("ROWS", len(out), len(set(out)))
"""


def test_killing_the_driver_repeats_no_finished_request(cluster, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    ws = tmp_path / "ws"
    env = {**os.environ, **RAY_ENV, "OPENAI_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)}
    with FakeOpenAIServer(latency=0.1, idle_timeout=120) as srv:
        args = [sys.executable, str(script), str(ws), cluster, srv.base_url]
        first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while _rows(ws) < 6 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        committed = _rows(ws)
        assert 6 <= committed < 40, first.stderr.read().decode()[-2000:]
        while srv.in_flight:  # the dead driver's actors finish or die; nothing new after
            time.sleep(0.05)
        time.sleep(1)
        before = srv.requests
        # At most the batches in flight were lost: 2 replicas x 2 batches x 2 requests.
        assert before - committed <= 8
        rerun = subprocess.run(args, env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
        assert b"ROWS 40 40" in rerun.stdout
        assert srv.requests - before == 40 - committed  # no finished request sent again
        assert _rows(ws) == 40


def test_dream_config_switches_the_notebook_to_ray(cluster, tiny, reference, workspace):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from dreamer_lab.core.run_options import session_executor

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dreamer_lab")
    try:

        def dream(line: str) -> str:
            with capture_output() as shown:
                result = ip.run_cell(f"%dream {line}")
            assert result.success, shown.stdout
            return "\n".join(o.data.get("text/plain", "") for o in shown.outputs)

        assert "executor: RayExecutor(" in dream(
            f"config executor=ray address={cluster} replicas=2"
        )
        executor = session_executor()
        llm = HFTransformers(tiny)
        assert llm.run(PROMPTS, **GEN) == reference
        assert len(executor.actors(llm)) == 2
        assert "executor: local" in dream("config executor=local")
        assert session_executor() is None
        assert executor.actors(llm) == []  # the Ray session's actors were stopped
    finally:
        ip.run_line_magic("unload_ext", "dreamer_lab")  # closes the session `%dream config` opened


def test_bad_options_are_refused_before_any_model_call(tmp_path):
    with pytest.raises(ValueError, match="resources_per_replica must be a dict with keys"):
        DataDreamer(tmp_path, executor="ray", resources_per_replica={"gpus": 1})
    with pytest.raises(ValueError, match="replicas must be an int >= 1"):
        DataDreamer(tmp_path, executor="ray", replicas=0)
    with pytest.raises(ValueError, match="only apply to executor='ray'"):
        DataDreamer(tmp_path, replicas=2)
    with pytest.raises(ValueError, match="executor='spark' is not known"):
        DataDreamer(tmp_path, executor="spark")
