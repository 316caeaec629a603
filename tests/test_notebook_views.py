"""The step view: data, fallbacks and escaping of untrusted model output (no browser)."""

from __future__ import annotations

from html.parser import HTMLParser

import markdown_it
import mistune
import pytest

from dreamer_lab.notebook.views import (
    STATIC,
    StepOutput,
    StepView,
    md_escape,
    render_markdown,
    render_plain,
    summarize,
)

HOSTILE = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "[click me](javascript:alert(1))",
    "<a href='javascript:alert(2)'>link</a>",
    "**bold** | pipe `code` <b>tag</b>",
]


SAFE_TAGS = {"p", "strong", "em", "code", "table", "thead", "tbody", "tr", "th", "td", "br"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def _html(markdown: str) -> str:
    """Rendered by two independent Markdown engines (CommonMark and mistune)."""
    return markdown_it.MarkdownIt("commonmark").enable("table").render(markdown) + mistune.html(
        markdown
    )


def _assert_inert(html_text: str) -> None:
    parser = _Tags()
    parser.feed(html_text)
    for tag, attrs in parser.tags:
        assert tag in SAFE_TAGS, (tag, html_text)
        assert not [a for a in attrs if a[0] != "style"], (tag, attrs)


@pytest.fixture
def hostile_step(workspace):
    from dreamer_lab.steps import DataSource

    return DataSource("evil <script>", data={"generation": HOSTILE, "label": list("aabab")})


def test_markdown_fallback_renders_model_output_as_inert_text(hostile_step):
    summary = summarize(hostile_step)
    md = render_markdown(summary)
    html_text = _html(md)
    _assert_inert(html_text)
    # The text itself is still there for the reader, as text.
    assert "&lt;script&gt;alert" in html_text and "javascript:alert(1)" in html_text
    assert "onerror" in html_text  # shown, not executed


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escape_neutralises_each_payload(text):
    _assert_inert(_html(md_escape(text)))
    _assert_inert(_html(f"| a |\n|---|\n| {md_escape(text)} |"))


def test_summary_has_sample_plots_and_provenance(hostile_step):
    from dreamer_lab.steps import DataSource

    child = hostile_step.select_columns(["label"], name="labels only")
    s = summarize(child)
    assert s["fingerprint"] == child.fingerprint and s["rows"] == 5
    assert s["parents"] == [{"name": hostile_step.name, "fingerprint": hostile_step.fingerprint}]
    assert s["plots"]["labels"] == {
        "column": "label",
        "counts": [["a", 3], ["b", 2]],
        "x": "category",
        "y": "rows",
    }
    parent = summarize(hostile_step)
    assert parent["sample"][0]["generation"] == HOSTILE[0]  # raw: the widget uses textContent
    assert sum(b[2] for b in parent["plots"]["lengths"]["bins"]) == 5
    long = DataSource("long", data={"t": ["x" * 1000]})
    assert len(summarize(long)["sample"][0]["t"]) <= 200


def test_step_output_bundle_and_metadata(hostile_step):
    s = summarize(hostile_step, why="first run")
    widget = StepView(summary=s)
    assert isinstance(widget, StepView)  # a class, importable for isinstance and type checkers
    data, meta = StepOutput(s, widget)._repr_mimebundle_()
    assert {"text/plain", "text/markdown", "application/vnd.jupyter.widget-view+json"} <= set(data)
    assert meta["dreamer_lab"]["fingerprint"] == hostile_step.fingerprint
    assert meta["dreamer_lab"]["step"] == "evil <script>"
    assert widget.summary["sample"][1]["generation"] == HOSTILE[1]
    assert "fingerprint" in render_plain(s) and "first run" in render_plain(s)


def test_widget_code_never_parses_data_as_html():
    js = (STATIC / "step_view.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js
    assert "textContent" in js and "export default" in js


# -- wizards and the card widget (Python logic; the browser click-through is a ui-test) ------
def test_generation_wizard_previews_estimates_and_ends_as_a_dream_cell(workspace):
    from IPython.core.interactiveshell import InteractiveShell

    from dreamer_lab.notebook import wizard
    from dreamer_lab.notebook.parser import StepLine, parse_first_line

    ns = {"attrs": {"sentiment": ["happy", "sad"], "product": ["lamp", "<b>tv</b>"]}, "tone": "A"}
    w = wizard("generate", ns=ns, kind="DataFromAttributedPrompt", attributes="attrs", n=40)
    from dreamer_lab.notebook.wizards import FormWidget, GenerationWizard

    assert isinstance(w, GenerationWizard) and isinstance(w, FormWidget)
    w.set(template="{tone}: write a {sentiment} review of a {product}.", name="reviews")
    assert w.preview == [
        "A: write a happy review of a lamp.",
        "A: write a happy review of a <b>tv</b>.",
        "A: write a sad review of a lamp.",
    ]
    assert "tokens" in w.info and "40 rows" in w.info
    first, body = w.code.split("\n", 1)
    assert body == "{tone}: write a {sentiment} review of a {product}."
    parsed = parse_first_line(first[len("%%dream ") :])
    assert isinstance(parsed, StepLine) and parsed.target == "reviews"
    assert parsed.kind == "DataFromAttributedPrompt" and {"n", "attributes"} <= set(parsed.options)
    ip = InteractiveShell.instance()
    assert w.insert() == w.code and ip.rl_next_input == w.code and w.inserted == w.code
    w.set(template="{unknown} thing")
    assert "{unknown}" in w.info and w.code == ""
    with pytest.raises(ValueError, match="Nothing to insert"):
        w.insert()


def test_generation_wizard_prompt_rows_come_from_a_step(workspace):
    from dreamer_lab.notebook import wizard
    from dreamer_lab.steps import DataSource

    qs = DataSource("qs", data={"q": ["why?", "how?", "what?", "when?"]})
    w = wizard("generate", ns={"qs": qs}, kind="Prompt", data="qs", template="Answer: {q}")
    assert w.preview == ["Answer: why?", "Answer: how?", "Answer: what?"]
    assert w.code.startswith("%%dream generated = Prompt(qs") and "4 rows" in w.info


def test_training_wizard_builds_the_trainer_line(workspace):
    from dreamer_lab.notebook import wizard
    from dreamer_lab.steps import DataSource

    pairs = DataSource("pairs", data={"q": ["a"], "a": ["b"]})
    w = wizard("train", ns={"pairs": pairs}, model_name="./smol", epochs=2, rank=4)
    from dreamer_lab.notebook.wizards import TrainingWizard

    assert isinstance(w, TrainingWizard)
    assert w.values["train_input"] == "pairs.output['q']"
    assert w.values["train_output"] == "pairs.output['a']"
    assert w.code == (
        "from peft import LoraConfig\n\n%dream model = TrainHFFineTune(model_name='./smol', "
        "peft_config=LoraConfig(r=4), train_input=pairs.output['q'], "
        "train_output=pairs.output['a'], epochs=2)"
    )
    w.set(lora=False)
    assert "peft" not in w.code and "full fine-tuning" in w.info


def test_card_widget_previews_edits_and_exports(workspace, tmp_path):
    from dreamer_lab.notebook import card
    from dreamer_lab.steps import DataSource

    DataSource("reviews", data={"text": ["<script>x</script>"]})
    c = card(ns={}, intended_use="Teaching <demo>", path=str(tmp_path / "card"))
    from dreamer_lab.notebook.wizards import CardWidget

    assert isinstance(c, CardWidget)
    assert c.values["target"] == "reviews"
    text = _tree_text(c.preview_tree)  # the card as Markdown elements, text as text
    assert "Teaching <demo>" in text and "&#x27;" not in text and "&lt;" not in text
    assert "card_for('reviews', intended_use='Teaching <demo>')" in c.code
    done = c.export()
    assert str(done).startswith("Saved the dataset card of 'reviews' to ") and c.result == str(done)
    readme = done.markdown
    assert readme.name == "README.md" and "Teaching" in readme.read_text()


def _tree_text(nodes) -> str:
    from dreamer_lab.notebook.md_tree import TAGS

    out = []
    for n in nodes:
        if isinstance(n, str):
            out.append(n)
        else:
            assert n["tag"] in TAGS and set(n) == {"tag", "children"}
            out.append(_tree_text(n["children"]))
    return " ".join(out)


def test_label_balance_only_for_low_cardinality_categories():
    """A generated-text column is never a "label balance", even with one repeated value
    (its lengths are plotted); a categorical output needs >= 2 values, few relative to rows."""
    from datasets import Dataset

    from dreamer_lab.notebook.plots import step_plots

    same = Dataset.from_dict({"generations": ["ok"] * 6})
    plots = step_plots(same, ["generations"], set())
    assert "labels" not in plots and plots["lengths"]["column"] == "generations"
    assert sum(b[2] for b in plots["lengths"]["bins"]) == 6
    one = Dataset.from_dict({"label": ["pos"] * 6})
    assert "labels" not in step_plots(one, ["label"], set())
    unique = Dataset.from_dict({"label": ["a", "b", "c", "d", "e"]})  # one row per value
    assert "labels" not in step_plots(unique, ["label"], set())
    cats = Dataset.from_dict({"label": ["pos", "neg", "pos", "pos", "neg", "pos"]})
    assert step_plots(cats, ["label"], set())["labels"]["counts"] == [["pos", 4], ["neg", 2]]


def test_card_preview_front_matter_is_readable_and_folded():
    """The card file's YAML escapes (``n\\x3C1K``) show as the characters they stand for,
    as text (escaped once, by the browser), in a collapsed "Metadata" block before the card."""
    from dreamer_lab.cards.card import front_matter
    from dreamer_lab.notebook.md_tree import markdown_tree

    front = front_matter({"size_categories": ["n<1K"], "pretty_name": "a & <b>"})
    assert "\\x3C" in front  # the file itself stays escaped, valid YAML
    first, heading = markdown_tree(f"{front}\n# Dataset card\n")[:2]
    assert first["tag"] == "details" and heading["tag"] == "h1"
    summary, pre = first["children"]
    assert _tree_text([summary]).startswith("Metadata")
    shown = _tree_text([pre])
    assert "n<1K" in shown and "a & <b>" in shown and "\\x3C" not in shown


def test_text_summary_states_generation_lengths_in_characters():
    """The Markdown form of the step view (what reports show) gives the length range in
    characters, and says so plainly when every row has one length."""
    from dreamer_lab.steps import DataSource

    same = render_markdown(summarize(DataSource("same", data={"generations": ["ok"] * 4})))
    assert "length of generations: 2 characters, every row" in same
    mixed = DataSource("mixed", data={"generations": ["a" * 10, "b" * 30, "c" * 20, "d" * 10]})
    assert "length of generations: 10–30 characters " in render_markdown(summarize(mixed))
