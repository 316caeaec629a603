"""A step running (in the background or in the busy kernel) shows in the sidebar as running, its progress bar grows,
and it turns fresh (with its rows) when it finishes, without any manual refresh. A long step
built by plain Python in a cell shows the live step view in the cell (progress and time left;
captured in both themes and checked with axe-core), which ends in the computed view."""

from __future__ import annotations

import re

import pytest
from conftest import ARTIFACTS, axe_violations, publish, put_notebook, set_theme
from playwright.sync_api import expect

# About 6 s of work in a background process: the cell returns at once, the kernel goes idle,
# and the sidebar polls while a step is running.
SLOW = """import time
from dreamer_lab import DataDreamer
from dreamer_lab.steps import Step

class Countdown(Step):
    def setup(self):
        self.register_arg("n", required=True, help="how many rows to produce")
        self.register_output("i")

    def run(self):
        n = self.args["n"]
        for i in range(n):
            time.sleep(0.3)
            self.progress = (i + 1) / n
        return {"i": list(range(n))}

with DataDreamer("./dreamer_workspace"):
    slow = Countdown("countdown", args={"n": 20}, background=True)
print("FP", slow.fingerprint)"""
# The same step in the foreground: the cell (and the kernel) stay busy while it runs.
FOREGROUND = """%load_ext dreamer_lab
with DataDreamer("./dreamer_workspace"):
    fg = Countdown("foreground", args={"n": 40})
print("FG done")"""
TIMEOUT = 120_000

pytestmark = pytest.mark.slow


def test_running_step_shows_progress_then_computed(lab, page):
    (lab["root"] / "progress").mkdir()
    put_notebook(lab, "progress/progress.ipynb", [SLOW, FOREGROUND])
    page.goto(f"{lab['url']}/lab/tree/progress/progress.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run Selected Cell and Do not Advance")').click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('FP ')", timeout=TIMEOUT)
    text = page.locator(".jp-OutputArea-output:has-text('FP ')").inner_text()
    fp = re.search(r"FP (\w+)", text).group(1)
    node = page.locator(f'#dreamer-lab-lineage g.dl-node[data-fingerprint="{fp}"]')

    # Running: the sidebar polls after the kernel goes idle; nobody refreshes by hand.
    node.and_(page.locator(".dl-status-running")).wait_for(timeout=10_000)
    assert node.get_attribute("aria-label") == "countdown, Countdown, running"
    expect(page.locator("#dreamer-lab-lineage select")).to_have_value("progress/dreamer_workspace")
    # The bar grows while the step runs.
    page.wait_for_function(
        "(fp) => {"
        " const bar = document.querySelector("
        "  `#dreamer-lab-lineage g.dl-node[data-fingerprint='${fp}'] rect.dl-progress`);"
        " return bar && Number(bar.getAttribute('width')) > 0; }",
        arg=fp,
        timeout=10_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#dreamer-lab-lineage").screenshot(path=str(ARTIFACTS / "sidebar-running.png"))

    # Done: computed, with its rows, and no progress bar left.
    node.and_(page.locator(".dl-status-computed")).wait_for(timeout=30_000)
    assert node.get_attribute("aria-label") == "countdown, Countdown, computed, 20 rows"
    assert node.locator("rect.dl-progress").count() == 0


def test_foreground_step_shows_running_while_the_cell_executes(lab, page):
    # Runs after the test above, on the same page and kernel (Countdown is defined).
    page.locator(".jp-Notebook .jp-Cell").nth(1).click()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run Selected Cell and Do not Advance")').click()
    running = page.locator(
        '#dreamer-lab-lineage g.dl-node[aria-label="foreground, Countdown, running"]'
    )
    running.wait_for(timeout=10_000)
    # Still executing: the sidebar found the step by polling the busy kernel's workspace.
    assert page.locator(".jp-OutputArea-output:has-text('FG done')").count() == 0
    # The cell shows the step's live view: running, its progress and the time left.
    view = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".dreamer-lab-view")
    view.locator(".dlv-badge:text-is('running')").wait_for(timeout=10_000)
    view.locator(".dlv-meta:has-text('about')").wait_for(timeout=10_000)  # 'about 9 s left'
    assert "foreground" in view.inner_text()
    view.evaluate("e => e.setAttribute('data-dl-axe', 'running')")  # axe takes CSS selectors
    ARTIFACTS.mkdir(exist_ok=True)
    view.scroll_into_view_if_needed()
    view.screenshot(path=str(ARTIFACTS / "step-view-running-light.png"))
    publish("step-view-running-light.png")
    assert axe_violations(page, '[data-dl-axe="running"]') == []
    set_theme(page, "JupyterLab Dark", light=False)
    try:
        view.locator(".dlv-badge:text-is('running')").wait_for(timeout=1_000)
        view.screenshot(path=str(ARTIFACTS / "step-view-running-dark.png"))
        publish("step-view-running-dark.png")
        assert axe_violations(page, '[data-dl-axe="running"]') == []
    finally:
        set_theme(page, "JupyterLab Light", light=True)
    page.wait_for_selector(".jp-OutputArea-output:has-text('FG done')", timeout=TIMEOUT)
    page.locator(
        '#dreamer-lab-lineage g.dl-node[aria-label="foreground, Countdown, computed, 40 rows"]'
    ).wait_for(timeout=10_000)
    # The same view, now done: computed with its rows (one view, updated in place).
    view.locator(".dlv-badge:text-is('computed')").wait_for(timeout=10_000)
    assert page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".dreamer-lab-view").count() == 1
