"""The lineage sidebar in a real JupyterLab: loads, fills from a workflow, goes to cells,
follows the dark theme, and never executes HTML found in data or step names."""

from __future__ import annotations

import re

import pytest
from conftest import ARTIFACTS, put_notebook, set_theme
from playwright.sync_api import expect

XSS = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"
WORKFLOW = f"""from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource
XSS = {XSS!r}
with DataDreamer("./dreamer_workspace"):
    src = DataSource("questions", {{"q": ["What is 2+2?", XSS]}})
    doubled = src.map(lambda r: {{"q2": r["q"] * 2}}, name="doubled")
    tagged = src.map(lambda r: {{"tag": XSS}}, name=XSS)
print("FP", src.fingerprint, doubled.fingerprint, tagged.fingerprint)"""
# What the %%dream magic will do: stamp the cell output with the step's fingerprint.
STAMP = """from IPython.display import display
display({"text/plain": "step doubled"}, raw=True,
        metadata={"dreamer_lab": {"fingerprint": doubled.fingerprint, "step": "doubled"}})"""
TIMEOUT = 120_000

pytestmark = pytest.mark.slow


def node(page, fp: str):
    return page.locator(f'#dreamer-lab-lineage g.dl-node[data-fingerprint="{fp}"]')


def active_cell_text(page) -> str:
    return page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputArea").inner_text()


@pytest.fixture(scope="module")
def workflow(lab, page):
    """Open JupyterLab on a notebook and run the workflow; yields the three fingerprints."""
    put_notebook(lab, "workflow.ipynb", [WORKFLOW, STAMP, "print('last cell')"])
    page.goto(f"{lab['url']}/lab/tree/workflow.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    page.wait_for_selector('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]')
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()
    # Run only once the kernel is up: before that, Run opens a "Select Kernel" dialog.
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('last cell')", timeout=TIMEOUT)
    text = page.locator(".jp-OutputArea-output:has-text('FP ')").inner_text()
    fps = re.search(r"FP (\w+) (\w+) (\w+)", text)
    assert fps, text
    return fps.groups()


def test_extension_loads_without_console_errors(workflow, page):
    assert page.locator("#dreamer-lab-lineage").is_visible()
    errors = [e for e in page.console_errors if "favicon" not in e]
    assert errors == [], errors


def test_workflow_fills_sidebar_with_nodes_and_edges(workflow, page):
    src, doubled, tagged = workflow
    # The kernel going idle refreshes the sidebar: no manual refresh needed.
    page.wait_for_function(
        "document.querySelectorAll('#dreamer-lab-lineage g.dl-node').length === 3"
        " && document.querySelectorAll('#dreamer-lab-lineage path.dl-edge').length === 2",
        timeout=30_000,
    )
    assert node(page, src).get_attribute("aria-label").startswith("questions, DataSource, computed")
    assert "2 rows" in node(page, doubled).get_attribute("aria-label")
    assert node(page, tagged).get_attribute("aria-label").startswith(XSS)
    edges = page.locator("#dreamer-lab-lineage path.dl-edge")
    pairs = {(e.get_attribute("data-source"), e.get_attribute("data-target")) for e in edges.all()}
    assert pairs == {(src, doubled), (src, tagged)}
    expect(page.locator("#dreamer-lab-lineage select")).to_have_value("dreamer_workspace")


def test_clicking_a_node_selects_its_cell_and_shows_rows(workflow, page):
    src, doubled, _ = workflow
    page.locator(".jp-Notebook .jp-Cell").last.click()
    node(page, doubled).click()
    # The output stamp wins: the cell that displayed the step, not the one that defined it.
    page.wait_for_function(
        "document.querySelector('.jp-Notebook .jp-Cell.jp-mod-active')"
        "?.textContent.includes('step doubled')"
    )
    assert "dreamer_lab" in active_cell_text(page)
    page.wait_for_selector("#dreamer-lab-lineage .dl-sample .dl-cell:visible")
    assert (
        "What is 2+2?What is 2+2?" in page.locator("#dreamer-lab-lineage .dl-sample").inner_text()
    )
    # Without a stamp, the cell id recorded with the step is used.
    node(page, src).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector('.jp-Notebook .jp-Cell.jp-mod-active')"
        "?.textContent.includes('DataSource(\"questions\"')"
    )
    page.wait_for_selector("#dreamer-lab-lineage .dl-sample .dl-cell:visible")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#dreamer-lab-lineage").screenshot(path=str(ARTIFACTS / "sidebar-step-view.png"))


def test_injected_html_never_executes(workflow, page):
    _, _, tagged = workflow
    node(page, tagged).focus()  # keyboard: the node may sit at the panel's clipped edge
    page.keyboard.press("Enter")
    page.wait_for_selector("#dreamer-lab-lineage .dl-sample .dl-cell:visible")
    # The text is shown as text ...
    assert XSS in page.locator("#dreamer-lab-lineage .dl-details-name").inner_text()
    assert XSS in page.locator("#dreamer-lab-lineage .dl-sample").inner_text()
    # ... and never parsed: no element was created from it, no handler ran.
    assert page.locator("#dreamer-lab-lineage img, #dreamer-lab-lineage script").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None


def test_dark_theme_renders(workflow, page):
    box = page.locator("#dreamer-lab-lineage .dl-node-box").first
    light = box.evaluate("e => getComputedStyle(e).fill")
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').hover()
    page.locator('.lm-Menu-itemLabel:text-is("JupyterLab Dark")').click()
    page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached", timeout=30_000)
    page.wait_for_function(
        "(light) => getComputedStyle(document.querySelector("
        "'#dreamer-lab-lineage .dl-node-box')).fill !== light",
        arg=light,
        timeout=30_000,
    )
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    bg = page.locator("#dreamer-lab-lineage").evaluate("e => getComputedStyle(e).backgroundColor")
    # Dark theme: the panel background is dark (sum of RGB channels is low).
    assert sum(int(c) for c in re.findall(r"\d+", bg)[:3]) < 200, bg
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab-dark.png"))
    page.locator("#dreamer-lab-lineage").screenshot(path=str(ARTIFACTS / "sidebar-dark.png"))
    assert page.evaluate("window.__pwned") is None
    # Back to light: the theme is a user setting shared by the other tests' pages.
    set_theme(page, "JupyterLab Light", light=True)
