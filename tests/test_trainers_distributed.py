"""Distributed training on CPU: two processes (gloo) under ``accelerate launch``.

The same trainer script a user runs in one process runs unchanged under
``accelerate launch --multi_gpu --num_processes 2`` (on a machine without GPUs accelerate
starts the processes with torchrun and they talk over gloo). The processes share the
training (each sees half of every epoch), the main one commits the model once, and the
result is the same workspace entry a single-process run would reuse.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_fixtures import tiny_llama  # noqa: F401

from dreamer_lab.errors import StepInputError

SCRIPT = """
import json, os, sys
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainHFFineTune

ws, model = sys.argv[1], sys.argv[2]
device = [0, 1] if sys.argv[3:] == ["multi"] else None  # DataDreamer's multi-device form
with DataDreamer(ws):
    data = DataSource("pairs", {"q": ["color of sky", "color of grass"] * 8,
                                "a": ["blue", "green"] * 8})
    ft = TrainHFFineTune("distributed", model_name=model, device=device).train(
        data.output["q"], data.output["a"], epochs=1, batch_size=2, learning_rate=1e-2
    )
    import torch.distributed as dist
    print("RESULT " + json.dumps({
        "rank": int(os.environ.get("RANK", 0)),
        "world": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "fingerprint": ft.fingerprint,
        "cache_hit": ft.cache_hit,
        "model_path": str(ft.model_path),
    }), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(out: str) -> list[dict]:
    return sorted(
        (json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")),
        key=lambda r: r["rank"],
    )


@pytest.mark.slow
def test_two_cpu_processes_train_one_model(tmp_path, tiny_llama):  # noqa: F811
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ws = tmp_path / "ws"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(_free_port()),
    ]
    proc = subprocess.run(
        [*launch, str(script), str(ws), str(tiny_llama), "multi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    ranks = _results(proc.stdout)
    assert proc.returncode == 0 and len(ranks) == 2, proc.stderr[-3000:]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world"] == 2 and r["backend"] == "gloo" for r in ranks)
    assert ranks[0]["fingerprint"] == ranks[1]["fingerprint"]
    assert ranks[0]["model_path"] == ranks[1]["model_path"]
    assert not any(r["cache_hit"] for r in ranks)

    models = list((ws / "models").iterdir())
    assert len(models) == 1  # committed once, by the main process
    record = json.loads((models[0] / "record.json").read_text())
    assert record["world_size"] == 2
    steps = [h for h in record["history"] if "loss" in h]
    # 16 rows, 2 per process and step: 4 steps with 2 processes (8 in one process).
    assert len(steps) == 4 and {h["pid"] for h in record["history"]} == {
        record["history"][0]["pid"]
    }
    assert not list((ws / "checkpoints").glob("*/final*"))

    # The same script in one process (a notebook) reuses the model trained by two.
    single = subprocess.run(
        [sys.executable, str(script), str(ws), str(tiny_llama)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (alone,) = _results(single.stdout) or [{}]
    assert alone.get("cache_hit") is True, single.stderr[-3000:]
    assert alone["fingerprint"] == ranks[0]["fingerprint"]


@pytest.mark.slow
def test_device_list_in_one_process_trains_in_one_process_per_device(
    workspace,
    tiny_llama,  # noqa: F811
    monkeypatch,
):
    # DataDreamer's device=[0, 1] from a notebook: no launcher needed. Here (no GPU) the two
    # processes run on CPU over gloo, like under accelerate launch.
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = DataSource("pairs", {"q": ["color of sky", "color of grass"] * 8,
                                "a": ["blue", "green"] * 8})  # fmt: skip
    args = dict(epochs=1, batch_size=2, learning_rate=1e-2)
    ft = TrainHFFineTune("spawned", model_name=str(tiny_llama), device=[0, 1])
    ft.train(data.output["q"], data.output["a"], **args)
    assert ft.cache_hit is False and ft.model_path.is_dir()
    record = ft.record
    assert record["world_size"] == 2
    # 16 rows, 2 per process and step: 4 optimizer steps (8 in one process).
    assert len([h for h in record["history"] if "loss" in h]) == 4
    from dreamer_lab.core.workspace import current_workspace

    runs = [r for r in current_workspace().lineage.runs() if r["fingerprint"] == ft.fingerprint]
    assert [r["status"] for r in runs] == ["done"]  # recorded once, by this process
    assert not list((workspace / "tmp").iterdir())  # the pickled call is gone

    again = TrainHFFineTune("spawned", model_name=str(tiny_llama))
    again.train(data.output["q"], data.output["a"], **args)
    assert again.cache_hit is True and again.fingerprint == ft.fingerprint


def test_bad_device_lists_are_refused_before_loading(workspace, tiny_llama):  # noqa: F811
    from dreamer_lab.trainers import TrainHFFineTune

    for device, message in (
        ([], "names no device"),
        (["tpu:0"], "is not a GPU index"),
        ([0, "cpu"], "mixes CPU and GPUs"),
    ):
        with pytest.raises(StepInputError, match=message):
            TrainHFFineTune("multi", model_name=str(Path(tiny_llama)), device=device)


INTERRUPT_SCRIPT = """
import sys
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainHFFineTune

with DataDreamer(sys.argv[1]):
    data = DataSource("pairs", {"q": ["color of sky", "color of grass"] * 64,
                                "a": ["blue", "green"] * 64})
    try:
        TrainHFFineTune("long", model_name=sys.argv[2], device=[0, 1]).train(
            data.output["q"], data.output["a"], epochs=50, batch_size=2, learning_rate=1e-3
        )
    except KeyboardInterrupt:  # a kernel lives on after an interrupt
        print("INTERRUPTED", file=sys.stderr, flush=True)
        import time
        time.sleep(60)
"""


def _spawned_workers() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"dreamer_lab.trainers.spawn" in cmd and proc.name.isdigit():
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_interrupting_a_device_list_run_stops_its_workers(tmp_path, tiny_llama):  # noqa: F811
    import signal
    import time

    ws, log = tmp_path / "ws", tmp_path / "stderr.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", INTERRUPT_SCRIPT, str(ws), str(tiny_llama)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if list(ws.glob("locks/*.progress.json")) and _spawned_workers():
                break  # the workers are training
            time.sleep(0.1)
        assert proc.poll() is None, log.read_text()[-2000:]
        proc.send_signal(signal.SIGINT)  # what interrupting the kernel does
        deadline = time.monotonic() + 60
        while "INTERRUPTED" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "INTERRUPTED" in log.read_text(), log.read_text()[-2000:]
        deadline = time.monotonic() + 30
        while _spawned_workers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _spawned_workers() == []  # stopped while the "kernel" lives on
        assert proc.poll() is None
        assert not list((ws / "models").iterdir())  # nothing half-trained was committed
    finally:
        proc.kill()
        proc.wait()
