"""Cross-process guarantees: cache hits in a new process, one computation per fingerprint,
no partial entries after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource, Step

    ws, counter, sleep, rows = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])

    class Expensive(Step):
        def setup(self):
            self.register_input("x")
            self.register_output("y")

        def run(self):
            with open(counter, "a") as f:
                f.write("ran\\n")
            time.sleep(sleep)
            return {"y": [f"row {v} " * 8 for v in self.inputs["x"]]}

    with DataDreamer(ws):
        src = DataSource("src", {"x": list(range(rows))})
        out = Expensive("expensive", inputs={"x": src.output["x"]})
        print("HIT" if out.cache_hit else "MISS", out.fingerprint, len(out.output))
    """
)


def _run(tmp_path: Path, *args: str, wait: bool = True):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), str(tmp_path / "ws"), str(tmp_path / "counter"), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _runs(tmp_path: Path) -> int:
    c = tmp_path / "counter"
    return len(c.read_text().splitlines()) if c.exists() else 0


def test_new_process_is_a_cache_hit(tmp_path):
    first = _run(tmp_path, "0", "100")
    assert first.returncode == 0, first.stderr
    second = _run(tmp_path, "0", "100")
    assert second.returncode == 0, second.stderr
    assert first.stdout.split()[0] == "MISS" and second.stdout.split()[0] == "HIT"
    assert first.stdout.split()[1] == second.stdout.split()[1]
    assert _runs(tmp_path) == 1, "the step's code did not run again"


def test_two_processes_compute_once(tmp_path):
    procs = [_run(tmp_path, "2", "50", wait=False) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = sorted(o[0].split()[0] for o in outs)
    assert results == ["HIT", "MISS"]
    assert _runs(tmp_path) == 1


def test_kill_9_while_writing_leaves_no_partial_entry(tmp_path):
    # Enough rows that writing takes a moment; kill as soon as the tmp entry appears.
    proc = _run(tmp_path, "0", "1500000", wait=False)
    tmp_dir = tmp_path / "ws" / "tmp"
    steps_dir = tmp_path / "ws" / "steps"
    deadline = time.time() + 90
    killed_during_write = False
    while time.time() < deadline and proc.poll() is None:
        # The expensive step has started (counter written) and its entry is being written.
        writing = (
            _runs(tmp_path) == 1
            and tmp_dir.is_dir()
            and any(
                p.name.count(".") >= 3 and not p.name.startswith("run.") for p in tmp_dir.iterdir()
            )
        )
        if writing:
            os.kill(proc.pid, signal.SIGKILL)
            killed_during_write = True
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert killed_during_write, "did not catch the write in progress"
    # Every visible entry is complete (has its record), whatever was being written.
    for entry in steps_dir.iterdir():
        assert (entry / "record.json").is_file(), f"partial entry {entry.name} is visible"
    again = _run(tmp_path, "0", "1500000")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.split()[0] == "MISS" and again.stdout.split()[2] == "1500000"
    leftovers = [p for p in tmp_dir.iterdir() if not p.name.startswith(".")]
    assert leftovers == [], f"tmp/ was not cleaned: {leftovers}"


def test_import_is_light():
    # What the import costs is measured in bench/ (the README's `import` row), not here: a
    # wall-clock bound fails on a loaded machine. What it pulls in is exact.
    code = textwrap.dedent(
        """
        import sys
        import dreamer_lab
        from dreamer_lab import DataDreamer
        import dreamer_lab.steps
        print([m for m in ("torch", "transformers", "datasets", "openai") if m in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"import dreamer_lab pulled in {out.stdout}"


OPEN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dreamer_lab import DataDreamer
    from dreamer_lab.core.request_cache import RequestCache

    start = float(sys.argv[2])
    while time.time() < start:
        pass
    with DataDreamer(sys.argv[1]) as dd:
        RequestCache(sys.argv[1] + "/requests.sqlite").put_many({sys.argv[3]: 1})
    """
)


def test_many_processes_open_a_new_workspace_at_once(tmp_path):
    # Two kernels starting on one new workspace together: opening its SQLite files (the
    # WAL switch) must not fail with "database is locked".
    script = tmp_path / "open.py"
    script.write_text(OPEN_SCRIPT)
    for round_ in range(4):
        ws = tmp_path / f"ws{round_}"
        start = str(time.time() + 2.0)
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(ws), start, f"k{i}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(6)
        ]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), [e[-1500:] for e in errors if e]


def test_tmp_cleanup_with_a_dotted_host_name(tmp_path, monkeypatch):
    # Cluster nodes are often named like "node1.cluster.local": partial writes of dead
    # processes on this host are removed, those of live processes are kept.
    from dreamer_lab.core import workspace

    monkeypatch.setattr(workspace.socket, "gethostname", lambda: "node1.cluster.local")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    tmp = tmp_path / "ws" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / f"fp1.node1.cluster.local.{int(dead.stdout)}.ab12").mkdir()
    (tmp / f"fp2.node1.cluster.local.{os.getpid()}.cd34").mkdir()
    workspace.Workspace(tmp_path / "ws")
    assert sorted(p.name for p in tmp.iterdir()) == [f"fp2.node1.cluster.local.{os.getpid()}.cd34"]
