"""Trainer checkpoints shared through an object-storage workspace, on a real S3-compatible
server on 127.0.0.1 (moto, tests/s3_server.py) with real (tiny) training.

What a team running on preemptible machines relies on: a training run killed on machine A
resumes on machine B (an empty cache) from the last checkpoint A uploaded, not from step 0;
the bucket's checkpoints go once the model is committed; a tampered checkpoint is refused,
never resumed from; an OpenAI fine-tune killed after creating its (paid) job is found again
from machine B instead of a second job being created.
"""

# ruff: noqa: F811 - the fixtures s3, url and tiny_llama are imported, then requested by name
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from openai_finetune_server import API_KEY, FakeFineTuneServer
from s3_server import S3Server
from test_object_store_workspace import BUCKET, _child, _prefix, s3, url  # noqa: F401
from trainer_fixtures import tiny_llama  # noqa: F401

QA = {"q": ["color of sky", "color of grass"] * 8, "a": ["blue", "green"] * 8}
STEPS = 24  # 16 rows / 4 per batch * 6 epochs

TRAIN_CHILD = """
import sys, time
from transformers import TrainerCallback
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainHFFineTune

url, cache, model = sys.argv[1:4]


class Slow(TrainerCallback):  # slow enough to be killed mid-run
    def on_step_end(self, args, state, control, **kw):
        time.sleep(0.3)


with DataDreamer(url, cache_dir=cache, lease_ttl=3):
    qa = DataSource("qa", {"q": ["color of sky", "color of grass"] * 8,
                           "a": ["blue", "green"] * 8})
    TrainHFFineTune("resumable", model_name=model).train(
        train_input=qa.output["q"], train_output=qa.output["a"], epochs=6, batch_size=4,
        learning_rate=1e-2, save_strategy="steps", save_steps=4, callbacks=[Slow()])
"""

FINETUNE_CHILD = """
import json, sys
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainOpenAIFineTune

url, cache, base, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with DataDreamer(url, cache_dir=cache, lease_ttl=3):
    data = DataSource("qa", rows)
    TrainOpenAIFineTune(
        "adder", model_name="gpt-4o-mini-2024-07-18", base_url=base, suffix="adder",
        system_prompt="Answer with a number.", poll_interval=0.05, max_poll_interval=0.2,
    ).train(data.output["question"], data.output["answer"])
"""


def _keys(s3: S3Server, url: str, under: str = "") -> list[str]:
    """The bucket's keys under ``<url>/<under>`` (a listing, not the objects)."""
    pre = f"{_prefix(url)}/{under}"
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=pre)
    return [o["Key"][len(_prefix(url)) + 1 :] for p in pages for o in p.get("Contents", [])]


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None and not condition():
            time.sleep(0.1)
        if proc.poll() is not None:
            raise AssertionError(f"the child ended first:\n{proc.stderr.read()[-3000:]}")
        assert condition(), "the condition did not hold in time"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _train(where, cache: Path | None, model: Path, callbacks=()):
    """The test's training (a local workspace when ``cache`` is None); returns the trainer."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune

    with DataDreamer(where, **({"cache_dir": cache, "lease_ttl": 3} if cache else {})):
        qa = DataSource("qa", QA)
        return TrainHFFineTune("resumable", model_name=str(model)).train(
            train_input=qa.output["q"],
            train_output=qa.output["a"],
            epochs=6,
            batch_size=4,
            learning_rate=1e-2,
            save_strategy="steps",
            save_steps=4,
            callbacks=list(callbacks),
        )


def _markers(s3, url) -> list[int]:
    """The steps of the complete checkpoints in the bucket (those with a marker)."""
    found = (re.match(r"^checkpoints/[^/]+/checkpoint-(\d+)\.json$", k) for k in _keys(s3, url))
    return sorted(int(m.group(1)) for m in found if m)


def test_killed_training_resumes_on_another_machine_from_the_bucket(
    tmp_path,
    s3,
    url,
    tiny_llama,  # noqa: F811
):
    a = _child(tmp_path, s3, TRAIN_CHILD, url, str(tmp_path / "a"), str(tiny_llama))
    _kill_when(a, lambda: bool(_markers(s3, url)))
    uploaded = max(_markers(s3, url))
    assert uploaded >= 4 and not _keys(s3, url, "models/"), "a killed run committed nothing"
    fp = _keys(s3, url, "checkpoints/")[0].split("/")[1]
    marker = json.loads(
        s3.client()
        .get_object(
            Bucket=BUCKET, Key=f"{_prefix(url)}/checkpoints/{fp}/checkpoint-{uploaded}.json"
        )["Body"]
        .read()
    )
    assert "trainer_state.json" in marker["files"] and marker["step"] == uploaded

    # Machine B: an empty cache; it waits out A's lease, downloads A's checkpoint, resumes.
    trainer = _train(url, tmp_path / "b", tiny_llama)
    record = trainer.record
    assert trainer.fingerprint == fp and not trainer.cache_hit
    assert record["resumed_from_step"] >= uploaded > 0
    pids = list(dict.fromkeys(e["pid"] for e in record["history"]))
    assert len(pids) == 2, "the loss history spans both machines (A's came with its checkpoint)"
    first = [e["step"] for e in record["history"] if "loss" in e and e["pid"] == pids[0]]
    steps = [e["step"] for e in record["history"] if "loss" in e and e["pid"] == pids[1]]
    assert first[0] == 1 and max(first) >= uploaded
    assert steps[0] == record["resumed_from_step"] + 1 and steps[-1] == STEPS
    assert f"models/{fp}/record.json" in _keys(s3, url, "models/")
    assert _keys(s3, url, "checkpoints/") == [], "the bucket's checkpoints go with the commit"
    assert not (tmp_path / "b" / "checkpoints" / fp).exists()


def test_tampered_checkpoint_is_refused_and_training_starts_fresh(
    tmp_path,
    s3,
    url,
    tiny_llama,  # noqa: F811
):
    from transformers import TrainerCallback

    from dreamer_lab.errors import CorruptEntryWarning, StepFailedError

    class Crash(TrainerCallback):  # machine A fails after a few checkpoints
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 14:
                raise RuntimeError("preempted")

    with pytest.raises(StepFailedError, match="preempted"):
        _train(url, tmp_path / "a", tiny_llama, [Crash()])
    # The failed run's last checkpoint is uploaded; the bucket keeps no more than the local
    # folder (save_total_limit=2 keeps 8 and 12): checkpoint-4 and its files are gone.
    local = sorted(p.name for p in (tmp_path / "a").glob("checkpoints/*/checkpoint-*"))
    assert local == ["checkpoint-12", "checkpoint-8"]
    markers = _markers(s3, url)
    assert markers[-1] == 12 and set(markers) <= {8, 12}, markers
    assert not [k for k in _keys(s3, url, "checkpoints/") if "/checkpoint-4" in k]
    for key in _keys(s3, url, "checkpoints/"):
        if key.endswith("/trainer_state.json"):  # same size, another step: refused, not used
            full = f"{_prefix(url)}/{key}"
            body = s3.client().get_object(Bucket=BUCKET, Key=full)["Body"].read()
            tampered = body.replace(b'"global_step": 1', b'"global_step": 3')
            tampered = tampered.replace(b'"global_step": 8', b'"global_step": 9')
            assert tampered != body and len(tampered) == len(body)
            s3.client().put_object(Bucket=BUCKET, Key=full, Body=tampered)

    with pytest.warns(CorruptEntryWarning, match=r"Refused the checkpoint .*checkpoint-12: file "):
        trainer = _train(url, tmp_path / "b", tiny_llama)
    assert trainer.record["resumed_from_step"] is None, "training started fresh"
    steps = [e["step"] for e in trainer.record["history"] if "loss" in e]
    assert steps[0] == 1 and steps[-1] == STEPS
    assert _keys(s3, url, "checkpoints/") == []


def test_local_workspace_runs_no_upload_code(tmp_path, tiny_llama, monkeypatch):  # noqa: F811
    from dreamer_lab.core import remote_checkpoints

    def refuse(*a, **k):
        raise AssertionError("a local workspace must not touch the checkpoint mirror")

    monkeypatch.setattr(remote_checkpoints.CheckpointMirror, "__init__", refuse)
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFFineTune

    with DataDreamer(tmp_path / "ws"):
        qa = DataSource("qa", QA)
        t = TrainHFFineTune("local", model_name=str(tiny_llama)).train(
            qa.output["q"],
            qa.output["a"],
            epochs=1,
            batch_size=8,
            save_strategy="steps",
            save_steps=1,
        )
    assert not t.cache_hit and (tmp_path / "ws" / "models" / t.fingerprint).is_dir()


ROWS = {
    "question": [f"what is {n} plus one" for n in range(12)],
    "answer": [f"{n + 1}" for n in range(12)],
}


def test_killed_finetune_finds_its_job_from_another_machine(tmp_path, s3, url, monkeypatch):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainOpenAIFineTune

    with FakeFineTuneServer(phases=(0.05, 0.05, 0.2), idle_timeout=60) as srv:
        srv.create_delay = 30.0  # the job exists (and is billed), its id never reaches A
        args = (url, str(tmp_path / "a"), srv.base_url, json.dumps(ROWS))
        a = _child(tmp_path, s3, FINETUNE_CHILD, *args, env={"OPENAI_API_KEY": API_KEY})
        _kill_when(a, lambda: srv.job_creates == 1, timeout=60)
        (state_key,) = [k for k in _keys(s3, url, "checkpoints/") if "/state/" in k]
        assert state_key.endswith("/state/openai_job.json")
        (job_id,) = srv.jobs
        srv.create_delay = 0.0

        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        with DataDreamer(url, cache_dir=tmp_path / "b", lease_ttl=3):  # machine B
            data = DataSource("qa", ROWS)
            ft = TrainOpenAIFineTune(
                "adder",
                model_name="gpt-4o-mini-2024-07-18",
                base_url=srv.base_url,
                suffix="adder",
                system_prompt="Answer with a number.",
                poll_interval=0.05,
                max_poll_interval=0.2,
            ).train(data.output["question"], data.output["answer"])
        assert ft.job_id == job_id and not ft.cache_hit
        assert srv.job_creates == 1 and srv.uploads == 1, "nothing paid twice"
        assert _keys(s3, url, "checkpoints/") == []
    everything = b"".join(s3.objects(BUCKET).values())
    assert API_KEY.encode() not in everything and s3.secret_key.encode() not in everything
