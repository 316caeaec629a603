"""Notebook reports and exported scripts, on a notebook executed by a real kernel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fake_keys import fake_key
from huggingface_hub import DatasetCard

from dreamer_lab.cli import main
from dreamer_lab.report import export_script, write_report
from tests.workflow_fixtures import SECRET

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    ("markdown", "# My workflow\n<script>alert('md')</script> Some *notes*."),
    ("code", "import os\nfrom dreamer_lab import DataDreamer\nfrom tests.workflow_fixtures import build_workflow"),
    ("code", "print('key:', os.environ['OPENAI_API_KEY'])"),
    ("code", "from dreamer_lab.cards import card_for\n"
             "with DataDreamer('ws'):\n    steps = build_workflow()\n    kept = steps['kept']\n"
             "    card_for(kept, intended_use='Teaching a parser <b>my</b> words.')"
             ".save('cards/kept')"),
    ("code", "from IPython.display import HTML, Markdown\n"
             "display(HTML(kept.output['text'][0]))\n"
             "display(Markdown('## out <img src=x onerror=alert(2)>'))\n"
             "kept.output['text'][0]"),
]  # fmt: skip


def _notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(maker(src))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook above, executed headless by nbclient in its own folder."""
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("nbrun")
    env = {
        "OPENAI_API_KEY": SECRET,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "JPY_SESSION_NAME": str(folder / "flow.ipynb"),
        "DREAMER_LAB_SIGNING_KEY_FILE": str(folder / "signing.key"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = _notebook(CELLS)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()  # fmt: skip
        path = folder / "flow.ipynb"
        nbformat.write(nb, path)
        yield path
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text() for p in folder.rglob("*") if p.is_file())


def test_report_files_structure_and_embedded_json(executed, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    paths = write_report(executed, tmp_path / "out", workspace=executed.parent / "ws")
    html = paths["html"].read_text()
    report = json.loads(paths["json"].read_text())
    # Self-contained: no external resource, and the only <script> is the inert JSON block.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert re.findall(r"<script[^>]*>", html) == [
        '<script type="application/json" id="dreamer-lab-report">'
    ]
    embedded = re.search(r'id="dreamer-lab-report">(.*?)</script>', html, re.DOTALL).group(1)
    assert json.loads(embedded) == report
    # Model output and cell HTML never become markup.
    assert "<img src=x" not in html and "onerror=alert(2)>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#x27;md&#x27;)" in html or "&lt;script&gt;alert('md')" in html
    # Lineage with fingerprints and cache status, run record, cards.
    names = [n["name"] for n in report["lineage"]["nodes"]]
    assert names == ["topics", "generate", "kept"]
    assert set(report["expected_fingerprints"]) == {"topics", "generate", "kept"}
    for n in report["lineage"]["nodes"]:
        assert n["fingerprint"] in html and n["cache_hit"] is False
    assert "<svg" in html and report["lineage"]["mermaid"].startswith("flowchart TD")
    run = report["run"]
    assert run["versions"]["installed"]["datasets"] and run["hardware"]["cpus"]
    assert run["timings"]["notebook_seconds"] is not None
    assert [c["name"] for c in report["cards"]] == ["kept"]
    card_md = paths[f"card:{report['cards'][0]['slug']}"]
    assert DatasetCard.load(card_md).data.license == "apache-2.0"
    # The card the notebook saved, with the user's text, and no placeholder instructions.
    assert "Teaching a parser &lt;b&gt;my&lt;/b&gt; words." in html
    assert "Edit this section" not in html
    # Markdown report: same sections, hostile text only inside fences.
    md = paths["markdown"].read_text()
    for h in ("## Run record", "## Lineage", "## Notebook", "## Cards"):
        assert h in md
    assert "<script>alert('md')" not in md and "&lt;script>alert('md')" in md
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(md)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any("Injected" in h or "Another" in h for h in headings)
    assert "<h1>Injected" not in html and "<h2>Another" not in html


def test_no_secret_in_any_output(executed, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert SECRET in executed.read_text()  # the notebook printed it...
    write_report(executed, tmp_path / "out", workspace=executed.parent / "ws")
    (tmp_path / "flow.py").write_text(export_script(executed, executed.parent / "ws"))
    everything = _all_text(tmp_path)
    assert SECRET not in everything  # ...the report, cards and script do not
    assert "REDACTED" in everything


def test_hide_inputs(executed, tmp_path):
    paths = write_report(executed, tmp_path, hide_inputs=True, workspace=executed.parent / "ws")
    html = paths["html"].read_text()
    assert "build_workflow()" not in html and "Code inputs are hidden" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # outputs stay


def _run_script(script: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DREAMER_LAB_SIGNING_KEY_FILE=str(cwd / "k"))
    env.pop("DREAMER_LAB_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_exported_script_reproduces_fingerprints(executed, tmp_path):
    script = tmp_path / "flow.py"
    assert main(["export-script", str(executed), "-o", str(script)]) == 0
    text = script.read_text()
    compile(text, str(script), "exec")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = _run_script(script, fresh)  # a fresh workspace: every step recomputes
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK: all 3 step fingerprints match" in result.stdout
    assert (fresh / "ws" / "steps").is_dir()


def test_exported_script_detects_a_changed_workflow(executed, tmp_path):
    nb = nbformat.read(executed, as_version=4)
    expected = json.loads(
        re.search(
            r"_EXPECTED_FINGERPRINTS = (\{.*?\n\})", export_script(executed), re.DOTALL
        ).group(1)
    )
    nb.cells[3].source = nb.cells[3].source.replace(
        "steps = build_workflow()",
        "steps = build_workflow()\n    kept = steps['generate'].filter(lambda r: True, name='kept')",
    )
    changed = tmp_path / "changed.ipynb"
    nbformat.write(nb, changed)
    script = tmp_path / "changed.py"
    script.write_text(export_script(changed, expected=expected))
    result = _run_script(script, tmp_path)
    assert result.returncode == 1
    assert "FINGERPRINT MISMATCH" in result.stderr and "'kept'" in result.stderr


def test_stamps_and_magics_in_exported_script(tmp_path):
    nb = _notebook(
        [
            ("code", "%load_ext dreamer_lab\n!ls\nx = 1"),
            ("code", "%%dream rows = DataSource(data={'a': [1]})\n"),
        ]
    )
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "rows"},
        metadata={"dreamer_lab": {"fingerprint": "f" * 32, "step": "rows", "status": "done"}},
    )]  # fmt: skip
    path = tmp_path / "m.ipynb"
    nbformat.write(nb, path)
    text = export_script(path)
    compile(text, "m.py", "exec")
    assert "_load_dreamer_extension()" in text and "pass  # (not run: IPython syntax) !ls" in text
    assert "_dream(\"rows = DataSource(data={'a': [1]})\", '')" in text
    assert '"rows": "' + "f" * 32 + '"' in text


def test_cli_report_and_bad_notebook(executed, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["report", str(executed), "-o", str(out), "-w", str(executed.parent / "ws")])
    assert code == 0 and (out / "report.html").is_file() and (out / "report.md").is_file()
    assert "Report:" in capsys.readouterr().out
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    assert main(["report", str(bad), "-o", str(out)]) == 2
    assert "not a readable Jupyter notebook" in capsys.readouterr().err


def test_parameter_values_are_defaults_overridden_by_injected_ones():
    from dreamer_lab.report.run_record import parameters

    key = fake_key("param")
    cells = [
        {
            "source": "rows = 32\nmodel = 'smollm2'\nlabels = ['a', 'b']\nx = f(1)",
            "tags": ["parameters"],
        },
        {"source": f"rows = 12\napi_key = {key!r}", "tags": ["injected-parameters"]},
        {"source": "rows = 99", "tags": []},
    ]
    out = parameters({"metadata": {}}, cells)
    assert out["values"]["rows"] == 12 and out["values"]["model"] == "smollm2"
    assert out["values"]["labels"] == ["a", "b"] and "x" not in out["values"]
    assert key not in str(out["values"])
    # The Markdown report shows them as a table, then the two cells as code.
    from dreamer_lab.report.markdown import _parameters_lines

    text = "\n".join(_parameters_lines(out))
    assert "| `rows` | 12 |" in text and "| `labels` | \\['a', 'b'\\] |" in text
    assert "Injected parameters:" in text and "```python\nrows = 12" in text
    assert key not in text and '"values"' not in text
