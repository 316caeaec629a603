"""The model-switch notebook (notebooks/model_switch.ipynb): one workflow on a commercial model
and on the embedded SmolLM2, compared side by side in the report.

The commercial model is Anthropic's Messages API on a local server (tests/provider_servers.py,
reached through litellm's real client), with the key only in the environment. Its replies
carry a ``<script>`` element, which must stay text everywhere: in the notebook's HTML output
(pandas escapes) and in the HTML and Markdown reports. A second run loads every step from
the workspace and sends no request.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from fake_keys import fake_key
from markdown_it import MarkdownIt

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "model_switch.ipynb"
MODEL = "claude-3-5-haiku-20241022"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
ROWS = 2
MAX_NEW_TOKENS = 24  # the notebook's default
SCRIPT = "<script>alert('switch')</script>"

pytestmark = pytest.mark.slow


def reply(prompt: str, i: int = 0) -> str:
    """The server's answer: its deterministic echo, behind markup that must stay text."""
    from provider_servers import AnthropicServer

    return f"{SCRIPT} {AnthropicServer.reply_for(prompt, i)}"


def _norm(text: str) -> str:
    return " ".join(str(text).split())


class _Tables(HTMLParser):
    """Every table of an HTML text as rows of cell texts; every start tag too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(_norm("".join(self._cell)))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def _table(tables: list[list[list[str]]], first: str) -> list[list[str]]:
    """The table whose header starts with ``first``."""
    found = [t for t in tables if t and t[0] and t[0][0] == first]
    assert len(found) == 1, [t[0] for t in tables if t]
    return found[0]


def _markdown_tables(markdown: str) -> list[list[list[str]]]:
    """The tables shown in a Markdown report: its fenced outputs, rendered as Markdown."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tables = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "fence" and token.content.lstrip().startswith("| "):
            tables += _parse(md.render(token.content)).tables
    return tables


def _rows(folder: Path, name: str) -> dict[str, list]:
    from dreamer_lab.cards.upstream import resolve
    from dreamer_lab.core.workspace import open_workspace

    ws = open_workspace(folder / "dreamer_workspace")
    return ws.steps.load(resolve(name, ws)).dataset().to_dict()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The notebook run twice on the same local Anthropic server, in one fresh folder."""
    from provider_servers import AnthropicServer

    from dreamer_lab.runner import run_notebook

    folder = tmp_path_factory.mktemp("model_switch")
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    key = fake_key("model-switch")
    with pytest.MonkeyPatch.context() as mp, AnthropicServer(api_key=key, idle_timeout=600) as srv:
        mp.setenv("ANTHROPIC_API_KEY", key)  # the kernel inherits it
        mp.delenv("ANTHROPIC_BASE_URL", raising=False)
        mp.setenv("DREAMER_LAB_SIGNING_KEY_FILE", str(folder / "signing.key"))
        mp.delenv("DREAMER_LAB_WORKSPACE", raising=False)
        srv.responder = reply
        params = {"commercial": f"anthropic:{MODEL}@{srv.base_url}", "rows": ROWS}
        nb = folder / NOTEBOOK.name
        first = run_notebook(nb, folder / "run1", parameters=params, verbose=False)
        sent = {"requests": srv.requests, "prompts": dict(srv.prompts), "bodies": srv.bodies[:]}
        sent["headers"] = [{k.lower(): v for k, v in h.items()} for h in srv.headers]
        second = run_notebook(nb, folder / "run2", parameters=params, verbose=False)
        sent["requests_after_second_run"] = srv.requests
    return {"folder": folder, "key": key, "first": first, "second": second, "sent": sent}


def _expected(runs) -> list[list[str]]:
    """instruction | the server's reply to its prompt | SmolLM2's stored generation."""
    folder, prompts = runs["folder"], runs["sent"]["prompts"]
    instructions = _rows(folder, "instructions")["instruction"]
    assert len(instructions) == ROWS
    opened = _rows(folder, "open answers")["open"]
    rows = []
    for instruction, generated in zip(instructions, opened, strict=True):
        (prompt,) = [p for p in prompts if p.startswith(instruction)]
        rows.append([_norm(instruction), _norm(reply(prompt)), _norm(generated)])
    return rows


def test_the_server_answered_each_prompt_once_with_the_key(runs):
    sent = runs["sent"]
    assert sent["requests"] == ROWS and sorted(sent["prompts"].values()) == [1] * ROWS
    assert all(h.get("x-api-key") == runs["key"] for h in sent["headers"])
    assert {b["model"] for b in sent["bodies"]} == {MODEL}
    assert {b["max_tokens"] for b in sent["bodies"]} == {MAX_NEW_TOKENS}
    # No reply was cut at max_tokens: the expected text is the responder's own.
    assert all(len(reply(p).split()) <= MAX_NEW_TOKENS for p in sent["prompts"])
    stored = _rows(runs["folder"], "commercial answers")
    assert stored["commercial"] == [reply(p) for p in stored["prompts"]]


@pytest.mark.parametrize("run", ["first", "second"])
def test_the_report_shows_both_models_side_by_side(runs, run):
    paths = runs[run]
    expected = [["instruction", MODEL, SMOLLM2], *_expected(runs)]
    html_tables = _parse(paths["html"].read_text()).tables
    assert _table(html_tables, "instruction") == expected
    md_tables = _markdown_tables(paths["markdown"].read_text())
    assert _table(md_tables, "instruction") == expected
    # Per-model usage from the step records (the same after a cached rerun).
    for tables in (html_tables, md_tables):
        usage = _table(tables, "model")
        head = usage[0]
        assert head[:5] == ["model", "spec", "requests", "prompt tokens", "completion tokens"]
        assert {"cost (USD)", "seconds", "seconds per row"} <= set(head)
        by_model = {r[0]: dict(zip(head, r, strict=True)) for r in usage[1:]}
        assert set(by_model) == {MODEL, SMOLLM2}
        claude, smol = by_model[MODEL], by_model[SMOLLM2]
        assert claude["spec"] == f"anthropic:{MODEL}" and smol["spec"] == "smollm2"
        assert claude["requests"] == smol["requests"] == str(ROWS)
        replies = [reply(p) for p in runs["sent"]["prompts"]]
        assert claude["completion tokens"] == str(sum(len(r.split()) for r in replies))
        assert float(claude["cost (USD)"]) > 0 and float(smol["cost (USD)"]) == 0
        assert float(smol["seconds"]) > 0
    report = json.loads(paths["json"].read_text())
    assert report["run"]["parameters"]["values"]["rows"] == ROWS
    assert {"instructions", "commercial answers", "open answers", "side by side"} <= set(
        report["expected_fingerprints"]
    )


def test_model_output_is_text_everywhere(runs):
    executed = nbformat.read(runs["first"]["notebook"], as_version=4)
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    assert [o for o in outputs if o.output_type == "error"] == []
    shown = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert shown and all("<script" not in h for h in shown)
    assert any("&lt;script&gt;" in h for h in shown)  # pandas escaped the model's markup
    assert any(SCRIPT in _norm(c) for t in _parse(shown[0]).tables for r in t for c in r)
    for run in ("first", "second"):
        html = runs[run]["html"].read_text()
        scripts = [attrs for tag, attrs in _parse(html).tags if tag == "script"]
        assert scripts == [[("type", "application/json"), ("id", "dreamer-lab-report")]]
        assert "&lt;script&gt;alert" in html
        tokens = MarkdownIt("commonmark").parse(runs[run]["markdown"].read_text())
        raw = [t.content for t in tokens if t.type in ("html_block", "html_inline")]
        assert not [r for r in raw if "<script" in r.lower()]


def test_the_key_is_in_no_file_written(runs):
    files = [p for p in runs["folder"].rglob("*") if p.is_file()]
    assert {"report.html", "report.md", NOTEBOOK.name} <= {p.name for p in files}
    assert any("dreamer_workspace" in p.parts for p in files)
    key = runs["key"].encode()
    assert [p for p in files if key in p.read_bytes()] == []


def test_a_second_run_is_all_cache_hits_and_sends_nothing(runs):
    sent = runs["sent"]
    assert sent["requests_after_second_run"] == sent["requests"]
    first = json.loads(runs["first"]["json"].read_text())
    second = json.loads(runs["second"]["json"].read_text())
    assert first["expected_fingerprints"] == second["expected_fingerprints"]
    assert second["run"]["timings"]["steps"]
    assert all(s["cache_hit"] is True for s in second["run"]["timings"]["steps"])
    assert all(n["cache_hit"] is True for n in second["lineage"]["nodes"])
