"""The `dreamer-lab` commands README lists, each run through the real CLI entry point."""

from __future__ import annotations

import json
import re

import nbformat
from huggingface_hub import DatasetCard

from dreamer_lab import DataDreamer
from dreamer_lab.cli import main
from dreamer_lab.steps import DataSource


def _workflow(ws):
    with DataDreamer(ws):
        src = DataSource("src", {"x": [1, 2, 3]})
        doubled = src.map(lambda r: {"y": r["x"] * 2}, name="doubled")
    return src, doubled


def test_demo_runs_then_loads_every_step_from_the_workspace(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["demo", "-w", str(ws)]) == 0
    first = capsys.readouterr().out
    n = int(re.search(r"(\d+) steps, 0 loaded from cache", first).group(1))
    assert n >= 5 and (ws / "exports" / "train.jsonl").is_file()
    assert main(["demo", "-w", str(ws)]) == 0
    assert f"{n} steps, {n} loaded from cache" in capsys.readouterr().out


def test_ls_prints_name_kind_fingerprint_rows_status(tmp_path, capsys):
    ws = tmp_path / "ws"
    _src, doubled = _workflow(ws)
    assert main(["ls", "-w", str(ws)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "FINGERPRINT", "ROWS", "STATUS"]
    row = next(line for line in lines if line.startswith("doubled"))
    assert row.split()[2:] == [doubled.fingerprint[:12], "3", "fresh"]


def test_show_by_step_name_prints_record_and_sample_rows(tmp_path, capsys):
    ws = tmp_path / "ws"
    _src, doubled = _workflow(ws)
    assert main(["show", "-w", str(ws), "doubled", "--rows", "2"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out.split("\n\n3 rows", 1)[0])
    assert record["fingerprint"] == doubled.fingerprint and record["name"] == "doubled"
    assert "3 rows; first 2:" in out
    assert [json.loads(line)["y"] for line in out.splitlines()[-2:]] == [2, 4]


def test_card_writes_a_hub_data_card_for_a_step(tmp_path, capsys):
    ws = tmp_path / "ws"
    _src, doubled = _workflow(ws)
    assert main(["card", "-w", str(ws), "doubled", "-o", str(tmp_path / "card")]) == 0
    card = DatasetCard.load(tmp_path / "card" / "README.md")
    assert "doubled" in card.text and doubled.fingerprint in card.text
    assert json.loads((tmp_path / "card" / "card.json").read_text())


def test_run_injects_parameters_and_writes_the_report_next_to_the_notebook(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("rows = 2", metadata={"tags": ["parameters"]})
    work = nbformat.v4.new_code_cell(
        "from dreamer_lab import DataDreamer\n"
        "from dreamer_lab.steps import DataSource\n"
        "with DataDreamer('ws'):\n"
        "    src = DataSource('src', {'x': list(range(rows))})\n"
        "print('ROWS', len(src.output))"
    )
    nb.cells = [params, work]
    path = tmp_path / "flow.ipynb"
    nbformat.write(nb, path)
    assert main(["run", str(path), "-p", "rows=5"]) == 0
    out = capsys.readouterr().out
    report = tmp_path / "flow_report" / "report.html"
    assert f"report: {report}" in out and report.is_file()
    executed = nbformat.read(tmp_path / "flow_report" / "flow.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "ROWS 5" in printed
    assert (tmp_path / "ws" / "steps").is_dir()  # the kernel ran in the notebook's folder


def test_subcommands_are_commands_chosen_by_the_parser():
    from dreamer_lab.cli import COMMANDS, Command, build_parser

    parser = build_parser()
    by_name = {c.name: c for c in COMMANDS}
    assert list(by_name) == [
        "ls", "show", "gc", "verify", "compact", "demo", "card", "report", "export-script",
        "run",
    ]  # fmt: skip
    assert all(isinstance(c, Command) and c.help for c in COMMANDS)
    assert parser.parse_args(["ls"]).command_spec is by_name["ls"]
    run = parser.parse_args(["run", "x.ipynb"]).command_spec
    assert run is by_name["run"] and run.error_status == 1
    assert by_name["ls"].help == "list the steps in a workspace (name, fingerprint, rows, status)"
