"""Kill a model-calling step halfway, resume it, rerun it: what every provider must show.

``kill_resume_rerun`` runs a ``Prompt`` (or ``Embed``) step over ``rows`` rows in a child
process with a backend built by ``factory`` (Python source defining ``make(url)``),
against a local test server; kills the child with SIGKILL once the server has answered
``kill_after`` requests; resumes the step in this process and checks that only the
requests the killed run had not committed are sent again; then checks that a rerun of
the step and of the backend's ``run`` are cache hits; and that no secret (API keys are
passed through the environment only) is in any file the runs wrote.
"""

from __future__ import annotations

import os
import runpy
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import runpy, sys
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource, Embed, Prompt

ws, url, factory, kind, rows = sys.argv[1:6]
make = runpy.run_path(factory)["make"]
with DataDreamer(ws):
    src = DataSource("inputs", {"p": [f"row {i}" for i in range(int(rows))]})
    if kind == "prompt":
        Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": make(url)})
    else:
        Embed("embed", inputs={"texts": src.output["p"]},
              args={"embedder": make(url), "batch_size": 10})
"""


def _step(kind: str, backend: Any, rows: int) -> Any:
    from dreamer_lab.steps import DataSource, Embed, Prompt

    src = DataSource("inputs", {"p": [f"row {i}" for i in range(rows)]})
    if kind == "prompt":
        return Prompt("generate", inputs={"prompts": src.output["p"]}, args={"llm": backend})
    return Embed(
        "embed", inputs={"texts": src.output["p"]}, args={"embedder": backend, "batch_size": 10}
    )


def kill_resume_rerun(
    tmp_path: Path,
    factory: str,
    url: str,
    *,
    answered: Callable[[], int],
    cache_file: str,
    expected: Callable[[list[Any]], bool],
    secrets: list[str],
    env: dict[str, str] | None = None,
    kind: str = "prompt",
    rows: int = 200,
    kill_after: int = 100,
    lost_at_most: int = 24,
) -> dict[str, int]:
    """Run the whole scenario; ``answered()`` counts the inputs the server has answered
    (generations, or texts embedded). Returns the counts it measured."""
    from dreamer_lab import DataDreamer

    ws = tmp_path / "ws"
    factory_file = tmp_path / "factory.py"
    factory_file.write_text(textwrap.dedent(factory))
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(_CHILD))
    child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(child), str(ws), url, str(factory_file), kind, str(rows)],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while answered() < kill_after and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    time.sleep(0.3)  # the server finishes what the killed client left in flight
    first = answered()
    assert kill_after <= first < rows, f"killed after {first} of {rows}"

    db = sqlite3.connect(ws / "requests" / f"{cache_file}.sqlite")
    cached = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    db.close()
    # Committed per batch: at most the batch being collected and the requests in flight.
    assert first - lost_at_most <= cached <= first, (first, cached)

    old_env = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        make = runpy.run_path(str(factory_file))["make"]
        with DataDreamer(ws):
            step = _step(kind, make(url), rows)
            out = step.output["generations" if kind == "prompt" else "embeddings"].to_list()
        resumed = answered() - first
        # Exactly the requests the killed run had not committed; none paid twice here.
        assert resumed == rows - cached, (resumed, rows, cached)
        assert expected(out), out[:3]
        assert len(out) == rows

        # A rerun of the step loads it from the workspace; the backend alone hits the cache.
        before = answered()
        with DataDreamer(ws):
            backend = make(url)
            again = _step(kind, backend, rows)
            assert again.fingerprint == step.fingerprint
            inputs = [f"row {i}" for i in range(rows)]
            if kind == "prompt":
                assert backend.run(inputs, verbose=False) == out
                assert backend.last_usage.cached == rows and backend.last_usage.requests == 0
            else:
                backend.run(inputs)
                assert backend.cached_count == rows and backend.computed_count == 0
        assert answered() == before, "a rerun sent requests"
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    leaked = [
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert leaked == [], f"a secret is on disk in {leaked}"
    return {"first": first, "cached": cached, "resumed": resumed}
