"""Whole notebooks through a real kernel (nbclient): the second run executes no step."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent / "notebooks"


def _execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def _seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata["execution"]
    start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def _workflow(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "workflow" in c.metadata.get("tags", [])]


def _stamps(nb: nbformat.NotebookNode) -> list[dict]:
    out = []
    for cell in _workflow(nb):
        for o in cell.get("outputs", []):
            stamp = o.get("metadata", {}).get("dreamer_lab")
            if stamp and stamp.get("status") != "running":
                out.append(stamp)
    return out


@pytest.mark.slow
def test_demo_notebook_second_run_executes_no_step(tmp_path, monkeypatch):
    from dreamer_lab.core.workspace import open_workspace

    ws_path = tmp_path / "ws"
    monkeypatch.setenv("DREAMER_LAB_TEST_WORKSPACE", str(ws_path))
    path = NOTEBOOKS / "demo_workflow.ipynb"

    first = _execute(path, tmp_path)
    ws = open_workspace(ws_path)
    runs_after_first = len(ws.lineage.runs())
    second = _execute(path, tmp_path)

    first_stamps, second_stamps = _stamps(first), _stamps(second)
    # numbers, digests, the memoized cell, tagged (+ the template rows it reads).
    assert len(first_stamps) == len(second_stamps) >= 4
    assert all(s["cache_hit"] is False for s in first_stamps)
    assert all(s["cache_hit"] is True for s in second_stamps)
    assert [s["fingerprint"] for s in first_stamps] == [s["fingerprint"] for s in second_stamps]
    new_runs = ws.lineage.runs()[: len(ws.lineage.runs()) - runs_after_first]
    assert new_runs and {r["status"] for r in new_runs} == {"hit"}
    # Same results, restored variables and replayed output.
    last = second.cells[-1]["outputs"][-1]
    assert "sha:" in last["data"]["text/plain"]
    memo = [c for c in _workflow(second) if c.source.startswith("%%dream\n")][0]
    assert any("found 25997 primes" in o.get("text", "") for o in memo.outputs)

    t_first = sum(_seconds(c) for c in _workflow(first))
    t_second = sum(_seconds(c) for c in _workflow(second))
    print(f"\nworkflow cells: first run {t_first:.2f}s, second run {t_second:.2f}s")
    assert t_second < t_first / 10, (t_first, t_second)
