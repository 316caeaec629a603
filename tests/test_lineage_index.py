"""lineage.sqlite is derived data: a corrupt index is moved aside and rebuilt from the records."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from dreamer_lab import DataDreamer, lineage
from dreamer_lab.core import sqlite_db
from dreamer_lab.core.lineage import CorruptIndexWarning
from dreamer_lab.core.workspace import open_workspace
from dreamer_lab.steps import DataSource

CLI = [sys.executable, "-m", "dreamer_lab.cli"]


def _workflow(ws: Path, n: int) -> tuple[DataSource, DataSource]:
    with DataDreamer(ws):
        src = DataSource("src", {"x": list(range(n))})
        doubled = src.map(lambda r: {"y": r["x"] * 2}, name="doubled")
    return src, doubled


def _two_versions(ws: Path) -> dict[str, str]:
    """Two runs of a two-step workflow: 4 entries, the first two stale."""
    old_src, old_dbl = _workflow(ws, 3)
    new_src, new_dbl = _workflow(ws, 4)
    assert not (ws / "lineage.sqlite-wal").exists()  # idle: everything is in the main file
    return {
        "old_src": old_src.fingerprint,
        "old_dbl": old_dbl.fingerprint,
        "new_src": new_src.fingerprint,
        "new_dbl": new_dbl.fingerprint,
    }


def _corrupt(path: Path, how: str) -> bytes:
    """Damage ``path`` the way a disk, a crash or a careless copy does; returns the new bytes."""
    data = bytearray(path.read_bytes())
    if how == "garbage":
        data = bytearray(random.Random(0).randbytes(len(data)))
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "bitflip":  # same size; every page after the first is damaged
        for i in range(4096, len(data), 97):
            data[i] ^= 0x5A
    else:
        raise ValueError(how)
    path.write_bytes(bytes(data))
    return bytes(data)


def _quarantined(ws: Path) -> list[Path]:
    q = ws / "quarantine"
    if not q.is_dir():
        return []
    return sorted(p for p in q.iterdir() if p.name.startswith("lineage.sqlite"))


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test opens its index as a new process would (no cached first-open)."""
    sqlite_db._ready.clear()
    yield
    sqlite_db._ready.clear()


@pytest.mark.parametrize("how", ["garbage", "truncated", "bitflip"])
def test_corrupt_index_is_moved_aside_and_rebuilt_when_a_step_runs(tmp_path, how):
    ws = tmp_path / "ws"
    fps = _two_versions(ws)
    damaged = _corrupt(ws / "lineage.sqlite", how)

    with pytest.warns(CorruptIndexWarning) as caught:
        src, dbl = _workflow(ws, 4)  # a workflow keeps working
    assert src.cache_hit and dbl.cache_hit
    assert len(caught) == 1
    message = str(caught[0].message)
    (moved,) = _quarantined(ws)
    assert "corrupt" in message and str(moved) in message and "rebuilt" in message
    assert "run history" in message
    # The corrupt copy is kept, byte for byte, not deleted.
    assert (moved / "lineage.sqlite").read_bytes() == damaged
    assert (moved / "QUARANTINE_REASON.txt").is_file()
    assert not any("rebuild" in p.name for p in ws.rglob("*"))  # no scratch file left

    graph = lineage(ws)
    status = {n["fingerprint"]: n["status"] for n in graph.nodes}
    assert status == {
        fps["old_src"]: "stale",
        fps["old_dbl"]: "stale",
        fps["new_src"]: "fresh",
        fps["new_dbl"]: "fresh",
    }
    assert set(graph.edges) == {
        (fps["old_src"], fps["old_dbl"]),
        (fps["new_src"], fps["new_dbl"]),
    }
    runs = open_workspace(ws).lineage.runs()
    # One 'done' run per record (rebuilt), then this session's two cache hits.
    assert sorted(r["status"] for r in runs) == ["done"] * 4 + ["hit"] * 2
    done = {r["fingerprint"]: r for r in runs if r["status"] == "done"}
    assert done[fps["new_dbl"]]["parents"] == [fps["new_src"]]
    assert done[fps["new_dbl"]]["components"]  # what the fingerprint was made of, from the record


def test_rebuilt_runs_keep_the_notebook_cell_links(tmp_path, monkeypatch):
    import dreamer_lab.steps.step as step_module
    from dreamer_lab.server.views import lineage_payload

    ctx = {"notebook": "flow.ipynb", "cell_id": "cell-7"}
    monkeypatch.setattr(step_module, "notebook_context", lambda: dict(ctx))
    ws = tmp_path / "ws"
    fps = _two_versions(ws)
    _corrupt(ws / "lineage.sqlite", "garbage")
    with pytest.warns(CorruptIndexWarning):
        open_workspace(ws)
    nodes = {n["fingerprint"]: n for n in lineage_payload(ws, "ws")["nodes"]}
    assert nodes[fps["new_dbl"]]["cell_id"] == "cell-7"
    assert nodes[fps["new_dbl"]]["notebook"] == "flow.ipynb"


def test_index_with_bad_text_in_a_row_is_rebuilt(tmp_path):
    """Same-size damage inside a row (not in SQLite's structure) is corruption too."""
    ws = tmp_path / "ws"
    fps = _two_versions(ws)
    db = sqlite3.connect(ws / "lineage.sqlite", isolation_level=None)
    db.execute("UPDATE runs SET components = CAST(X'7B22FF' AS TEXT)")  # invalid UTF-8, cut JSON
    db.close()
    with pytest.warns(CorruptIndexWarning):
        runs = open_workspace(ws).lineage.runs()
    assert {r["fingerprint"] for r in runs} == set(fps.values())


def test_missing_index_is_rebuilt_from_the_records(tmp_path):
    ws = tmp_path / "ws"
    fps = _two_versions(ws)
    (ws / "lineage.sqlite").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptIndexWarning)  # deleting it is not corruption
        graph = lineage(ws)
    assert {n["fingerprint"] for n in graph.nodes} == set(fps.values())
    assert graph.node(fps["old_src"])["status"] == "stale"


_RACER = r"""
import json, sys, time, warnings
from pathlib import Path
from dreamer_lab.core.workspace import open_workspace

ws, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.write_text("ready")
while not go.exists():
    time.sleep(0.001)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    index = open_workspace(ws).lineage
    steps = index.steps()
    index.add_run(name="racer", kind="test", fingerprint="0" * 32, status="failed")
print(json.dumps({
    "steps": len(steps),
    "warnings": [str(w.message) for w in caught if w.category.__name__ == "CorruptIndexWarning"],
}))
"""


def test_processes_finding_the_corruption_together_rebuild_it_once(tmp_path):
    ws = tmp_path / "ws"
    fps = _two_versions(ws)
    _corrupt(ws / "lineage.sqlite", "bitflip")
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(ws), str(tmp_path / f"ready{i}"), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(4)):
        assert time.time() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["steps"] == 4 for r in results)
    assert sum(len(r["warnings"]) for r in results) == 1  # one process rebuilt, once
    assert len(_quarantined(ws)) == 1
    runs = open_workspace(ws).lineage.runs()
    assert sorted(r["status"] for r in runs) == ["done"] * 4 + ["failed"] * 4
    assert {r["fingerprint"] for r in runs if r["status"] == "done"} == set(fps.values())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("how", ["garbage", "bitflip"])
def test_cli_ls_and_verify_on_a_corrupt_index(tmp_path, how):
    ws = tmp_path / "ws"
    _two_versions(ws)
    damaged = _corrupt(ws / "lineage.sqlite", how)

    ls = _cli("ls", "-w", str(ws))
    assert ls.returncode == 0, ls.stderr
    assert "Traceback" not in ls.stderr and "DatabaseError" not in ls.stderr
    assert "corrupt" in ls.stderr and "verify" in ls.stderr  # says so, and how to repair
    lines = ls.stdout.splitlines()
    for word in ("src", "doubled", "stale", "fresh"):
        assert sum(word in line for line in lines) == 2, (word, ls.stdout)
    # ls is a reader: it changes nothing.
    assert (ws / "lineage.sqlite").read_bytes() == damaged and not _quarantined(ws)

    verify = _cli("verify", "-w", str(ws))
    assert verify.returncode == 0, verify.stderr
    assert "4 entries checked, 0 corrupt." in verify.stdout
    assert "CorruptIndexWarning" in verify.stderr and "rebuilt" in verify.stderr
    assert "Traceback" not in verify.stderr
    (moved,) = _quarantined(ws)
    assert (moved / "lineage.sqlite").read_bytes() == damaged

    again = _cli("ls", "-w", str(ws), "--json")
    assert again.returncode == 0 and "corrupt" not in again.stderr
    assert len(json.loads(again.stdout)["nodes"]) == 4


def test_cli_ls_creates_nothing(tmp_path):
    ws = tmp_path / "ws"
    _two_versions(ws)
    (ws / "lineage.sqlite").unlink()
    before = sorted(os.listdir(ws))
    ls = _cli("ls", "-w", str(ws))
    assert ls.returncode == 0, ls.stderr
    assert sum("src" in line for line in ls.stdout.splitlines()) == 2
    assert sorted(os.listdir(ws)) == before
