"""Card front matter: hostile step names and fragments come back exactly from
``yaml.safe_load``, and never put raw HTML into a card or the report."""

from __future__ import annotations

import re
from typing import Any

import nbformat
import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard

from dreamer_lab.cards import data_card, model_card
from dreamer_lab.steps import DataCardType, DataSource, Step
from dreamer_lab.trainers.base import Trainer, TrainResult

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "---\nlicense: evil",
    "line one\nline two\r\n\n  indented: yes",
    "key: value: with colons",
    "{{ template }} {% raw %}",
    "&anchor value",
    "*alias",
    "!!python/object/apply:os.system ['echo owned']",
    "- a list item",
    "# a comment",
    "'single' and \"double\" quotes",
    "`code` | pipe > gt < lt & amp",
    "%TAG ! tag:evil.com,2000:",
    "? question",
    "null",
    "true",
    "0x1F",
    "tab\there",
    "ünïcödé ✓ \U0001f600 \u2028 end",
    "<IMG SRC=javascript:alert(2)>",
]


def _front(markdown: str) -> dict[str, Any]:
    m = re.match(r"\A---\n(.*?)\n---\n", markdown, re.DOTALL)
    assert m, markdown[:300]
    return yaml.safe_load(m.group(1))


def _no_raw_html(markdown: str) -> None:
    """No raw HTML but the card's own (editable-section markers, the loss chart): in the
    front matter, none at all; in the body, hostile text only escaped or in code fences."""
    from markdown_it import MarkdownIt

    front, body = re.match(r"\A(---\n.*?\n---\n)(.*)\Z", markdown, re.DOTALL).groups()
    assert not re.search(r"[<>]", front), front
    raw = []
    for t in MarkdownIt("commonmark", {"html": True}).enable("table").parse(body):
        if t.type == "html_block":
            raw.append(t.content)
        raw += [c.content for c in t.children or [] if c.type == "html_inline"]
    own = ("<!-- dreamer_lab:editable", '<div class="loss-curve"><svg ')
    assert all(h.strip().startswith(own) for h in raw), raw
    assert not re.search(r"<\s*(script|img)|\son\w+\s*=", "".join(raw), re.I), raw


class Named(Step):
    """A step whose fragments are the payload."""

    def setup(self) -> None:
        self.register_input("x")
        self.register_arg("payload")
        self.register_output("y")

    def run(self) -> Any:
        p = self.args["payload"]
        self.register_data_card(DataCardType.DATASET_NAME, p)
        self.register_data_card(DataCardType.MODEL_NAME, p)
        self.register_data_card(DataCardType.LICENSE, p)
        return {"y": list(self.inputs["x"])}


class NamedTrainer(Trainer):
    kind = "NamedTrainer"

    def __init__(self, name: str, payload: str):
        super().__init__(name)
        self.payload = payload

    def _card(self) -> dict[str, list[Any]]:
        return {"Model Name": [self.payload], "Dataset Name": [self.payload],
                "License Information": [self.payload]}  # fmt: skip

    def _identity(self) -> dict[str, Any]:
        return {"name": self.payload}

    def train(self, train_input: Any) -> NamedTrainer:
        def fn(ctx: Any) -> TrainResult:
            ctx.reporter.log({"step": 1, "loss": 1.0})
            ctx.final_dir.mkdir(parents=True)
            return TrainResult(metrics={self.payload: 1.0})

        self._fit(data={"train_input": train_input}, hyperparams={}, train_fn=fn)
        return self


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_names_and_fragments_round_trip_through_front_matter(workspace, payload):
    src = DataSource(payload, {"x": ["a", "b"]})
    step = Named(payload, inputs={"x": src.output["x"]}, args={"payload": payload})
    card = data_card(step)
    front = _front(card.markdown)
    assert front["pretty_name"] == payload
    assert "source_datasets" not in front  # not a Hub dataset: no free text in metadata
    assert front["license"] in ("other", payload.lower())  # a string, never null or true
    assert DatasetCard(card.markdown).data.to_dict()["pretty_name"] == payload
    _no_raw_html(card.markdown)

    trainer = NamedTrainer(payload, payload).train(step.output["y"])
    mcard = model_card(trainer)
    mfront = _front(mcard.markdown)
    assert mfront["model_name"] == payload and "datasets" not in mfront
    assert ModelCard(mcard.markdown).data.to_dict()["model_name"] == payload
    _no_raw_html(mcard.markdown)


def test_front_matter_escapes_every_value():
    from dreamer_lab.cards.card import front_matter

    meta = {"pretty_name": PAYLOADS[0], "tags": PAYLOADS, "size": 3, "flag": True}
    text = front_matter(meta)
    assert text.startswith("---\n") and text.endswith("\n---")
    body = text[4:-4]
    assert "\n---" not in body and "<" not in body and ">" not in body and "&" not in body
    assert yaml.safe_load(body) == meta
    with pytest.raises(ValueError, match="not a plain identifier"):
        front_matter({"bad key: x": "v"})


def test_report_html_has_no_raw_html_from_names(workspace, tmp_path):
    from dreamer_lab.cards import card_for
    from dreamer_lab.report import write_report

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Hostile names"))
    for i, payload in enumerate(PAYLOADS[:3] + PAYLOADS[-1:]):
        src = DataSource(f"{payload} src{i}", {"x": ["a"]})
        step = Named(payload, inputs={"x": src.output["x"]}, args={"payload": payload})
        # The report shows the cards the notebook saved: save each as a cell would.
        card_for(step).save(tmp_path / "cards" / f"c{i}")
        nb.cells.append(nbformat.v4.new_code_cell(f"card_for(step).save('cards/c{i}')"))
    path = tmp_path / "flow.ipynb"
    nbformat.write(nb, path)
    paths = write_report(path, tmp_path / "report", workspace=workspace)
    html = paths["html"].read_text()
    assert "Dataset card" in html
    assert re.findall(r"<script[^>]*>", html, re.IGNORECASE) == [
        '<script type="application/json" id="dreamer-lab-report">'
    ]
    assert not re.search(r"<\s*img", html, re.IGNORECASE)
    for key, path in paths.items():
        if key.startswith("card:"):
            text = path.read_text()
            _no_raw_html(text)
            assert not re.search(r"<\s*(script|img)", text[: text.index("```")], re.I)
            assert _front(text)["pretty_name"] in PAYLOADS[:3] + PAYLOADS[-1:]
