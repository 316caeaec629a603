"""A new step in a large workspace is laid out in a Web Worker: while the layout is computed
the panel keeps the previous graph, says "Laying out N steps…", and handles the keyboard at
once; the new step then appears. Without a worker (a CSP, an old browser) the layout runs on
the main thread and the graph still follows. Screenshots of the note, light and dark."""

from __future__ import annotations

import random
import time

import pytest
from conftest import ARTIFACTS, CHROMIUM, axe_violations, set_theme

SIDEBAR = "#dreamer-lab-lineage"
NODES = f"{SIDEBAR} g.dl-node"
TIMEOUT = 180_000
BIG = 2000  # dagre takes seconds here: the layout is long enough to interact during it
MID = 200

pytestmark = pytest.mark.slow

# Page-side recorder: each keydown the sidebar gets (its input delay, and whether a layout
# was pending when it was handled), when the pending layout arrived, and the long tasks.
RECORD = """() => {
  const s = document.querySelector('#dreamer-lab-lineage');
  const rec = (window.__dlRec = {keys: [], longtasks: [], since: null, done: null});
  s.addEventListener('keydown', ev => rec.keys.push({
    key: ev.key, at: performance.now(), delay: performance.now() - ev.timeStamp,
    pending: s.dataset.layoutPending ?? null}), true);
  new MutationObserver(() => {
    const p = s.dataset.layoutPending;
    if (p && rec.since === null) rec.since = performance.now();
    if (!p && rec.since !== null && rec.done === null) rec.done = performance.now();
  }).observe(s, {attributes: true, attributeFilter: ['data-layout-pending']});
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) rec.longtasks.push({start: e.startTime, dur: e.duration});
  }).observe({type: 'longtask'});
}"""


def make_workspace(path, steps: int, seed: int = 0) -> None:
    """A lineage index of ``steps`` steps in one connected DAG (each step after the first
    follows one or two of the 30 before it), so that every new step re-lays all of it."""
    from dreamer_lab.core.workspace import Workspace

    rng = random.Random(seed)
    ws = Workspace(path)
    fps: list[str] = []
    for i in range(steps):
        fp = f"{rng.getrandbits(60):016x}"
        parents = rng.sample(fps[-30:], k=min(len(fps), rng.choice([1, 1, 1, 2])))
        record = {"fingerprint": fp, "name": f"step_{i}", "kind": rng.choice(["map", "LLM"]),
                  "created": time.time() + i, "rows": rng.randint(1, 10_000),
                  "timings": {"seconds": 1.0}, "parents": parents}  # fmt: skip
        ws.lineage.add_step(record)
        ws.lineage.add_run(name=record["name"], kind=record["kind"], fingerprint=fp,
                           status="failed" if i % 97 == 5 else "done", parents=parents,
                           cell_id=f"cell-{i}", notebook="big.ipynb")  # fmt: skip
        fps.append(fp)


def add_step(ws_path, parent: str, i: int) -> str:
    """A new step, run after ``parent``, written to the workspace's lineage index on disk."""
    from dreamer_lab.core.workspace import Workspace

    fp = f"{0xF0000000 + i:016x}"
    ws = Workspace(ws_path)
    record = {"fingerprint": fp, "name": f"new step {i}", "kind": "map",
              "created": time.time() + 10_000 + i, "rows": 7, "timings": {"seconds": 0.1},
              "parents": [parent]}  # fmt: skip
    ws.lineage.add_step(record)
    ws.lineage.add_run(name=record["name"], kind="map", fingerprint=fp, status="done",
                       parents=[parent], cell_id=f"cell-new-{i}", notebook="big.ipynb")  # fmt: skip
    return fp


def open_workspace(page, lab, name: str, steps: int) -> None:
    page.goto(f"{lab['url']}/lab?reset&token={lab['token']}")
    tab = page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]')
    tab.wait_for(timeout=TIMEOUT)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=TIMEOUT)
    if not page.locator(SIDEBAR).is_visible():
        tab.click()
    page.wait_for_selector(f"{SIDEBAR} select option[value='{name}']", state="attached",
                           timeout=TIMEOUT)  # fmt: skip
    page.select_option(f"{SIDEBAR} select", name)
    drawn(page, steps)


def drawn(page, steps: int) -> None:
    """Wait until ``steps`` nodes are drawn and no layout is pending."""
    page.wait_for_function(
        "n => { const s = document.querySelector('#dreamer-lab-lineage');"
        " return s.dataset.nodes === n && !s.dataset.layoutPending; }",
        arg=str(steps),
        timeout=TIMEOUT,
    )


def last_fp(page) -> str:
    """The fingerprint of the lowest node drawn (a leaf: a new step can follow it)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#dreamer-lab-lineage g.dl-node')]
             .map(g => [g.transform.baseVal[0].matrix.f, g.dataset.fingerprint])
             .sort((a, b) => b[0] - a[0])[0][1]"""
    )


def refresh(page) -> None:
    page.locator(SIDEBAR).get_by_role("button", name="Refresh the lineage").click()


@pytest.fixture(scope="module")
def big(lab):
    path = lab["root"] / "zz_big"
    make_workspace(path, BIG)
    return path


def test_new_step_laid_out_in_a_worker_while_the_panel_responds(lab, page, big):
    open_workspace(page, lab, "zz_big", BIG)
    assert page.locator(SIDEBAR).get_attribute("data-layout-engine") == "worker"
    set_theme(page, "JupyterLab Light", light=True)
    page.evaluate(RECORD)
    new = add_step(big, last_fp(page), 1)
    refresh(page)

    # The previous graph stays, with the note; the keyboard works on it meanwhile.
    page.wait_for_function(
        "() => document.querySelector('#dreamer-lab-lineage').dataset.layoutPending",
        timeout=TIMEOUT,
    )
    note = page.locator(f"{SIDEBAR} .dl-layout-pending")
    assert note.is_visible()
    assert note.get_attribute("role") == "status"
    assert note.inner_text() == f"Laying out {BIG + 1:,} steps…"
    first = page.locator(NODES).first
    first.focus()
    focused = first.get_attribute("data-fingerprint")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => window.__dlRec.keys.length >= 1", timeout=TIMEOUT)
    moved = page.evaluate("() => document.activeElement.dataset.fingerprint")
    assert moved and moved != focused, "ArrowDown moved the focus to the next step"
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__dlRec.keys.length >= 2", timeout=TIMEOUT)
    page.wait_for_selector(f'{SIDEBAR} .dl-details[data-fingerprint="{moved}"]', timeout=TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(SIDEBAR).screenshot(path=str(ARTIFACTS / "sidebar-layout-pending-light.png"))
    assert axe_violations(page, f"{SIDEBAR} .dl-layout-pending") == []

    page.wait_for_selector(f'{NODES}[data-fingerprint="{new}"]', state="attached", timeout=TIMEOUT)
    drawn(page, BIG + 1)
    rec = page.evaluate("() => window.__dlRec")
    layout_ms = float(page.locator(SIDEBAR).get_attribute("data-layout-ms"))
    keys = rec["keys"][:2]
    # Both keys were handled while the layout was still being computed, without waiting
    # for it: their input delay is a small part of the layout's time (page timing).
    assert all(k["pending"] == str(BIG + 1) for k in keys), keys
    assert all(k["at"] < rec["done"] for k in keys), (keys, rec["done"])
    assert max(k["delay"] for k in keys) < layout_ms / 4, (keys, layout_ms)
    during = [t["dur"] for t in rec["longtasks"] if rec["since"] <= t["start"] < rec["done"]]
    assert max(during, default=0) < layout_ms / 2, (during, layout_ms)
    # The selected step is still selected, focused and on screen in the new drawing.
    step = page.locator(f'{NODES}[data-fingerprint="{moved}"]')
    assert "dl-selected" in step.get_attribute("class")
    assert page.evaluate("() => document.activeElement.dataset.fingerprint") == moved
    inside = page.evaluate(
        """fp => { const g = document.querySelector(`#dreamer-lab-lineage g.dl-node[data-fingerprint='${fp}']`);
             const a = g.getBoundingClientRect(), r = document.querySelector('#dreamer-lab-lineage .dl-graph').getBoundingClientRect();
             return a.top >= r.top && a.bottom <= r.bottom && a.left < r.right && a.right > r.left; }""",
        moved,
    )
    assert inside, "the focused step stays in view after the new layout"


def test_pending_note_in_the_dark_theme(lab, page, big):
    set_theme(page, "JupyterLab Dark", light=False)
    try:
        new = add_step(big, last_fp(page), 2)
        refresh(page)
        page.locator(NODES).first.focus()  # the keyboard brings the first steps into view
        page.keyboard.press("ArrowDown")
        page.wait_for_function(
            "() => document.querySelector('#dreamer-lab-lineage').dataset.layoutPending",
            timeout=TIMEOUT,
        )
        page.locator(SIDEBAR).screenshot(path=str(ARTIFACTS / "sidebar-layout-pending-dark.png"))
        assert axe_violations(page, f"{SIDEBAR} .dl-layout-pending") == []
        page.wait_for_selector(f'{NODES}[data-fingerprint="{new}"]', state="attached",
                               timeout=TIMEOUT)  # fmt: skip
        drawn(page, BIG + 2)
        assert not page.locator(f"{SIDEBAR} .dl-layout-pending").is_visible()
    finally:
        set_theme(page, "JupyterLab Light", light=True)


def test_without_a_worker_the_main_thread_lays_out(lab, browser):
    """A page where ``new Worker`` throws (as under a CSP without worker-src)."""
    path = lab["root"] / "zz_mid"
    make_workspace(path, MID, seed=1)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(
        "window.Worker = class { constructor() {"
        " throw new DOMException(\"Refused to create a worker (test CSP)\", 'SecurityError'); } };"
    )
    page = context.new_page()
    errors: list[str] = []
    warnings: list[str] = []
    page.on("console", lambda m: (errors if m.type == "error" else warnings).append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        open_workspace(page, lab, "zz_mid", MID)
        assert page.locator(SIDEBAR).get_attribute("data-layout-engine") == "main"
        assert any("test CSP" in w and "main thread" in w for w in warnings), warnings
        new = add_step(path, last_fp(page), 3)
        refresh(page)
        page.wait_for_selector(f'{NODES}[data-fingerprint="{new}"]', state="attached",
                               timeout=TIMEOUT)  # fmt: skip
        drawn(page, MID + 1)
        assert axe_violations(page, SIDEBAR) == []
        assert [e for e in errors if "favicon" not in e] == []
    finally:
        context.close()
    assert CHROMIUM  # the same Debian Chromium as the other browser tests
