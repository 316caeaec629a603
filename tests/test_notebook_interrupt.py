"""Interrupting a real kernel while a Prompt step calls a model (the local OpenAI-compatible
server, with latency): the live view shows progress with an ETA, then ``interrupted``; the
cell ends in one line, not a traceback through dreamer_lab; no request is sent after the
interrupt; and running the cell again repeats none of the finished rows (request-cache hits).

The step is built both ways a user writes it: plain Python and a ``%dream`` line.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from openai_server import API_KEY, FakeOpenAIServer

ROWS = 32
CONCURRENCY = 4
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SETUP = """\
%load_ext dreamer_lab
import json
from dreamer_lab.llms import OpenAI
from dreamer_lab.steps import DataSource, Prompt
llm = OpenAI("gpt-4o-mini", base_url={base_url!r}, max_concurrency={concurrency})
q = DataSource("questions", {{"q": [f"question {{i}}" for i in range({rows})]}})
"""
CELLS = {
    "plain": 'out = Prompt("answers", inputs={"prompts": q.output["q"]}, '
    'args={"llm": llm, "max_new_tokens": 8})',
    "dream": '%dream out = Prompt(name="answers", prompts=q.output["q"], llm=llm, max_new_tokens=8)',
}


@pytest.fixture
def kernel(tmp_path):
    import os

    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, OPENAI_API_KEY=API_KEY)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc, code: str, *, on_message=None, timeout: float = 180) -> dict:
    """Run ``code``; returns its outputs, widget states and reply (``on_message(msgs)``
    is called after each message of this cell)."""
    msg_id = kc.execute(code)
    got: dict = {"views": [], "errors": [], "stream": "", "states": [], "plain": []}
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        if kind in ("display_data", "update_display_data", "execute_result"):
            stamp = (content.get("metadata") or {}).get("dreamer_lab")
            if stamp:
                got["views"].append((kind, stamp))
            got["plain"].append(content["data"].get("text/plain", ""))
        elif kind == "error":
            got["errors"].append(content)
        elif kind == "stream":
            got["stream"] += content["text"]
        elif kind == "comm_msg" and (content.get("data") or {}).get("method") == "update":
            got["states"].append(content["data"].get("state") or {})
        if on_message is not None:
            on_message(got)
    while True:  # the shell channel may still hold the kernel_info reply from the start
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            got["reply"] = reply["content"]
            return got


@pytest.mark.parametrize("form", ["plain", "dream"])
def test_interrupting_a_prompt_keeps_finished_rows_and_ends_in_one_line(kernel, form):
    km, kc = kernel
    with FakeOpenAIServer(latency=0.5, idle_timeout=300, api_key=API_KEY) as server:
        setup = execute(
            kc, SETUP.format(base_url=server.base_url, concurrency=CONCURRENCY, rows=ROWS)
        )
        assert setup["reply"]["status"] == "ok", setup
        interrupted: list[float] = []

        def interrupt_once_it_shows_progress(got: dict) -> None:
            running = any(s["status"] == "running" for _, s in got["views"])
            eta = any(st.get("eta") for st in got["states"])
            if not interrupted and running and eta and server.served >= 2 * CONCURRENCY:
                interrupted.append(time.monotonic())
                km.interrupt_kernel()

        first = execute(kc, CELLS[form], on_message=interrupt_once_it_shows_progress)
        assert interrupted, f"the view never showed progress with an ETA: {first}"
        # The view went from running (with progress and an ETA) to interrupted ...
        statuses = [s["status"] for _, s in first["views"]]
        assert statuses[0] == "running" and statuses[-1] == "interrupted", statuses
        assert all(s["step"] == "answers" for _, s in first["views"])
        progress = [st["progress"] for st in first["states"] if st.get("progress") is not None]
        assert any(0 < p < 1 for p in progress), progress
        # ... and the cell ended in one line naming what happened and what to do.
        assert first["reply"]["status"] == "error", first
        (error,) = first["errors"]
        assert error["ename"] == "StepInterrupted"
        text = ANSI.sub("", "\n".join(error["traceback"]))
        assert len(text.splitlines()) == 1, text
        assert "run the cell again to resume" in text
        assert "Traceback" not in text and "dreamer_lab/" not in text
        # No request goes out after the interrupt (the requests in flight were cancelled).
        sent = server.requests
        time.sleep(1.5)
        assert server.requests == sent, "requests went on after the interrupt"
        assert server.requests < ROWS
        served_before = server.served
        server.settle()

        second = execute(kc, CELLS[form])
        assert second["reply"]["status"] == "ok", second
        assert second["views"][-1][1]["status"] == "computed"
        usage = execute(kc, "print(json.dumps(llm.last_usage.to_dict()))")
        counts = json.loads(usage["stream"])
        # The rows finished before the interrupt came from the request cache; only the
        # rest (and the few cut off in flight) were sent again.
        assert counts["cached"] + counts["requests"] == ROWS
        assert counts["cached"] >= served_before - CONCURRENCY and counts["cached"] > 0
        repeated = [p for p, n in server.prompts.items() if n > 1]
        assert len(repeated) <= CONCURRENCY, repeated
        answers = execute(kc, "print(json.dumps(out.output['generations'].to_list()))")
        assert json.loads(answers["stream"]) == [f"echo: question {i}" for i in range(ROWS)]


SMOLLM2_SETUP = """\
%load_ext dreamer_lab
import json
from dreamer_lab.llms import HFTransformers
from dreamer_lab.steps import DataSource, Prompt
llm = HFTransformers("smollm2")
q = DataSource("questions", {"q": [f"Name a colour, number {i}." for i in range(6)]})
"""
SMOLLM2_CELL = (
    'out = Prompt("colours", inputs={"prompts": q.output["q"]}, '
    'args={"llm": llm, "max_new_tokens": 12, "batch_size": 1})'
)


@pytest.mark.slow
def test_interrupting_smollm2_generation_keeps_the_finished_rows(kernel):
    """The same with the embedded SmolLM2 generating in the kernel's own thread."""
    km, kc = kernel
    assert execute(kc, SMOLLM2_SETUP)["reply"]["status"] == "ok"
    interrupted: list[bool] = []

    def interrupt_once_it_shows_an_eta(got: dict) -> None:
        if not interrupted and any(st.get("eta") for st in got["states"]):
            interrupted.append(True)
            km.interrupt_kernel()

    first = execute(kc, SMOLLM2_CELL, on_message=interrupt_once_it_shows_an_eta, timeout=600)
    assert interrupted, first
    assert first["reply"]["status"] == "error"
    (error,) = first["errors"]
    text = ANSI.sub("", "\n".join(error["traceback"]))
    assert error["ename"] == "StepInterrupted" and len(text.splitlines()) == 1, text
    assert [s["status"] for _, s in first["views"]][-1] == "interrupted"
    done = max(st["progress"] for st in first["states"] if st.get("progress") is not None)
    assert 0 < done < 1

    second = execute(kc, SMOLLM2_CELL, timeout=600)
    assert second["reply"]["status"] == "ok", second
    counts = json.loads(execute(kc, "print(json.dumps(llm.last_usage.to_dict()))")["stream"])
    # The rows generated before the interrupt were request-cache hits, not generated again.
    assert counts["cached"] >= round(done * 6) >= 2 and counts["cached"] + counts["requests"] == 6
