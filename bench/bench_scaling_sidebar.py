"""The lineage sidebar against workspace size (50, 200, 500, 1000, 2000 steps): the server
route that serves the graph, and (``--browser``) the panel's render in Chromium.

Workspaces are ``bench/bench_sidebar.py``'s random lineages (a DAG, ~10% of names re-run so
stale history, some failed steps). Measured, the sizes taking turns in every repetition:

* ``lineage_payload`` in-process (what ``GET /dreamer-lab/api/lineage`` computes), against
  its floor in the same run: the same index rows read with plain ``sqlite3`` and the
  payload's size serialized with ``json.dumps`` (no graph, no status, no staleness);
* ``GET /dreamer-lab/api/lineage?workspace=…`` on a real Jupyter server over HTTP, against
  Jupyter's own ``GET /api/contents`` (root listing) in the same loop;
* with ``--browser`` (JupyterLab with the built extension, Debian Chromium through
  Playwright, as ``ui-tests/``): the panel's own render time (``data-render-ms``: dagre
  layout + SVG drawing) and the wall time from choosing the workspace in the panel's
  selector to all nodes drawn (fetch + JSON + layout + drawing); and a progress-only poll:
  the newest step is served as running (Playwright rewrites the real route's answer), its
  progress moves on every refresh, and the panel's render time of that poll is read once
  the progress bar shows the new value (the layout stays; the node is updated in place);
* with ``--browser --baseline REV`` also a **new step**, on two JupyterLabs in the same run:
  one serving the lab extension as committed at ``REV`` (``git archive``, first on
  ``JUPYTER_PATH``), one this checkout's build, their turns alternating. Playwright serves
  the real route's answer plus one new step after the newest one (a new step each time),
  Refresh is pressed, and the page records, from the click until the new node is drawn,
  its long tasks (``PerformanceObserver('longtask')``): the longest one (how long a click
  or key can wait) and the blocked time (the sum of each long task's time over 50 ms, as
  Total Blocking Time), and the time until drawn.

Plot: ``docs/images/scaling_sidebar.png``.

Run: ``python bench/bench_scaling_sidebar.py [--sizes 50,200,500,1000,2000] [--repeat 15]
[--browser] [--browser-repeat 3] [--baseline REV] [--new-steps 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scaling_common import (  # noqa: E402
    FLOOR,
    IMAGES,
    OTHER,
    OURS,
    REPO,
    linear_guide,
    load_note,
    markdown,
    med,
    plain_y,
    pyplot,
    save,
    slopes,
    ticks,
)
from bench_sidebar import TOKEN, make_workspace, start_lab  # noqa: E402

SIZES = (50, 200, 500, 1000, 2000)


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def sqlite_floor(ws: Path) -> float:
    """ms to read the index rows the graph is made of with plain sqlite3 and serialize them."""
    t0 = time.perf_counter()
    db = sqlite3.connect(f"file:{ws / 'lineage.sqlite'}?mode=ro", uri=True)
    try:
        data = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in ("steps", "edges", "runs")}
    finally:
        db.close()
    json.dumps(data)
    return ms_since(t0)


def get_ms(url: str) -> float:
    req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
    return ms_since(t0)


@contextlib.contextmanager
def server(root: Path, base: Path, lab: bool) -> Iterator[str]:
    """A Jupyter server with the dreamer_lab routes (JupyterLab and the built extension when
    ``lab``); yields its URL and stops it."""
    if lab:
        proc, url = start_lab(root, base)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(15)
        return
    sys.path.insert(0, str(REPO / "tests"))
    from jupyter_test_server import jupyter_server

    with jupyter_server(root, base, TOKEN) as (url, _):
        yield url


def time_panel(url: str, sizes: list[int], nodes: dict[int, int], repeat: int) -> dict:
    """Per size: the panel's ``data-render-ms`` and select→drawn wall ms."""
    import os

    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    out: dict[str, dict[int, list[float]]] = {"render": {}, "wall": {}, "progress": {}}
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/lab?reset&token={TOKEN}")
        tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]')
        tab.wait_for(timeout=180_000)
        tab.click()
        page.wait_for_selector("#dreamer-lab-lineage select option", state="attached")
        for _ in range(repeat):
            for n in sizes:
                t0 = time.perf_counter()
                page.select_option("#dreamer-lab-lineage select", f"ws{n}")
                handle = page.wait_for_function(
                    "([ws, n]) => { const s = document.querySelector('#dreamer-lab-lineage');"
                    " return s.querySelector('select').value === ws && s.dataset.nodes === n"
                    " && s.dataset.renderMs; }",
                    arg=[f"ws{n}", str(nodes[n])],
                    timeout=300_000,
                    polling=10,
                )
                out["wall"].setdefault(n, []).append(ms_since(t0))
                out["render"].setdefault(n, []).append(float(handle.json_value()))
        for n in sizes:
            out["progress"][n] = progress_polls(page, n, nodes[n], 2 * repeat)
        browser.close()
    return out


def progress_polls(page, n: int, count: int, polls: int) -> list[float]:
    """``data-render-ms`` of ``polls`` refreshes of ``ws{n}`` in which only the newest step's
    progress changes (it is served as running; ``running`` stays 0 so that the panel polls
    only when the refresh button is pressed)."""
    state = {"p": 0.0, "fp": ""}

    def running(route) -> None:
        resp = route.fetch()
        data = resp.json()
        last = data["nodes"][-1]
        last.update(status="running", state="running", rows=None, progress=state["p"])
        state["fp"] = last["fingerprint"]
        route.fulfill(response=resp, json=data)

    pattern = f"**/dreamer-lab/api/lineage?workspace=ws{n}*"
    page.select_option("#dreamer-lab-lineage select", f"ws{n}")
    page.wait_for_function(
        "n => document.querySelector('#dreamer-lab-lineage').dataset.nodes === n",
        arg=str(count),
        timeout=300_000,
    )
    page.route(pattern, running)
    refresh = page.locator("#dreamer-lab-lineage").get_by_role("button", name="Refresh the lineage")
    out = []
    try:
        for i in range(polls + 1):  # the first poll turns the step running (warm-up)
            state["p"] = (i + 1) / (polls + 2)
            refresh.click()
            while not state["fp"]:  # known once the route has answered
                page.wait_for_timeout(10)
            handle = page.wait_for_function(
                "([fp, p]) => { const s = document.querySelector('#dreamer-lab-lineage');"
                " const g = s.querySelector(`g.dl-node[data-fingerprint='${fp}']`);"
                " const bar = g && g.querySelector('rect.dl-progress');"
                " const bg = g && g.querySelector('rect.dl-progress-bg');"
                " return bar && Math.abs(bar.getAttribute('width') / bg.getAttribute('width')"
                " - p) < 1e-6 && s.dataset.renderMs; }",
                arg=[state["fp"], state["p"]],
                timeout=300_000,
                polling=10,
            )
            if i:
                out.append(float(handle.json_value()))
    finally:
        page.unroute(pattern)
    return out


@contextlib.contextmanager
def baseline_lab(root: Path, base: Path, rev: str) -> Iterator[str]:
    """A JupyterLab serving the lab extension as committed at ``rev`` (first on JUPYTER_PATH,
    so it shadows this checkout's build linked into the lab's data dir)."""
    ext = base / "baseline"
    ext.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "dreamer_lab/labextension"],
                             check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(ext)], input=archive, check=True)
    (ext / "jp" / "labextensions").mkdir(parents=True)
    (ext / "jp" / "labextensions" / "dreamer-lab").symlink_to(ext / "dreamer_lab" / "labextension")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(ext / "jp")
    try:
        with server(root, base / "baseline-lab", lab=True) as url:
            yield url
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


# In the page: from the Refresh click until ``fp`` is drawn, the long tasks, and the times.
RECORD_NEW_STEP = """fp => {
  const s = document.querySelector('#dreamer-lab-lineage');
  const rec = (window.__dlNew = {clicked: null, drawn: null, tasks: []});
  const button = s.querySelector('[aria-label="Refresh the lineage"]');
  button.addEventListener('click', ev => { rec.clicked = rec.clicked ?? ev.timeStamp; },
                          {capture: true, once: true});
  const seen = new MutationObserver(() => {
    if (rec.drawn === null && s.querySelector(`g.dl-node[data-fingerprint='${fp}']`)) {
      rec.drawn = performance.now();
      seen.disconnect();
    }
  });
  seen.observe(s.querySelector('svg.dl-svg'), {childList: true, subtree: true});
  rec.observer = new PerformanceObserver(list => {
    for (const e of list.getEntries()) rec.tasks.push([e.startTime, e.duration]);
  });
  rec.observer.observe({type: 'longtask'});
}"""


def new_step_once(page, n: int, count: int, i: int) -> dict[str, float]:
    """One new step in ``ws{n}`` (served by rewriting the route's answer): the main thread's
    long tasks from the Refresh click until the new node is drawn."""
    fp = f"{0xFEED0000 + i:016x}"

    def grown(route) -> None:
        resp = route.fetch()
        data = resp.json()
        last = data["nodes"][-1]
        data["nodes"].append(dict(last, fingerprint=fp, name=f"new step {i}", rows=3))
        data["edges"].append({"source": last["fingerprint"], "target": fp})
        route.fulfill(response=resp, json=data)

    pattern = f"**/dreamer-lab/api/lineage?workspace=ws{n}*"
    page.bring_to_front()
    if page.input_value("#dreamer-lab-lineage select") == f"ws{n}":
        # Shown already, maybe with the last new step: fetch the workspace as it is.
        page.locator("#dreamer-lab-lineage").get_by_role(
            "button", name="Refresh the lineage"
        ).click()
    page.select_option("#dreamer-lab-lineage select", f"ws{n}")
    page.wait_for_function(
        "n => { const s = document.querySelector('#dreamer-lab-lineage');"
        " return s.dataset.nodes === n && !s.dataset.layoutPending; }",
        arg=str(count),
        timeout=300_000,
    )
    page.wait_for_timeout(300)  # let the previous drawing settle
    page.route(pattern, grown)
    try:
        page.evaluate(RECORD_NEW_STEP, fp)
        page.locator("#dreamer-lab-lineage").get_by_role(
            "button", name="Refresh the lineage"
        ).click()
        page.wait_for_function(
            "n => { const s = document.querySelector('#dreamer-lab-lineage');"
            " return window.__dlNew.drawn !== null && s.dataset.nodes === n"
            " && !s.dataset.layoutPending; }",
            arg=str(count + 1),
            timeout=300_000,
            polling=50,
        )
        page.wait_for_timeout(200)  # long tasks are reported after they end
        rec = page.evaluate(
            "() => { const r = window.__dlNew; r.observer.takeRecords().forEach(e =>"
            " r.tasks.push([e.startTime, e.duration])); r.observer.disconnect();"
            " const s = document.querySelector('#dreamer-lab-lineage');"
            " return {clicked: r.clicked, drawn: r.drawn, tasks: r.tasks,"
            " worker: s.dataset.layoutMs ?? null, engine: s.dataset.layoutEngine ?? 'main'}; }"
        )
    finally:
        page.unroute(pattern)
    tasks = [d for t, d in rec["tasks"] if rec["clicked"] - 1 <= t < rec["drawn"]]
    return {
        "drawn": rec["drawn"] - rec["clicked"],
        "longest": max(tasks, default=0.0),
        "blocked": sum(max(0.0, d - 50) for d in tasks),
        "worker": float(rec["worker"]) if rec["engine"] == "worker" and rec["worker"] else 0.0,
    }


def open_panel(page, url: str) -> None:
    page.goto(f"{url}/lab?reset&token={TOKEN}")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]')
    tab.wait_for(timeout=180_000)
    tab.click()
    page.wait_for_selector("#dreamer-lab-lineage select option", state="attached")


def time_new_step(urls: dict[str, str], sizes: list[int], nodes: dict[int, int], reps: int):
    """Per build (``before``/``after``) and size: a new step's main-thread cost, the builds
    taking turns (the order swapped every repetition)."""
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        pages = {}
        for arm, url in urls.items():
            pages[arm] = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            open_panel(pages[arm], url)
        arms = list(urls)
        for r in range(reps):
            for n in sizes:
                for arm in arms if r % 2 == 0 else arms[::-1]:
                    got = new_step_once(pages[arm], n, nodes[n], r)
                    for key, value in got.items():
                        out.setdefault(arm, {}).setdefault(key, {}).setdefault(n, []).append(value)
        browser.close()
    return out


def measure(
    sizes: list[int],
    repeat: int,
    browser: bool,
    browser_repeat: int,
    baseline: str | None = None,
    new_steps: int = 3,
) -> dict:
    from dreamer_lab.server.views import lineage_payload

    base = Path(tempfile.mkdtemp(prefix="bench_scaling_sidebar_"))
    root = base / "root"
    res: dict = {"payload": {}, "floor": {}, "http": {}, "contents": [], "info": {}}
    try:
        for n in sizes:
            make_workspace(root / f"ws{n}", n)
            data = lineage_payload(root / f"ws{n}", f"ws{n}")
            res["info"][n] = {
                "nodes": len(data["nodes"]),
                "edges": len(data["edges"]),
                "kb": len(json.dumps(data)) / 1024,
            }
        for _ in range(repeat):
            for n in sizes:
                t0 = time.perf_counter()
                lineage_payload(root / f"ws{n}", f"ws{n}")
                res["payload"].setdefault(n, []).append(ms_since(t0))
                res["floor"].setdefault(n, []).append(sqlite_floor(root / f"ws{n}"))
        with server(root, base, lab=browser) as url:
            api = f"{url}/dreamer-lab/api/lineage?workspace="
            for n in sizes:  # warm up: first requests import and open things
                get_ms(api + f"ws{n}")
            get_ms(f"{url}/api/contents")
            for _ in range(repeat):
                res["contents"].append(get_ms(f"{url}/api/contents"))
                for n in sizes:
                    res["http"].setdefault(n, []).append(get_ms(api + f"ws{n}"))
            if browser:
                nodes = {n: res["info"][n]["nodes"] for n in sizes}
                res |= time_panel(url, sizes, nodes, browser_repeat)
                if baseline:
                    with baseline_lab(root, base, baseline) as before:
                        urls = {"before": before, "after": url}
                        res["new_step"] = time_new_step(urls, sizes, nodes, new_steps)
                    res["baseline"] = baseline
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return res


def report(res: dict, sizes: list[int]) -> str:
    def cell(values: list[float]) -> str:
        return f"{min(values):,.1f} / {med(values):,.1f}"

    http_lo = [min(res["http"][n]) for n in sizes]
    payload_lo = [min(res["payload"][n]) for n in sizes]
    s_http, s_payload = slopes(sizes, http_lo), slopes(sizes, payload_lo)
    browser = "render" in res
    if browser:
        render_lo = [min(res["render"][n]) for n in sizes]
        s_render = slopes(sizes, render_lo)
    rows = []
    for i, n in enumerate(sizes):
        info = res["info"][n]
        row = [
            n,
            f"{info['nodes']:,} / {info['edges']:,}",
            f"{info['kb']:,.0f}",
            cell(res["payload"][n]),
            cell(res["floor"][n]),
            cell(res["http"][n]),
            f"{s_payload[i]} / {s_http[i]}",
        ]
        if browser:
            row += [cell(res["render"][n]), cell(res["wall"][n]), s_render[i]]
            if res.get("progress"):
                row.append(cell(res["progress"][n]))
        rows.append(row)
    headers = [
        "steps",
        "nodes / edges",
        "payload KB",
        "`lineage_payload` in-process, ms",
        "floor: plain sqlite3 read + json.dumps, ms",
        "GET lineage over HTTP, ms",
        "slope: in-process / HTTP",
    ]
    if browser:
        headers += ["panel render (layout + SVG), ms", "select → all drawn, ms", "render slope"]
        if res.get("progress"):
            headers.append("progress-only poll render, ms")
    reps = len(res["contents"])
    text = new_step_table(res, sizes) if res.get("new_step") else ""
    text = (
        f"### Lineage sidebar against steps (min / median; {reps} repetitions"
        + (f", {len(res['render'][sizes[0]])} in the browser" if browser else "")
        + ")\n\n"
        + markdown(headers, rows)
        + f"\n\nBaseline in the same loop: Jupyter's `GET /api/contents` (root listing) "
        f"{cell(res['contents'])} ms.\n" + text
    )
    return text


def new_step_table(res: dict, sizes: list[int]) -> str:
    """Before/after rows of the new-step measurement."""

    def cell(values: list[float]) -> str:
        return f"{min(values):,.0f} / {med(values):,.0f}"

    names = {"before": f"before (`{res.get('baseline', '?')}`)", "after": "this build"}
    rows = []
    for n in sizes:
        for arm, got in res["new_step"].items():
            worker = cell(got["worker"][n]) if max(got["worker"][n]) else "– (main thread)"
            rows.append([n, names[arm], cell(got["longest"][n]), cell(got["blocked"][n]),
                         cell(got["drawn"][n]), worker])  # fmt: skip
    headers = ["steps", "build", "longest long task, ms", "blocked time (long tasks over 50 ms), ms",
               "Refresh → new step drawn, ms", "layout in the worker, ms"]  # fmt: skip
    reps = len(next(iter(res["new_step"].values()))["drawn"][sizes[0]])
    return (
        f"\n### A new step in the sidebar: the main thread (min / median of {reps}, the builds"
        " alternating)\n\n" + markdown(headers, rows) + "\n"
    )


def plot(res: dict, sizes: list[int], out_dir: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(10, 4.6))

    def curve(key: str) -> list[float]:
        return [min(res[key][n]) for n in sizes]

    http = curve("http")
    ax.plot(sizes, http, "o-", color=OURS, label="GET /dreamer-lab/api/lineage (HTTP)")
    ax.plot(sizes, curve("payload"), "o--", color=OURS, alpha=0.6,
            label="lineage_payload in-process")  # fmt: skip
    ax.plot(sizes, curve("floor"), "^-", color=FLOOR, label="floor: sqlite3 read + json.dumps")
    ax.axhline(min(res["contents"]), color="0.45", linestyle="--", linewidth=1,
               label="Jupyter GET /api/contents")  # fmt: skip
    if "render" in res:
        ax.plot(sizes, curve("render"), "D-", color=OTHER,
                label="panel render in Chromium (layout + SVG)")  # fmt: skip
        ax.plot(sizes, curve("wall"), "D--", color=OTHER, alpha=0.6,
                label="select → all drawn (Chromium)")  # fmt: skip
    if res.get("progress"):
        ax.plot(sizes, curve("progress"), "s:", color=OTHER,
                label="progress-only poll render (Chromium)")  # fmt: skip
    linear_guide(ax, sizes, sizes[-1], http[-1], f"slope 1 through the {sizes[-1]}-step route")
    if "render" in res and len(sizes) > 1:
        render = curve("render")
        linear_guide(ax, sizes, sizes[1], render[1], f"slope 1 through the {sizes[1]}-step render")
    ax.set(xscale="log", yscale="log", xlabel="steps in the workspace", ylabel="ms (min)")
    ticks(ax, sizes)
    plain_y(ax)
    ax.set_title("Lineage sidebar: route and render time")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    save(fig, "scaling_sidebar.png", out_dir)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--browser", action="store_true", help="also time the panel in Chromium")
    ap.add_argument("--browser-repeat", type=int, default=3)
    ap.add_argument("--baseline", help="with --browser: also time a new step, against the lab "
                    "extension committed at this git revision (before) in the same run")  # fmt: skip
    ap.add_argument("--new-steps", type=int, default=3, help="new steps per size and build")
    ap.add_argument("--plot-dir", type=Path, default=IMAGES)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--replot", type=Path, help="report and plot a --json file, measure nothing")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load0 = os.getloadavg()[0]
    if args.replot:  # the table and the plot again from a --json file, measuring nothing
        res = json.loads(args.replot.read_text())
        for key, value in res.items():  # JSON made the sizes strings
            if key == "new_step":  # arm -> measure -> size
                res[key] = {a: {m: {int(k): v for k, v in d.items()} for m, d in got.items()}
                            for a, got in value.items()}  # fmt: skip
            elif isinstance(value, dict):
                res[key] = {int(k): v for k, v in value.items()}
        sizes = sorted(res["info"])
    else:
        res = measure(sizes, args.repeat, args.browser, args.browser_repeat, args.baseline,
                      args.new_steps)  # fmt: skip
    if args.json and not args.replot:
        args.json.write_text(json.dumps(res, indent=1))
    print(report(res, sizes))
    if not args.replot:
        print(load_note(load0) + "\n")
    if not args.no_plot:
        plot(res, sizes, args.plot_dir)


if __name__ == "__main__":
    main()
