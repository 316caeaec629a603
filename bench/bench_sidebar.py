"""Sidebar cost for a 500-step lineage: the REST route, and the panel render in Chromium.

Baselines measured in the same run: Jupyter's own ``/api/contents`` listing (route), and a
10-step lineage (panel). Needs the built lab extension and Debian Chromium (as ui-tests).

    python bench/bench_sidebar.py [--steps 500] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def make_workspace(path: Path, steps: int, seed: int = 0) -> None:
    """A lineage index of ``steps`` steps (a random DAG, some stale, failed, running)."""
    from dreamer_lab.core.workspace import Workspace

    rng = random.Random(seed)
    ws = Workspace(path)
    fps: list[str] = []
    for i in range(steps):
        fp = f"{rng.getrandbits(64):016x}"
        parents = rng.sample(fps[-30:], k=min(len(fps), rng.choice([0, 1, 1, 1, 2]))) if fps else []
        name = f"step_{i % (steps * 9 // 10 or 1)}"  # ~10% of names re-run: stale history
        record = {
            "fingerprint": fp,
            "name": name,
            "kind": rng.choice(["map", "filter", "LLM"]),
            "created": time.time() + i,
            "rows": rng.randint(1, 10_000),
            "timings": {"seconds": rng.random() * 10},
            "parents": parents,
        }
        ws.lineage.add_step(record)
        ws.lineage.add_run(
            name=name,
            kind=record["kind"],
            fingerprint=fp,
            status="failed" if i % 97 == 0 else "done",
            parents=parents,
            cell_id=f"cell-{i}",
            notebook="bench.ipynb",
        )
        fps.append(fp)


def start_lab(root: Path, base: Path) -> tuple[subprocess.Popen, str]:
    data = base / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "dreamer-lab").symlink_to(REPO / "dreamer_lab" / "labextension")
    (base / "cfg" / "labconfig").mkdir(parents=True)
    (base / "cfg" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "cfg"), JUPYTER_DATA_DIR=str(data))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
            f"--LabApp.workspaces_dir={base / 'lw'}",
            "--ServerApp.jpserver_extensions={'dreamer_lab.server': True}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("jupyter lab did not start")


def time_get(url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
        t0 = time.perf_counter()
        urllib.request.urlopen(req, timeout=60).read()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_panel(url: str, repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    out: dict[str, list[float]] = {"ws10": [], "ws500": []}
    wall: dict[str, list[float]] = {"ws10": [], "ws500": []}
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=flags
        )
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/lab?reset&token={TOKEN}")
        tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dreamer-lab-lineage"]')
        tab.wait_for(timeout=120_000)
        tab.click()
        page.wait_for_selector("#dreamer-lab-lineage select option", state="attached")
        for _ in range(repeat):
            for ws in ("ws10", "ws500"):
                t0 = time.perf_counter()
                page.select_option("#dreamer-lab-lineage select", ws)
                page.wait_for_function(
                    "([ws, n]) => { const s = document.querySelector('#dreamer-lab-lineage');"
                    " return s.querySelector('select').value === ws &&"
                    " s.querySelectorAll('g.dl-node').length === n; }",
                    arg=[ws, N_VISIBLE[ws]],
                    timeout=60_000,
                )
                wall[ws].append((time.perf_counter() - t0) * 1000)
                out[ws].append(
                    float(page.locator("#dreamer-lab-lineage").get_attribute("data-render-ms"))
                )
        b.close()
    return {"render " + k: v for k, v in out.items()} | {
        "select→drawn " + k: v for k, v in wall.items()
    }


N_VISIBLE: dict[str, int] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-browser", action="store_true", help="time the route only")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_sidebar_"))
    root = base / "root"
    make_workspace(root / "ws500", args.steps)
    make_workspace(root / "ws10", 10)
    from dreamer_lab.server.views import lineage_payload

    for ws in ("ws10", "ws500"):
        N_VISIBLE[ws] = len(lineage_payload(root / ws, ws)["nodes"])
    rows: list[tuple[str, list[float]]] = []
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        lineage_payload(root / "ws500", "ws500")
    rows.append(
        ("in-process lineage_payload ws500", [(time.perf_counter() - t0) * 1000 / args.repeat])
    )
    proc, url = start_lab(root, base)
    try:
        api = f"{url}/dreamer-lab/api"
        time_get(f"{api}/lineage?workspace=ws500", 2)  # warm up
        rows.append(
            ("baseline GET /api/contents (root)", time_get(f"{url}/api/contents", args.repeat))
        )
        rows.append(("GET lineage ws10", time_get(f"{api}/lineage?workspace=ws10", args.repeat)))
        rows.append(
            (
                f"GET lineage ws500 ({N_VISIBLE['ws500']} nodes)",
                time_get(f"{api}/lineage?workspace=ws500", args.repeat),
            )
        )
        if not args.no_browser:
            for name, values in time_panel(url, max(3, args.repeat // 3)).items():
                rows.append((f"panel {name}", values))
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'measure':48} {'median ms':>10} {'min ms':>9} {'n':>4}")
    for name, values in rows:
        print(f"{name:48} {statistics.median(values):10.1f} {min(values):9.1f} {len(values):4d}")


if __name__ == "__main__":
    main()
