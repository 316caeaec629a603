"""Lineage queries and the dreamer-lab command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dreamer_lab import DataDreamer, lineage
from dreamer_lab.cli import main
from dreamer_lab.steps import DataSource


def _workflow(ws, factor):
    with DataDreamer(ws):
        src = DataSource("src", {"x": [1, 2, 3]})
        scaled = src.map(lambda r: {"y": r["x"] * factor}, name="scaled")
        top = scaled.filter(lambda r: r["y"] > 2, name="top")
    return src, scaled, top


def test_lineage_nodes_edges_and_staleness(tmp_path):
    ws = tmp_path / "ws"
    src, scaled, top = _workflow(ws, 2)
    graph = lineage(ws)
    assert [n["name"] for n in graph.nodes] == ["src", "scaled", "top"]
    assert set(graph.edges) == {
        (src.fingerprint, scaled.fingerprint),
        (scaled.fingerprint, top.fingerprint),
    }
    assert {n["status"] for n in graph.nodes} == {"fresh"}
    assert graph.node("top")["rows"] == 2

    _, scaled3, top3 = _workflow(ws, 3)  # a changed map: new versions of scaled and top
    graph = lineage(ws)
    old_scaled = graph.node(scaled.fingerprint)
    assert old_scaled["status"] == "stale" and "newer run of 'scaled'" in old_scaled["stale_reason"]
    assert graph.node(scaled3.fingerprint)["status"] == "fresh"
    assert graph.node(top3.fingerprint)["status"] == "fresh"
    assert "flowchart TD" in graph.to_mermaid()


def test_index_survives_deletion_of_sqlite(tmp_path):
    ws = tmp_path / "ws"
    _workflow(ws, 2)
    (ws / "lineage.sqlite").unlink()
    for extra in ("lineage.sqlite-wal", "lineage.sqlite-shm"):
        (ws / extra).unlink(missing_ok=True)
    src, scaled, top = _workflow(ws, 2)
    assert top.cache_hit
    assert len(lineage(ws).nodes) == 3


def test_cli_help_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "dreamer-lab 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for sub in ("ls", "show", "gc", "verify"):
        assert sub in out


def test_cli_ls_show_verify_gc(tmp_path, capsys):
    ws = tmp_path / "ws"
    _workflow(ws, 2)
    _, _, top3 = _workflow(ws, 3)
    assert main(["ls", "-w", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "scaled" in out and "stale" in out and "fresh" in out

    assert main(["show", "-w", str(ws), top3.fingerprint[:10]]) == 0
    out = capsys.readouterr().out
    assert '"name": "top"' in out and "rows" in out

    assert main(["verify", "-w", str(ws)]) == 0
    assert "0 corrupt" in capsys.readouterr().out

    assert main(["gc", "-w", str(ws)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 unreferenced entries, freed")
    # The current workflow is intact and still a cache hit.
    _, _, again = _workflow(ws, 3)
    assert again.cache_hit
    assert main(["ls", "-w", str(ws), "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    assert {n["status"] for n in nodes} == {"fresh"} and len(nodes) == 3

    # verify catches a changed file.
    arrow = next((ws / "steps" / again.fingerprint / "data").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:-8] + b"XXXXXXXX")
    assert main(["verify", "-w", str(ws)]) == 1
    assert "CORRUPT" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "dreamer_lab", "ls", "-w", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "is not a dreamer_lab workspace" in out.stderr and "Traceback" not in out.stderr
