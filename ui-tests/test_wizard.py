"""The notebook wizards in a real JupyterLab: "Insert cell" puts the wizard's code (as plain
text) into a new cell below the wizard's cell, and "run" executes it."""

from __future__ import annotations

import pytest
from conftest import put_notebook

TIMEOUT = 120_000
SHOW = 'from dreamer_lab.notebook import wizard\nwizard("generate", ns={})'
TEMPLATE = "Write a poem about <b>cats</b> & dogs"

pytestmark = pytest.mark.slow


def cell_texts(page) -> list[str]:
    return page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").all_inner_texts()


@pytest.fixture(scope="module")
def wizard_page(lab, page):
    """A notebook whose first cell shows the generation wizard (offline: no model is called)."""
    put_notebook(lab, "wizard.ipynb", [SHOW, "print('after')"])
    page.goto(f"{lab['url']}/lab/tree/wizard.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    # Run only once the kernel is up: before that, Run opens a "Select Kernel" dialog.
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run Selected Cell and Do not Advance")').click()
    page.wait_for_selector(".dreamer-lab-wizard .dlw-field", timeout=TIMEOUT)
    return page


def test_insert_cell_adds_the_wizard_code_below_as_text(wizard_page):
    page = wizard_page
    form = page.locator(".dreamer-lab-wizard")
    form.get_by_label("Result name").fill("poems")
    form.get_by_label("Template").fill(TEMPLATE)
    form.get_by_label("Rows", exact=True).fill("5")
    form.get_by_label("Rows", exact=True).press("Tab")  # a number field commits on change
    form.get_by_label("Max new tokens", exact=True).fill("128")
    form.get_by_label("Max new tokens", exact=True).press("Tab")
    # The code is derived in the kernel and synced back to the form.
    expected = f"%%dream poems = DataFromPrompt(n=5, max_new_tokens=128)\n{TEMPLATE}"
    page.wait_for_function(
        "(want) => document.querySelector('.dreamer-lab-wizard .dlw-code')?.textContent === want",
        arg=expected,
        timeout=30_000,
    )
    page.locator(".jp-Notebook .jp-Cell").last.click()  # another cell active: still goes below
    form.get_by_role("button", name="Insert cell", exact=True).click()
    page.wait_for_function(
        "document.querySelectorAll('.jp-Notebook .jp-Cell').length === 3", timeout=30_000
    )
    texts = cell_texts(page)
    assert texts[1].replace("\u200b", "") == expected
    assert "print('after')" in texts[2]
    new_cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
    assert "jp-mod-active" in (new_cell.get_attribute("class") or "")
    assert "jp-CodeCell" in (new_cell.get_attribute("class") or "")
    # The template's markup stayed text: no element was made from it.
    assert new_cell.locator(".jp-InputArea b").count() == 0
    assert new_cell.locator(".jp-OutputArea-output").count() == 0  # inserted, not run


def test_insert_event_with_run_executes_the_new_cell(wizard_page):
    page = wizard_page
    before = page.locator(".jp-Notebook .jp-Cell").count()
    # The same event the wizard's "Insert and run" button sends, with code that runs offline.
    page.locator(".dreamer-lab-wizard").evaluate(
        """root => root.dispatchEvent(new CustomEvent('dreamer-lab:insert-cell', {
            bubbles: true, composed: true, detail: {code: "print('ran', 6 * 7)", run: true}}))"""
    )
    page.wait_for_function(
        f"document.querySelectorAll('.jp-Notebook .jp-Cell').length === {before + 1}",
        timeout=30_000,
    )
    new_cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
    assert "print('ran', 6 * 7)" in new_cell.locator(".jp-InputArea-editor").inner_text()
    new_cell.locator(".jp-OutputArea-output:has-text('ran 42')").wait_for(timeout=TIMEOUT)


def test_wizard_adds_no_console_errors(wizard_page):
    errors = [e for e in wizard_page.console_errors if "favicon" not in e]
    assert errors == []
