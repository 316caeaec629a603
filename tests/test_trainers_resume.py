"""A training run killed with SIGKILL resumes from its last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from trainer_fixtures import tiny_llama  # noqa: F401

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune

    ws, model, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "slow"
    callbacks = []
    if slow:
        from transformers import TrainerCallback

        class Slow(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                time.sleep(0.15)

        callbacks = [Slow()]
    with DataDreamer(ws):
        qa = DataSource("qa", {"q": ["color of sky", "color of grass"] * 8,
                               "a": ["blue", "green"] * 8})
        t = TrainHFFineTune("resumable", model_name=model).train(
            train_input=qa.output["q"], train_output=qa.output["a"],
            epochs=15, batch_size=4, learning_rate=1e-2,
            save_strategy="steps", save_steps=5, callbacks=callbacks,
        )
        print("RESULT", t.fingerprint, t.cache_hit, t.record["resumed_from_step"], flush=True)
    """
)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_kill_9_resumes_from_checkpoint(tmp_path, tiny_llama):  # noqa: F811
    ws = tmp_path / "ws"
    proc = _run([str(ws), str(tiny_llama), "slow"])
    ckpt_root = ws / "checkpoints"
    deadline = time.time() + 120
    killed_after = None
    try:
        while time.time() < deadline and proc.poll() is None:
            states = list(ckpt_root.glob("*/checkpoint-*/trainer_state.json"))
            done = [json.loads(p.read_text())["global_step"] for p in states if p.stat().st_size]
            if done and max(done) >= 10:
                os.kill(proc.pid, signal.SIGKILL)
                killed_after = max(done)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and killed_after is None:
            proc.kill()
    out = proc.communicate(timeout=30)[0]
    assert killed_after is not None, f"no checkpoint appeared before the run ended:\n{out[-3000:]}"
    assert proc.returncode == -signal.SIGKILL
    assert not any((ws / "models").glob("*/record.json")), "a killed run must not commit a model"
    (run_dir,) = list(ckpt_root.iterdir())
    first = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    first_steps = {e["step"] for e in first if "loss" in e}

    # Second run: same training, no slow callback (callbacks do not change the fingerprint).
    second = _run([str(ws), str(tiny_llama), "fast"])
    out2 = second.communicate(timeout=300)[0]
    assert second.returncode == 0, out2[-3000:]
    result = next(line for line in out2.splitlines() if line.startswith("RESULT"))
    _, fp, hit, resumed = result.split()
    assert fp == run_dir.name and hit == "False"
    resumed = int(resumed)
    assert resumed >= killed_after >= 10
    record = json.loads((ws / "models" / fp / "record.json").read_text())
    history = record["history"]
    pids = []
    for e in history:
        if e["pid"] not in pids:
            pids.append(e["pid"])
    assert len(pids) == 2, "the history spans both processes"
    resumed_steps = [e["step"] for e in history if "loss" in e and e["pid"] == pids[1]]
    # The resumed process starts right after the checkpoint: finished steps are not redone.
    assert resumed_steps[0] == resumed + 1
    assert resumed_steps[-1] == 60  # 16 rows / 4 per batch * 15 epochs
    assert len(resumed_steps) == 60 - resumed
    assert max(first_steps) >= resumed
    # The checkpoint folder is gone once the model is committed.
    assert not run_dir.exists()
    assert (ws / "models" / fp / "model" / "model.safetensors").is_file()
