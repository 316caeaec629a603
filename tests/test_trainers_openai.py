"""TrainOpenAIFineTune against a local double of the fine-tuning API, with the real client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
from fake_keys import fake_key
from openai_finetune_server import API_KEY, FakeFineTuneServer

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource

ROWS = {
    "question": [f"what is {n} plus one" for n in range(12)],
    "answer": [f"{n + 1}" for n in range(12)],
}


@pytest.fixture
def server():
    with FakeFineTuneServer(phases=(0.05, 0.05, 0.2), idle_timeout=60) as srv:
        yield srv


def _trainer(srv, **kw):
    from dreamer_lab.trainers import TrainOpenAIFineTune

    opts = dict(
        model_name="gpt-4o-mini-2024-07-18",
        base_url=srv.base_url,
        api_key=API_KEY,
        suffix="adder",
        system_prompt="Answer with a number.",
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    opts.update(kw)
    return TrainOpenAIFineTune("adder", **opts)


def _workspace_bytes(ws: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(ws.rglob("*")) if p.is_file())


def test_finetune_job_succeeds_and_model_is_usable(workspace, server):
    data = DataSource("qa", ROWS)
    val = DataSource("qa val", {k: v[:3] for k, v in ROWS.items()})
    ft = _trainer(server).train(
        data.output["question"],
        data.output["answer"],
        val.output["question"],
        val.output["answer"],
        epochs=2,
    )
    assert ft.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:dreamer-lab:adder:")
    assert ft.model == ft.fine_tuned_model
    assert server.uploads == 2 and server.job_creates == 1
    job = server.jobs[ft.job_id]
    assert job["hyperparameters"]["n_epochs"] == 2 and job["suffix"] == "adder"
    lines = server.files[job["training_file"]].decode().splitlines()
    assert len(lines) == 12
    assert json.loads(lines[3])["messages"] == [
        {"role": "system", "content": "Answer with a number."},
        {"role": "user", "content": "what is 3 plus one"},
        {"role": "assistant", "content": "4"},
    ]
    losses = [h["loss"] for h in ft.loss_history if "loss" in h]
    assert len(losses) == 3 and losses == sorted(losses, reverse=True)
    rec = ft.record
    assert rec["openai"]["trained_tokens"] > 0 and rec["metrics"]["train_loss"] == losses[-1]
    assert (ft.model_path / "openai_model.json").is_file()

    before = server.retrieves + server.uploads + server.job_creates
    again = _trainer(server).train(
        data.output["question"],
        data.output["answer"],
        val.output["question"],
        val.output["answer"],
        epochs=2,
    )
    assert again.cache_hit and again.fine_tuned_model == ft.fine_tuned_model
    assert server.retrieves + server.uploads + server.job_creates == before  # no API calls

    llm = ft.llm()
    assert llm.run(["what is 9 plus one"], verbose=False) == ["echo: what is 9 plus one"]
    assert server.bodies[-1]["model"] == ft.fine_tuned_model
    assert server.bodies[-1]["messages"][0]["content"] == "Answer with a number."
    assert API_KEY.encode() not in _workspace_bytes(workspace)


RESUME_SCRIPT = """
import sys
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainOpenAIFineTune

ws, url, rows = sys.argv[1], sys.argv[2], __import__("json").loads(sys.argv[3])
with DataDreamer(ws):
    data = DataSource("qa", rows)
    TrainOpenAIFineTune(
        "adder", model_name="gpt-4o-mini-2024-07-18", base_url=url, suffix="adder",
        system_prompt="Answer with a number.", poll_interval=0.05, max_poll_interval=0.2,
    ).train(data.output["question"], data.output["answer"])
"""


def _train_in_a_process_killed_when(ws: Path, srv: FakeFineTuneServer, condition) -> None:
    """Train in another process and ``kill -9`` it as soon as ``condition()`` holds."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, str(ws), srv.base_url, json.dumps(ROWS)],
        env={**os.environ, "OPENAI_API_KEY": API_KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not condition() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert condition(), proc.stderr.read().decode() if proc.poll() is not None else ""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def test_finetune_polling_resumes_in_a_new_process_and_object(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.trainers.train_openai_finetune import FineTunePendingError

    ws = tmp_path / "ws"
    with FakeFineTuneServer(phases=(0.1, 0.1, 1.5), idle_timeout=60) as srv:
        _train_in_a_process_killed_when(ws, srv, lambda: srv.retrieves >= 2)  # job running
        assert srv.job_creates == 1 and srv.uploads == 1
        (job_id,) = srv.jobs
        saved = list(ws.glob("checkpoints/*/openai_job.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["job_id"] == job_id

        with DataDreamer(ws):
            data = DataSource("qa", ROWS)
            impatient = _trainer(srv, poll_timeout=0.2, api_key=None)
            os.environ["OPENAI_API_KEY"] = API_KEY
            try:
                with pytest.raises(FineTunePendingError, match="resume polling"):
                    impatient.train(data.output["question"], data.output["answer"])
                ft = _trainer(srv).train(data.output["question"], data.output["answer"])
            finally:
                del os.environ["OPENAI_API_KEY"]
        assert ft.job_id == job_id and not ft.cache_hit
        assert srv.job_creates == 1 and srv.uploads == 1  # nothing paid twice
        assert ft.fine_tuned_model == srv.jobs[job_id]["fine_tuned_model"]
        assert not saved[0].exists()  # the checkpoint folder goes once the model is committed


def test_kill_between_job_creation_and_saving_its_id_creates_no_second_job(tmp_path):
    # The API has created the job (and will bill for it) but the process dies before the
    # reply arrives, so the job id was never saved: the rerun must find that job by the
    # request token saved beforehand, not create another.
    from dreamer_lab import DataDreamer

    ws = tmp_path / "ws"
    with FakeFineTuneServer(phases=(0.05, 0.05, 0.2), idle_timeout=60) as srv:
        srv.create_delay = 30.0
        _train_in_a_process_killed_when(ws, srv, lambda: srv.job_creates == 1)
        (saved,) = ws.glob("checkpoints/*/openai_job.json")
        state = json.loads(saved.read_text())
        assert "job_id" not in state and state["request"] and state["training_file"]
        (job_id,) = srv.jobs
        srv.create_delay = 0.0
        with DataDreamer(ws):
            os.environ["OPENAI_API_KEY"] = API_KEY
            try:
                data = DataSource("qa", ROWS)
                ft = _trainer(srv).train(data.output["question"], data.output["answer"])
            finally:
                del os.environ["OPENAI_API_KEY"]
        assert ft.job_id == job_id and srv.lists == 1
        assert srv.job_creates == 1 and srv.uploads == 1  # nothing paid twice
        assert srv.jobs[job_id]["metadata"] == {"dreamer_lab_request": state["request"]}


def test_bad_api_key_is_rejected_without_echoing_it(workspace, server, monkeypatch):
    data = DataSource("qa", ROWS)
    bad = fake_key("wrong")
    with pytest.raises(StepInputError, match="API key was rejected") as info:
        _trainer(server, api_key=bad).train(data.output["question"], data.output["answer"])
    shown = "".join(traceback.format_exception(info.value))
    assert bad not in shown and bad[-8:] not in shown
    assert server.auth_headers == [f"Bearer {bad}"]  # one refused upload, no retries, no job
    assert server.job_creates == 0
    assert bad.encode() not in _workspace_bytes(workspace)

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(StepInputError, match="OPENAI_API_KEY"):
        _trainer(server, api_key=None).train(data.output["question"], data.output["answer"])
    with pytest.raises(StepInputError, match="at least 10"):
        few = DataSource("few", {k: v[:4] for k, v in ROWS.items()})
        _trainer(server).train(few.output["question"], few.output["answer"])
    assert len(server.auth_headers) == 1  # neither reached the server


def test_failed_job_reports_and_retrains_transient_errors_retried(workspace, server):
    from dreamer_lab.trainers.train_openai_finetune import FineTuneFailedError

    data = DataSource("qa", ROWS)
    server.fail_next_job = "The training file contains unsafe content."
    with pytest.raises(FineTuneFailedError, match="failed \\(invalid_training_file\\).*unsafe"):
        _trainer(server).train(data.output["question"], data.output["answer"])
    assert server.job_creates == 1
    assert not list(workspace.glob("checkpoints/*/openai_job.json"))  # a new job next time

    server.ft_faults = [500, 429]  # the client retries these with backoff
    ft = _trainer(server).train(data.output["question"], data.output["answer"])
    assert server.job_creates == 2 and ft.job_id != next(iter(server.jobs))
    assert server.statuses[500] >= 1 and server.statuses[429] >= 1

    with pytest.raises(FineTuneFailedError, match="not available for fine-tuning"):
        _trainer(server, model_name="gpt-5-nonexistent").train(
            data.output["question"], data.output["answer"]
        )


def test_requests_use_the_one_retry_policy(workspace, server):
    from dreamer_lab.errors import FineTunePendingError

    data = DataSource("qa", ROWS)
    trainer = _trainer(server, max_retries=1)
    assert trainer._client().max_retries == 0  # the client never retries by itself
    server.ft_faults = [500] * 5
    with pytest.raises(FineTunePendingError, match="server error 500 after 2 attempts"):
        trainer.train(data.output["question"], data.output["answer"])
    assert server.statuses[500] == 2 and server.uploads == 0  # max_retries + 1 attempts
    server.ft_faults = [429]  # Retry-After: 0, then the upload goes through
    ft = _trainer(server, max_retries=1).train(data.output["question"], data.output["answer"])
    assert server.statuses[429] == 1 and ft.fine_tuned_model.startswith("ft:")
