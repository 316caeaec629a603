"""The wizards and the card widget driven end to end in a real JupyterLab, as a user would:
the generation wizard writes and runs a %%dream cell against a local OpenAI-compatible
server, the new step appears in the already open training wizard and card widget, the
training wizard fine-tunes a tiny local model, and the card widget exports the card with
the text typed into it. Each view is captured and checked with axe-core in both themes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ARTIFACTS, REPO, axe_violations, publish, put_notebook, set_theme

# A local OpenAI-compatible server (tests/openai_server.py) and a tiny Llama built on the
# spot (tests/tiny_models.py): real clients and a real trainer, no network, seconds.
SETUP = f"""%load_ext dreamer_lab
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
from openai_server import API_KEY, FakeOpenAIServer
from tiny_models import build_tiny_llama
from dreamer_lab.llms import OpenAI
server = FakeOpenAIServer(latency=1.5, idle_timeout=900).start()  # slow: "running" shows
llm = OpenAI("gpt-4o-mini", base_url=server.base_url, api_key=API_KEY)
base = str(build_tiny_llama("tiny-llama"))
print("READY")"""
TIMEOUT = 120_000
TEMPLATE = "Write a short poem about cats."


def shoot(page, target, name: str) -> None:
    """``target``'s screenshot, in a viewport tall enough that nothing overlaps it; kept as a
    test artifact and as the docs' image."""
    page.set_viewport_size({"width": 1400, "height": 2000})
    target.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    publish(f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 900})


def wizard(page, title: str):
    return page.locator(f'.dreamer-lab-wizard:has(.dlw-title:text-is("{title}"))')


def option_values(select) -> list[str]:
    return select.evaluate("s => [...s.options].map(o => o.value)")


def run_cell(page, index: int) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).click()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run Selected Cell and Do not Advance")').click()


def fill(form, label: str, value: str) -> None:
    field = form.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")  # number fields commit on change


def wait_code(page, form, text: str) -> None:
    """The code is derived in the kernel and synced back to the form."""
    form.locator(f".dlw-code:has-text({text!r})").wait_for(timeout=30_000)


@pytest.fixture(scope="module")
def wizards(lab, page):
    """Three open forms (generate, train, card) in a kernel with an LLM and a base model."""
    (lab["root"] / "e2e").mkdir()
    put_notebook(
        lab,
        "e2e/wizards.ipynb",
        [SETUP, "%dream wizard", "%dream wizard train", "%dream wizard card"],
    )
    page.goto(f"{lab['url']}/lab/tree/e2e/wizards.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    set_theme(page, "JupyterLab Light", light=True)
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('READY')", timeout=TIMEOUT)
    for title in ("Generate data", "Train a model", "Data or model card"):
        wizard(page, title).wait_for(timeout=TIMEOUT)
    return page


def test_generation_wizard_inserts_and_runs_its_cell(wizards):
    page = wizards
    form = wizard(page, "Generate data")
    fill(form, "Result name", "poems")
    form.get_by_label("Model", exact=True).select_option("llm")
    fill(form, "Template", TEMPLATE)
    fill(form, "Rows", "4")
    fill(form, "Max new tokens", "16")
    wait_code(page, form, "%%dream poems = DataFromPrompt(llm=llm, n=4, max_new_tokens=16")
    assert TEMPLATE in form.locator(".dlw-preview").inner_text()  # the rendered prompt
    assert "tokens" in form.locator(".dlw-info").inner_text()  # the estimate
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    form.get_by_role("button", name="Insert and run").click()
    page.wait_for_function(
        f"document.querySelectorAll('.jp-Notebook .jp-Cell').length === {cells + 1}"
    )
    new_cell = page.locator(".jp-Notebook .jp-Cell").nth(2)  # below the wizard's cell
    assert "%%dream poems" in new_cell.locator(".jp-InputArea-editor").inner_text()
    view = new_cell.locator(".dreamer-lab-view")
    # The view shows the step running (the server answers in 1.5 s), then done.
    view.locator(".dlv-badge:text-is('running')").wait_for(timeout=TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)  # the docs' running views come from test_progress.py
    view.screenshot(path=str(ARTIFACTS / "step-view-running-e2e.png"))
    view.locator(".dlv-badge:text-is('computed')").wait_for(timeout=TIMEOUT)
    assert "4 rows" in view.inner_text()


def test_a_new_step_appears_in_the_open_wizards(wizards):
    page = wizards
    train = wizard(page, "Train a model")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.dreamer-lab-wizard select[name=train_input] option')]
            .some(o => o.value === "poems.output['prompts']")""",
        timeout=30_000,
    )
    assert "poems.output['generations']" in option_values(
        train.get_by_label("Output column", exact=True)
    )
    card = wizard(page, "Data or model card")
    assert "poems" in option_values(card.get_by_label("Step or model", exact=True))
    generate = wizard(page, "Generate data")
    assert "poems" in option_values(generate.get_by_label("Rows from step (Prompt)"))


def test_training_wizard_trains_a_model(wizards):
    page = wizards
    form = wizard(page, "Train a model")
    fill(form, "Model name", "poet")
    fill(form, "Base model (name, folder or smollm2)", "tiny-llama")
    form.get_by_label("Input column", exact=True).select_option("poems.output['prompts']")
    form.get_by_label("Output column", exact=True).select_option("poems.output['generations']")
    wait_code(page, form, "%dream poet = TrainHFFineTune(model_name='tiny-llama'")
    wait_code(page, form, "train_input=poems.output['prompts']")
    wait_code(page, form, "train_output=poems.output['generations']")
    fill(form, "Epochs", "6")  # a few points on the loss curve
    wait_code(page, form, "epochs=6")
    form.get_by_role("button", name="Insert and run").click()
    cell = page.locator(".jp-Notebook .jp-Cell:has(.jp-InputArea-editor:has-text('%dream poet'))")
    cell.wait_for(timeout=30_000)
    view = cell.locator(".dreamer-lab-view")
    view.locator(".dlv-badge:text-is('computed')").wait_for(timeout=TIMEOUT)
    assert "loss" in view.inner_text()


def test_sidebar_shows_the_trained_model_without_sample_rows(wizards):
    page = wizards
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()
    node = page.locator('#dreamer-lab-lineage g.dl-node[aria-label^="poet,"]')
    node.wait_for(timeout=30_000)
    node.focus()
    page.keyboard.press("Enter")
    details = page.locator("#dreamer-lab-lineage .dl-details")
    details.locator(".dl-card :is(.jp-RenderedMarkdown, .dl-hint)").first.wait_for()
    # A model has no rows: no empty "Sample rows" heading, its card instead.
    assert details.locator("h4:text-is('Sample rows')").count() == 0
    assert details.locator("h4:text-is('Card')").count() == 1
    assert axe_violations(page, "#dreamer-lab-lineage") == []
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()  # close


def test_card_widget_exports_the_users_text(wizards, lab):
    page = wizards
    form = wizard(page, "Data or model card")
    form.get_by_label("Step or model", exact=True).select_option("poems")
    fill(form, "Intended use", "Testing the card widget in a browser.")
    fill(form, "Export folder", "poems-card")
    form.locator(".dlw-card:has-text('Testing the card widget in a browser.')").wait_for(
        timeout=30_000
    )
    # The preview opens at the top; its scrollable region takes keyboard focus and has a
    # name; the front matter is folded under "Metadata", readable (n<1K, not n\x3C1K).
    card = form.locator(".dlw-card")
    assert card.evaluate("e => e.scrollTop") == 0
    assert card.get_attribute("tabindex") == "0" and card.get_attribute("aria-label")
    meta = card.locator("details")
    assert meta.evaluate("e => e.open") is False
    meta.locator("summary").click()
    shown = meta.locator("pre").inner_text()
    assert "n<1K" in shown and "\\x3C" not in shown, shown
    meta.locator("summary").click()
    form.get_by_role("button", name="Export").click()
    form.locator(".dlw-result:not(:empty)").wait_for(timeout=30_000)
    result = form.locator(".dlw-result").inner_text()
    assert "poems-card" in result and "{" not in result, result  # a sentence, not a dict
    readme = lab["root"] / "e2e" / "poems-card" / "README.md"
    text = readme.read_text()
    assert "Testing the card widget in a browser." in text
    front = yaml.safe_load(text.split("---\n")[1])  # the file stays valid YAML
    assert front["size_categories"] == ["n<1K"]


VIEWS = {
    "wizard-generate": '.dreamer-lab-wizard:has(.dlw-title:text-is("Generate data"))',
    "wizard-train": '.dreamer-lab-wizard:has(.dlw-title:text-is("Train a model"))',
    "card-widget": '.dreamer-lab-wizard:has(.dlw-title:text-is("Data or model card"))',
    "step-view": ".jp-Cell:has(.jp-InputArea-editor:has-text('%%dream poems')) .dreamer-lab-view",
    "trainer-view": ".jp-Cell:has(.jp-InputArea-editor:has-text('%dream poet')) .dreamer-lab-view",
}
# axe takes CSS selectors: the same elements, marked for it.
MARK = "data-dl-axe"


@pytest.mark.parametrize(
    ("theme", "light"), [("JupyterLab Light", True), ("JupyterLab Dark", False)]
)
def test_views_screenshots_and_accessibility(wizards, theme, light):
    page = wizards
    set_theme(page, theme, light)
    suffix = "light" if light else "dark"
    problems = {}
    for name, selector in VIEWS.items():
        target = page.locator(selector).first
        target.evaluate(f"(e, n) => e.setAttribute('{MARK}', n)", name)
        shoot(page, target, f"{name}-{suffix}")
        found = axe_violations(page, f'[{MARK}="{name}"]')
        if found:
            problems[name] = found
    set_theme(page, "JupyterLab Light", light=True)
    assert problems == {}


def test_html_report_of_the_notebook(wizards, lab, browser):
    """`dreamer-lab report` on the saved notebook: a standalone page with the step, the model
    and the card the user wrote (the card widget's inserted cell saves it); captured (light)
    and checked with axe-core."""
    page = wizards
    wizard(page, "Data or model card").get_by_role("button", name="Insert and run").click()
    saved = page.locator(
        ".jp-Cell:has(.jp-InputArea-editor:has-text('card_for(')) .jp-OutputArea-output"
    )
    saved.first.wait_for(timeout=TIMEOUT)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator('.lm-MenuBar-itemLabel:text-is("File")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Save Notebook")').click()
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    nb = lab["root"] / "e2e" / "wizards.ipynb"
    subprocess.run(
        [str(Path(sys.executable).with_name("dreamer-lab")), "report", str(nb)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    html = nb.with_name("wizards_report") / "report.html"
    # The report's CSP allows no script: axe-core is injected past it (a test-only context).
    context = browser.new_context(viewport={"width": 1100, "height": 900}, bypass_csp=True)
    report = context.new_page()
    try:
        report.goto(html.as_uri())
        text = report.locator("body").inner_text()
        assert "poems" in text and "poet" in text
        assert "Testing the card widget in a browser." in text  # the card the user exported
        ARTIFACTS.mkdir(exist_ok=True)
        report.screenshot(path=str(ARTIFACTS / "report-full-light.png"), full_page=True)
        # The docs' image: the lineage and the notebook's first step, not 6000 px of page.
        top = report.locator("#lineage").bounding_box()["y"] - 12
        clip = {"x": 0, "y": top, "width": 1100, "height": 1500}
        report.screenshot(path=str(ARTIFACTS / "report-light.png"), clip=clip, full_page=True)
        publish("report-light.png")
        assert axe_violations(report, "body") == []
    finally:
        context.close()
