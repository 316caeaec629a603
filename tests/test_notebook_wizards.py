"""Wizards and the card widget in a real IPython shell: titles, options that follow the
notebook, sensible training defaults, all generation options, failed steps explained,
readable exports, theme-only styling."""

from __future__ import annotations

import re

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from dreamer_lab.notebook.views import STATIC


@pytest.fixture
def ip(workspace):
    shell = InteractiveShell.instance()
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        shell.user_ns.pop(name, None)


def test_a_step_created_after_the_wizard_opened_appears_in_it(ip):
    from dreamer_lab.notebook import wizard

    w = wizard("generate", ns=ip.user_ns)
    t = wizard("train", ns=ip.user_ns)
    assert w.title == "Generate data" and t.title == "Train a model"
    assert "questions" not in next(f for f in w.fields if f["name"] == "data")["options"]
    with capture_output():
        ip.run_cell(
            "from dreamer_lab.steps import DataSource\n"
            'questions = DataSource("questions", data={"q": ["why?", "how?"]})'
        )
    assert "questions" in next(f for f in w.fields if f["name"] == "data")["options"]
    assert (
        "questions.output['q']"
        in next(f for f in t.fields if f["name"] == "train_input")["options"]
    )
    w.close()
    t.close()
    with capture_output():
        ip.run_cell('more = DataSource("more", data={"x": ["1"]})')
    assert "more" not in next(f for f in w.fields if f["name"] == "data")["options"]


def test_training_wizard_defaults_to_a_text_column_and_smollm2(ip):
    from dreamer_lab.notebook import wizard
    from dreamer_lab.steps import DataSource

    ip.user_ns["rows"] = DataSource(
        "rows",
        data={"attributes": [{"tone": "calm"}], "text": ["a review"], "label": ["positive"]},
    )
    t = wizard("train", ns=ip.user_ns)
    assert t.values["train_input"] == "rows.output['text']"
    assert t.values["train_output"] == "rows.output['label']"
    assert t.values["model_name"] == "smollm2" and "embedded SmolLM2" in t.info
    assert "model_name='smollm2'" in t.code


def test_generation_wizard_writes_every_generation_option(ip):
    from dreamer_lab.notebook import wizard
    from dreamer_lab.notebook.parser import parse_first_line

    w = wizard("generate", ns=ip.user_ns, kind="DataFromPrompt", template="Write a haiku.")
    w.set(temperature=0.7, top_p=0.9, seed="5", stop="\n\n", batch_size=4, max_new_tokens=64)
    first = w.code.split("\n", 1)[0]
    parsed = parse_first_line(first[len("%%dream ") :])
    assert {"max_new_tokens", "temperature", "top_p", "seed", "stop", "batch_size"} <= set(
        parsed.options
    )
    assert "stop=['\\n\\n']" in first and "seed=5" in first


def test_the_card_widget_says_why_a_failed_step_has_no_card(ip):
    from dreamer_lab.notebook import card
    from dreamer_lab.steps import DataSource, Step

    class Broken(Step):
        def setup(self):
            self.register_output("x")

        def run(self):
            raise RuntimeError("boom")

    DataSource("fine", data={"t": ["a"]})
    with pytest.raises(Exception, match="boom"):
        Broken("broken")
    c = card(ns=ip.user_ns)
    assert c.values["target"] == "fine" and c.code  # opens on a step that has a result
    c.set(target="broken")
    assert "failed in its last run" in c.info and c.code == ""


def test_widgets_use_theme_variables_only():
    css = (STATIC / "dreamer.css").read_text()
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgb\(|hsl\(", css)
    assert "var(--jp-" in css
    for js in ("wizard.js", "step_view.js"):
        text = (STATIC / js).read_text()
        assert not re.search(r"#[0-9a-fA-F]{6}\b|rgb\(", text), js
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (js, sink)


def test_a_card_exported_with_the_widget_is_in_the_report_with_its_text(
    ip, workspace, tmp_path, monkeypatch
):
    import nbformat

    from dreamer_lab.notebook import card
    from dreamer_lab.report import write_report
    from dreamer_lab.steps import DataSource

    monkeypatch.chdir(tmp_path)  # the kernel runs next to the notebook
    DataSource("reviews", data={"t": ["good", "bad"]})
    c = card(ns=ip.user_ns)
    c.set(target="reviews", intended_use="Teaching a sentiment parser my words.")
    c.export()  # the Export button: no trace in any cell
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("from dreamer_lab.notebook import card\ncard()"))
    nbformat.write(nb, tmp_path / "flow.ipynb")
    paths = write_report(tmp_path / "flow.ipynb", tmp_path / "report", workspace=workspace)
    cards = [k for k in paths if k.startswith("card:")]
    assert len(cards) == 1
    assert "Teaching a sentiment parser my words." in paths[cards[0]].read_text()
    assert "Teaching a sentiment parser my words." in paths["html"].read_text()
