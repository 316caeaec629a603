"""Data cards and model cards from lineage records: HF-parseable, injection-proof, no secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import DatasetCard, ModelCard
from markdown_it import MarkdownIt

from dreamer_lab.cards import card_for, data_card, model_card
from dreamer_lab.cards.bibtex import BibTeXError, parse_bibtex, validate_bibtex
from dreamer_lab.errors import StepInputError
from dreamer_lab.trainers.base import Trainer, TrainResult
from tests.workflow_fixtures import CITATION, SECRET, build_workflow


def _structure(markdown: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Headings, raw HTML snippets and fenced blocks (info, content) of a Markdown body."""
    body = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.DOTALL)
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(body)
    headings, raw_html, fences = [], [], []
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            headings.append(tokens[i + 1].content)
        if t.type == "html_block":
            raw_html.append(t.content)
        if t.type == "fence":
            fences.append((t.info, t.content))
        for child in t.children or []:
            if child.type == "html_inline":
                raw_html.append(child.content)
    return headings, raw_html, fences


def _table_rows(markdown: str) -> dict[str, str]:
    """``{name: value}`` of every two-column table row, as a Markdown renderer shows them
    (for dotted names, the last part too)."""
    body = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.DOTALL)
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    cells: list[str] = []
    rows: dict[str, str] = {}
    for t in tokens:
        if t.type == "tr_open":
            cells = []
        elif t.type == "inline" and cells is not None:
            cells.append("".join(c.content for c in t.children or []))
        elif t.type == "tr_close" and len(cells) == 2:
            rows[cells[0]] = cells[1]
            rows.setdefault(cells[0].rsplit(".", 1)[-1], cells[1])
    return rows


def test_parameters_read_as_a_table_with_escaped_compact_values(workspace):
    """Each parameter on one row: nested mappings dotted, lists compact, text on one line,
    long values cut, and hostile text (pipes, HTML, backticks, secrets) inert."""
    from dreamer_lab.cards.param_table import param_table

    hostile = "a | b <script>alert(1)</script> `x` [link](javascript:1)\nsecond line"
    lines = param_table(
        {
            "attributes": {"product": ["kettle", "desk lamp"], "tone": {"a": 1}},
            "instruction": hostile,
            "sep": "\n\n",
            "long": "word " * 200,
            "many": list(range(40)),
            "temperature": 0.30000000000000004,
            "top_p": 1.0,
            "api_key": SECRET,
            "flag": None,
        }
    )
    assert lines[:2] == ["| Parameter | Value |", "|---|---|"]
    markdown = "\n".join(lines)
    rows = _table_rows(markdown)
    assert rows["attributes.product"] == "['kettle', 'desk lamp']"
    assert rows["attributes.tone.a"] == "1"
    assert rows["instruction"] == (
        "a | b <script>alert(1)</script> `x` [link](javascript:1) ↵ second line"
    )
    assert rows["sep"] == "'\\n\\n'"  # whitespace-only text shows its characters
    assert rows["long"].endswith("…") and len(rows["long"]) <= 240
    assert rows["many"].startswith("[0, 1, 2") and rows["many"].endswith("… (28 more)]")
    assert rows["temperature"] == "0.3" and rows["top_p"] == "1.0" and rows["flag"] == "None"
    assert SECRET not in markdown
    # The hostile value is one cell of text: no HTML, link, code span or extra cell.
    _, raw_html, _ = _structure(markdown)
    assert raw_html == [] and len(lines) == 12  # the header and one row per parameter
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    kinds = {c.type for t in tokens for c in t.children or []}
    assert "link_open" not in kinds


def test_data_card_front_matter_sections_and_lineage(workspace):
    steps = build_workflow()
    card = data_card(steps["kept"])

    parsed = DatasetCard(card.markdown).data.to_dict()
    assert parsed["license"] == "apache-2.0"
    assert "synthetic" in parsed["tags"]
    assert parsed["size_categories"] == ["n<1K"]
    # Hub metadata names Hub repositories only; a local DataSource's name is a label.
    assert "source_datasets" not in parsed and data_card(steps["topics"]).data[
        "source_datasets"
    ] == ["topics"]
    assert parsed["pretty_name"] == "kept"

    headings, _, fences = _structure(card.markdown)
    assert headings == [
        "Dataset card: kept",
        "Summary",
        "How the data was made",
        "1. topics (DataSource)",
        "2. generate (Generate)",
        "3. kept (filter)",
        "Lineage",
        "Licenses",
        "Citations",
        "Intended use",
        "Limitations",
    ]
    assert "Synthetic data notice" in card.markdown
    for s in steps.values():  # every upstream step with its fingerprint and row count
        assert s.fingerprint in card.markdown
    mermaid = [c for info, c in fences if info == "mermaid"][0]
    assert mermaid.count("-->") == 2 and steps["generate"].fingerprint[:12] in mermaid
    # Prompt template and parameters of the model step are quoted.
    assert any("Write about {topic}." in c for _, c in fences)
    rows = _table_rows(card.markdown)
    assert rows["temperature"] == "0.7"
    # The JSON form holds the same facts.
    data = json.loads(card.to_json())
    assert [s["name"] for s in data["steps"]] == ["topics", "generate", "kept"]
    assert data["rows"] == 2 and data["synthetic"] is True
    assert data["models"] == ["tiny-model\n# not a heading"]


def test_hostile_model_text_cannot_break_card_structure(workspace, tmp_path):
    steps = build_workflow()
    card = data_card(steps["kept"])
    hf = DatasetCard(card.markdown)
    assert hf.data.license == "apache-2.0" and "owned" not in (hf.data.tags or [])
    headings, raw_html, fences = _structure(card.markdown)
    assert not any("Injected" in h or "not a heading" in h for h in headings)
    # The only raw HTML is the card's own editable-section markers.
    assert all(h.strip().startswith("<!-- dreamer_lab:editable") for h in raw_html)
    # The hostile text stays inside its fence, intact.
    assert any("<script>alert('x')</script>" in c and "```" in c for _, c in fences)
    paths = card.save(tmp_path / "card")
    assert DatasetCard.load(paths["markdown"]).data.license == "apache-2.0"
    assert json.loads(paths["json"].read_text())["fingerprint"] == steps["kept"].fingerprint
    # A notebook cell ending with save() shows one readable line, not a dict of PosixPaths.
    assert repr(paths) == f"Saved card: {tmp_path / 'card' / 'README.md'} and card.json"


def test_citations_are_well_formed_bibtex(workspace):
    steps = build_workflow()
    card = data_card(steps["kept"])
    _, _, fences = _structure(card.markdown)
    bib = [c for info, c in fences if info == "bibtex"]
    assert len(bib) == 1
    entries = validate_bibtex(bib[0])
    keys = [e.key for e in entries]
    assert keys == ["patel-etal-2024-datadreamer", "smith2021gen"]
    smith = entries[1]
    assert smith.fields["title"] == "Generating {Things}" and smith.fields["year"] == "2021"
    # A citation that is not BibTeX is listed as escaped text, not dropped or trusted.
    assert card.data["other_citations"] == ["Not BibTeX <script>x</script> @ all"]
    assert "Not BibTeX &lt;script&gt;" in card.markdown
    # Each card citation re-parses on its own.
    for text in card.data["citations"]:
        assert len(parse_bibtex(text)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "@misc{key, title={Unbalanced}, year={2020}",
        "@misc{, title={No key}}",
        "@misc{k, title={A} year={2020}}",
        "@misc{k, title={A}, title={B}}",
        "plain text",
    ],
)
def test_bibtex_checker_rejects_malformed_entries(bad):
    with pytest.raises(BibTeXError):
        validate_bibtex(bad)


def test_bibtex_checker_requires_citation_fields():
    with pytest.raises(BibTeXError, match="no four-digit year"):
        validate_bibtex("@misc{k, title={T}, author={A}}")
    assert validate_bibtex(CITATION)[0].fields["journal"] == "Journal of Tests"


def test_no_secret_in_cards(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    from dreamer_lab.steps import DataCardType, DataSource, Step

    class Leaky(Step):
        def setup(self) -> None:
            self.register_input("x")
            self.register_arg("api_key", default=None)
            self.register_output("y")

        def run(self) -> Any:
            self.register_data_card(DataCardType.MODEL_NAME, "gpt")
            self.register_data_card(DataCardType.PROMPT, f"key is {SECRET}")
            return {"y": list(self.inputs["x"])}

    src = DataSource("src", {"x": ["a", "b"]})
    step = Leaky("leaky", inputs={"x": src.output["x"]}, args={"api_key": SECRET})
    card = data_card(step)
    assert SECRET not in card.markdown and SECRET not in card.to_json()
    assert "REDACTED" in card.markdown


def test_card_errors_name_the_fix(workspace):
    steps = build_workflow()
    with pytest.raises(StepInputError, match="No step or model 'nope'"):
        data_card("nope")
    with pytest.raises(StepInputError, match="not a trained model: use .*data_card"):
        model_card(steps["kept"])


class TinyTrainer(Trainer):
    """A user trainer on the base class: 'trains' by averaging lengths, logs a loss curve."""

    kind = "TinyTrainer"

    def _card(self) -> dict[str, list[Any]]:
        return {"Model Name": ["base/tiny"], "License Information": ["apache-2.0"],
                "Citation Information": [CITATION]}  # fmt: skip

    def _identity(self) -> dict[str, Any]:
        return {"name": "base/tiny", "revision": "main"}

    def train(self, train_input: Any, train_output: Any, validation_input: Any, validation_output: Any, epochs: int = 3) -> TinyTrainer:  # fmt: skip
        def fn(ctx: Any) -> TrainResult:
            mean = sum(len(t) for t in train_input) / len(train_input)
            for step in range(1, epochs + 1):
                ctx.reporter.log({"step": step, "loss": 2.0 / step})
            ctx.reporter.log({"step": epochs, "eval_loss": 0.9})
            ctx.final_dir.mkdir(parents=True)
            (ctx.final_dir / "model.json").write_text(json.dumps({"mean": mean}))
            return TrainResult(metrics={"eval_loss": 0.9, "train_loss": 2.0 / epochs})

        self._fit(
            data={"train_input": train_input, "train_output": train_output,
                  "validation_input": validation_input, "validation_output": validation_output},
            hyperparams={"epochs": epochs, "learning_rate": 1e-3, "hf_token": SECRET},
            train_fn=fn,
        )  # fmt: skip
        return self


def test_model_card_lineage_hyperparams_metrics_loss(workspace, tmp_path):
    steps = build_workflow()
    val = steps["generate"].take(1, name="val")
    trainer = TinyTrainer("classifier").train(
        steps["kept"].output["text"], steps["kept"].output["text"],
        val.output["text"], val.output["text"],
    )  # fmt: skip
    card = model_card(trainer)
    data = ModelCard(card.markdown).data.to_dict()
    assert data["base_model"] == "base/tiny" and data["license"] == "apache-2.0"
    assert "synthetic" in data["tags"]
    headings, raw_html, fences = _structure(card.markdown)
    for h in ("Training data", "Hyperparameters", "Metrics", "Loss curve", "Lineage", "Citations"):
        assert h in headings
    assert any("<svg" in h and "polyline" in h for h in raw_html)  # the loss chart
    assert [h["loss"] for h in card.data["loss_history"] if "loss" in h] == [2.0, 1.0, 2.0 / 3]
    assert card.data["metrics"]["eval_loss"] == 0.9
    assert card.data["hyperparams"]["epochs"] == 3
    assert SECRET not in card.markdown and SECRET not in card.to_json()
    assert set(card.data["lineage"]["validation"]) == {"validation_input", "validation_output"}
    assert {s["name"] for s in card.data["steps"]} == {"topics", "generate", "kept", "val"}
    assert "smith2021gen" in card.markdown
    # card_for picks the right card; the CLI writes it.
    assert card_for(trainer.fingerprint).kind == "model"
    from dreamer_lab.cli import main

    assert main(["card", "-w", str(workspace), "classifier", "-o", str(tmp_path / "mc")]) == 0
    assert ModelCard.load(Path(tmp_path / "mc" / "README.md")).data.base_model == "base/tiny"


def test_real_citations_and_lora_configs_survive_redaction(workspace):
    """Redaction keeps ordinary words and config names: the MiniLM title and a LoRA
    config's ``trainable_token_indices`` reach the cards intact."""
    from peft import LoraConfig

    from dreamer_lab.steps import DataCardType, DataSource, Step

    class Embed(Step):
        def setup(self) -> None:
            self.register_input("x")
            self.register_output("y")

        def run(self) -> Any:
            self.register_data_card(
                DataCardType.MODEL_NAME, "sentence-transformers/all-MiniLM-L6-v2"
            )
            return {"y": list(self.inputs["x"])}

    src = DataSource("src", {"x": ["a", "b"]})
    step = Embed("embed", inputs={"x": src.output["x"]})
    card = data_card(step)
    assert "Task-Agnostic Compression" in card.markdown and "REDACTED" not in card.markdown

    lora = LoraConfig(r=4, trainable_token_indices=[5, 6]).to_dict()

    class LoraTrainer(TinyTrainer):
        def train(self, train_input: Any, *_: Any, **__: Any) -> LoraTrainer:
            def fn(ctx: Any) -> TrainResult:
                ctx.final_dir.mkdir(parents=True)
                return TrainResult(metrics={})

            self._fit(data={"train_input": train_input}, hyperparams={"max_new_tokens": 8},
                      train_fn=fn, configs={"peft_config": lora})  # fmt: skip
            return self

    mcard = model_card(LoraTrainer("lora").train(step.output["y"]))
    assert mcard.data["configs"]["peft_config"]["trainable_token_indices"] == [5, 6]
    assert mcard.data["hyperparams"]["max_new_tokens"] == 8
    rows = _table_rows(mcard.markdown)
    assert rows["trainable_token_indices"] == "[5, 6]" and rows["r"] == "4"
    assert rows["max_new_tokens"] == "8" and "REDACTED" not in mcard.markdown
