"""Re-running a source with new data marks its older run and everything downstream stale in the
sidebar; the page is captured in both themes (the README's screenshots, docs/images/), with
``%load_ext dreamer_lab`` as a notebook would have it (no library progress bars in cells)."""

from __future__ import annotations

import shutil

import pytest
from conftest import ARTIFACTS, publish, put_notebook, set_theme

PIPELINE = """%load_ext dreamer_lab
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource

def pipeline(topics):
    src = DataSource("topics", {"topic": topics})
    prompts = src.map(lambda r: {"prompt": f"Explain {r['topic']} to a child."}, name="prompts")
    return prompts.filter(lambda r: len(r["prompt"]) < 32, name="short prompts")

with DataDreamer("./dreamer_workspace"):
    pipeline(["tides", "volcanoes", "rainbows"])"""
RERUN = """with DataDreamer("./dreamer_workspace"):
    short = pipeline(["tides", "volcanoes", "rainbows", "black holes", "photosynthesis"])
short.head()"""
TIMEOUT = 120_000
NODES = "#dreamer-lab-lineage g.dl-node"

pytestmark = pytest.mark.slow


def select(page, label: str) -> None:
    """Open a node's details by keyboard (a node may sit at the panel's clipped edge)."""
    page.locator(f'{NODES}[aria-label="{label}"]').focus()
    page.keyboard.press("Enter")


def test_newer_run_makes_old_run_and_descendants_stale(lab, page):
    (lab["root"] / "stale").mkdir()
    put_notebook(lab, "stale/pipeline.ipynb", [PIPELINE, RERUN])
    page.goto(f"{lab['url']}/lab/tree/stale/pipeline.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('black holes')", timeout=TIMEOUT)
    page.wait_for_function(f"document.querySelectorAll('{NODES}').length === 6", timeout=30_000)
    # With the extension loaded, the cells show no library progress bars.
    assert page.locator(".jp-OutputArea-output:has-text('Flattening the indices')").count() == 0

    labels = sorted(n.get_attribute("aria-label") for n in page.locator(NODES).all())
    assert labels == [
        "prompts, map, computed, 5 rows",
        "prompts, map, stale, 3 rows",
        "short prompts, filter, computed, 4 rows",
        "short prompts, filter, stale, 3 rows",
        "topics, DataSource, computed, 5 rows",
        "topics, DataSource, stale, 3 rows",
    ]
    select(page, "short prompts, filter, computed, 4 rows")
    page.wait_for_selector("#dreamer-lab-lineage .dl-sample .dl-cell:visible")
    assert (
        "Explain tides to a child." in page.locator("#dreamer-lab-lineage .dl-sample").inner_text()
    )
    # Why it is stale is shown on the old run.
    select(page, "topics, DataSource, stale, 3 rows")
    page.wait_for_selector("#dreamer-lab-lineage .dl-details:has-text('newer run')")

    ARTIFACTS.mkdir(exist_ok=True)
    select(page, "short prompts, filter, computed, 4 rows")
    page.wait_for_selector("#dreamer-lab-lineage .dl-sample .dl-cell:visible")
    set_theme(page, "JupyterLab Light", light=True)  # another module may have left it dark
    page.screenshot(path=str(ARTIFACTS / "docs-lab-light.png"))
    # The README's image (docs/images/sidebar.png): the light theme, really.
    bg = page.locator("#dreamer-lab-lineage").evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(255, 255, 255)", bg
    shutil.copy(ARTIFACTS / "docs-lab-light.png", ARTIFACTS / "sidebar.png")
    publish("sidebar.png")
    set_theme(page, "JupyterLab Dark", light=False)
    page.screenshot(path=str(ARTIFACTS / "docs-lab-dark.png"))
    shutil.copy(ARTIFACTS / "docs-lab-dark.png", ARTIFACTS / "sidebar-dark.png")
    publish("sidebar-dark.png")
    # Back to light: the theme is a user setting shared by the other tests' pages.
    set_theme(page, "JupyterLab Light", light=True)
