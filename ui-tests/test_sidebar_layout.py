"""The sidebar at JupyterLab's default width (250 px) and wide, in the light and dark themes:
a one-row toolbar, the graph centred at a readable size in an area as tall as the graph
(the details pane gets the rest), split names that stay
distinguishable, sample rows readable, the card as Markdown, re-fit on resize, no serious
axe-core violations; the screenshots are the README's (docs/images/)."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, axe_violations, publish, put_notebook, set_theme

WORKFLOW = """from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataCardType, Step

REVIEWS = {
    "review": [
        "The battery lasts two full days and the screen is bright outside.",
        "Stopped charging after a week; support never answered my emails.",
        "Does what it says. The case feels cheap but the price is fair.",
        "Great sound for the size, though the bass distorts at full volume.",
    ],
    "label": ["positive", "negative", "neutral", "positive"],
}


class Reviews(Step):
    def setup(self):
        self.register_output("review")
        self.register_output("label")

    def run(self):
        self.register_data_card(DataCardType.LICENSE, "cc-by-4.0")
        self.register_data_card(DataCardType.URL, "https://example.org/<reviews>")
        self.register_data_card(DataCardType.CITATION, "@misc{reviews,\\n  title={Reviews}\\n}")
        return REVIEWS


with DataDreamer("./dreamer_workspace"):
    src = Reviews("synthetic reviews")
    train, test = src.splits(train_size=0.5, test_size=0.5)
print("FP", train.fingerprint, test.fingerprint)"""
TIMEOUT = 120_000
SIDEBAR = "#dreamer-lab-lineage"
NODES = f"{SIDEBAR} g.dl-node"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def splits(lab, page):
    """JupyterLab light, the sidebar open at its default width, a source and its splits."""
    (lab["root"] / "layout").mkdir()
    put_notebook(lab, "layout/reviews.ipynb", [WORKFLOW])
    page.goto(f"{lab['url']}/lab/tree/layout/reviews.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT)
    set_theme(page, "JupyterLab Light", light=True)
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]').click()
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=TIMEOUT)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run Selected Cell and Do not Advance")').click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('FP ')", timeout=TIMEOUT)
    page.wait_for_function(
        f"document.querySelectorAll('{NODES}').length === 3"
        f" && document.querySelectorAll('{SIDEBAR} path.dl-edge').length === 2",
        timeout=30_000,
    )
    return page


def shoot(page, name: str) -> None:
    """The sidebar's screenshot, kept as a test artifact and as the README's image."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # the re-fit after a resize runs on the next frame
    page.locator(SIDEBAR).screenshot(path=str(ARTIFACTS / name))
    publish(name)


def geometry(page) -> dict:
    """Measured layout: toolbar rows, graph margins, on-screen text sizes, node labels."""
    return page.evaluate(
        """(sel) => {
        const root = document.querySelector(sel);
        const tops = [...root.querySelectorAll('.dl-toolbar > .jp-Toolbar-item')]
            .map(e => Math.round(e.getBoundingClientRect().top));
        const bar = root.querySelector('.dl-toolbar').getBoundingClientRect();
        const items = [...root.querySelectorAll('.dl-toolbar > .jp-Toolbar-item')]
            .map(e => e.getBoundingClientRect());
        const g = root.querySelector('.dl-graph').getBoundingClientRect();
        const boxes = [...root.querySelectorAll('g.dl-node')].map(e => e.getBoundingClientRect());
        const left = Math.min(...boxes.map(b => b.left)), right = Math.max(...boxes.map(b => b.right));
        const top = Math.min(...boxes.map(b => b.top)), bottom = Math.max(...boxes.map(b => b.bottom));
        const d = root.querySelector('.dl-details').getBoundingClientRect();
        const fonts = [...root.querySelectorAll('g.dl-node text')].map(
            t => t.getCTM().a * parseFloat(getComputedStyle(t).fontSize));
        const labels = Object.fromEntries([...root.querySelectorAll('g.dl-node')].map(
            n => [n.getAttribute('aria-label').split(',')[0], n.querySelector('.dl-node-name').textContent]));
        return {
            width: root.getBoundingClientRect().width,
            rows: new Set(tops).size,
            overflow: items.some(r => r.right > bar.right + 1 || r.bottom > bar.bottom + 1),
            gap: [left - g.left, g.right - right],
            vgap: [top - g.top, g.bottom - bottom],
            details: {top: d.top, height: d.height, graphBottom: g.bottom},
            minFont: Math.min(...fonts),
            labels,
        };
    }""",
        SIDEBAR,
    )


def test_empty_details_explain_what_to_do(splits):
    hint = splits.locator(f"{SIDEBAR} .dl-details .dl-hint").first.inner_text()
    assert "Select a step" in hint


def test_narrow_sidebar_is_readable(splits):
    page = splits
    m = geometry(page)
    assert 230 <= m["width"] <= 300, m  # JupyterLab's default sidebar width
    assert m["rows"] == 1 and not m["overflow"], m  # one toolbar row, nothing cut off
    assert m["minFont"] >= 9.9, m  # Fit keeps text readable
    assert min(m["gap"]) >= 0 and abs(m["gap"][0] - m["gap"][1]) <= 2, m  # centred, inside
    # The graph area is as tall as the graph: no empty band above the details pane, which
    # starts right under it and gets the rest of the panel.
    assert min(m["vgap"]) >= 0 and max(m["vgap"]) <= 40, m
    assert abs(m["details"]["top"] - m["details"]["graphBottom"]) <= 2, m
    assert m["details"]["height"] >= 400, m
    train, test = m["labels"]["synthetic reviews / train"], m["labels"]["synthetic reviews / test"]
    assert train != test and train.endswith("train") and test.endswith("test"), m["labels"]
    # The full name is in the node's tooltip.
    title = page.locator(f'{NODES}[aria-label^="synthetic reviews / train"] title').text_content()
    assert title.startswith("synthetic reviews / train")

    page.locator(f'{NODES}[aria-label^="synthetic reviews / train"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{SIDEBAR} .dl-sample .dl-cell:visible")
    # Narrow: each row stacked (column name, value), full width, no sideways scrolling.
    cell = page.locator(f"{SIDEBAR} .dl-sample .dl-cell:visible").first
    assert cell.bounding_box()["width"] >= 120
    details = page.locator(f"{SIDEBAR} .dl-details")
    assert details.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    for button in page.locator(f"{SIDEBAR} .dl-actions button").all():
        assert button.bounding_box()["height"] <= 30  # one line of text
    # A step without card fragments says so.
    page.wait_for_selector(f"{SIDEBAR} .dl-card .dl-hint:has-text('No card information')")
    # The card is rendered Markdown (sanitized), not a JSON dump.
    page.locator(f'{NODES}[aria-label^="synthetic reviews,"]').focus()
    page.keyboard.press("Enter")
    md = page.locator(f"{SIDEBAR} .dl-card .jp-RenderedMarkdown")
    md.wait_for()
    assert md.locator("li:has-text('cc-by-4.0')").count() == 1
    assert "https://example.org/<reviews>" in md.inner_text()  # escaped, shown as text
    assert md.locator("pre:has-text('@misc{reviews')").count() == 1  # multi-line: code block
    assert '{"' not in md.inner_text()
    shoot(page, "sidebar-narrow-light.png")
    assert axe_violations(page, SIDEBAR) == []


def test_narrow_sidebar_dark(splits):
    page = splits
    set_theme(page, "JupyterLab Dark", light=False)
    shoot(page, "sidebar-narrow-dark.png")
    assert axe_violations(page, SIDEBAR) == []


def test_wide_sidebar_refits_on_resize(splits):
    page = splits
    before = page.locator(SIDEBAR).get_attribute("data-scale")
    box = page.locator(SIDEBAR).bounding_box()
    # Drag the split handle at the sidebar's right edge: 250 px to about 560 px.
    x, y = box["x"] + box["width"] + 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y, steps=5)
    page.mouse.move(x + 310, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        f"document.querySelector('{SIDEBAR}').getBoundingClientRect().width > 500"
    )
    page.wait_for_timeout(300)
    m = geometry(page)
    assert abs(m["gap"][0] - m["gap"][1]) <= 2, m  # centred again, by the ResizeObserver
    assert min(m["vgap"]) >= 0 and max(m["vgap"]) <= 40, m  # the graph area follows the graph
    assert m["minFont"] >= 9.9 and m["rows"] == 1, m
    # Wide: full-size nodes, and the sample rows as a table.
    assert page.locator(f"{NODES} .dl-node-box").first.get_attribute("width") == "170"
    page.wait_for_selector(f"{SIDEBAR} .dl-sample table.dl-table td:visible")
    assert page.locator(SIDEBAR).get_attribute("data-scale") != before or before == "1.000"
    shoot(page, "sidebar-wide-dark.png")
    assert axe_violations(page, SIDEBAR) == []
    set_theme(page, "JupyterLab Light", light=True)
    shoot(page, "sidebar-wide-light.png")
    assert axe_violations(page, SIDEBAR) == []
    bg = page.locator(SIDEBAR).evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)") or "255" in bg, bg  # really light


def big_lineage(workspace: str, n: int) -> dict:
    """A lineage payload (the schema of dreamer_lab/server/schema/lineage.json) of ``n``
    steps: sources with train/test splits and a chain of maps below each."""
    nodes, edges = [], []
    for i in range(n):
        fp = f"{i:032x}"
        group, part = divmod(i, 4)
        name = ["synthetic reviews", "synthetic reviews / train", "synthetic reviews / test"]
        name = f"{name[part]} {group}" if part < 3 else f"cleaned reviews {group}"
        nodes.append(
            {
                "fingerprint": fp,
                "name": name,
                "kind": "DataSource" if part == 0 else "map",
                "rows": 10 + i,
                "seconds": 0.1,
                "created": 1_700_000_000 + i,
                "area": "steps",
                "status": "stale" if group % 5 == 0 else "fresh",
                "stale_reason": "a newer run of its name" if group % 5 == 0 else None,
                "cell_id": None,
                "notebook": None,
            }
        )
        if part in (1, 2):
            edges.append({"source": f"{group * 4:032x}", "target": fp})
        elif part == 3:
            edges.append({"source": f"{group * 4 + 1:032x}", "target": fp})
    return {
        "workspace": workspace,
        "nodes": nodes,
        "edges": edges,
        "running": 0,
        "index_warning": None,
    }


def test_two_hundred_steps_stay_readable_at_250_px(splits):
    """The front end with a 220-step lineage: the server's answer is replaced in the page
    (running 220 steps would take minutes); drawing, fit and labels are the real ones."""
    import json

    page = splits
    set_theme(page, "JupyterLab Light", light=True)
    box = page.locator(SIDEBAR).bounding_box()
    if box["width"] > 300:  # back to the default width after the resize test
        x, y = box["x"] + box["width"] + 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - 150, y, steps=5)
        page.mouse.move(x - (box["width"] - 250), y, steps=5)
        page.mouse.up()
    workspace = page.locator(f"{SIDEBAR} select").input_value()
    body = json.dumps(big_lineage(workspace, 220))
    page.route(
        "**/dreamer-lab/api/lineage?*",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    try:
        page.locator(SIDEBAR).get_by_role("button", name="Refresh the lineage").click()
        page.wait_for_function(f"document.querySelectorAll('{NODES}').length === 220")
        page.wait_for_timeout(300)
        m = geometry(page)
        assert m["rows"] == 1 and not m["overflow"], m
        assert m["minFont"] >= 9.9, m
        # Every name keeps its own label (numbers and split suffixes survive the clipping).
        assert len(set(m["labels"].values())) == len(m["labels"]) == 220
        # Opens on the top of the graph, readable: the first sources are inside the panel.
        graph = page.locator(f"{SIDEBAR} .dl-graph").bounding_box()
        first = page.locator(f'{NODES}[data-fingerprint="{0:032x}"]').bounding_box()
        assert graph["y"] <= first["y"] <= graph["y"] + 40, (graph, first)
        render_ms = float(page.locator(SIDEBAR).get_attribute("data-render-ms"))
        assert render_ms < 1500, render_ms
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(SIDEBAR).screenshot(path=str(ARTIFACTS / "sidebar-220-steps.png"))
    finally:
        page.unroute("**/dreamer-lab/api/lineage?*")
