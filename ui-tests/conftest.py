"""A real ``jupyter lab`` (started and stopped here) driven by Debian Chromium via Playwright.

The lab serves the lab extension built in this checkout (``dreamer_lab/labextension``,
linked into a fresh data dir) and the server extension; every run uses fresh config,
data, workspaces and a fresh browser profile.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TOKEN = "ui-test-token"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """URL, token and root folder of a running JupyterLab with dreamer_lab enabled."""
    built = REPO / "dreamer_lab" / "labextension" / "package.json"
    if not built.is_file():
        pytest.fail("the lab extension is not built: run `npm run build` (scripts/ui_tests.sh)")
    base = tmp_path_factory.mktemp("lab")
    root, cfg, data = base / "root", base / "config", base / "data"
    root.mkdir()
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "dreamer-lab").symlink_to(REPO / "dreamer_lab" / "labextension")
    (cfg / "labconfig").mkdir(parents=True)
    # No news/update prompt over the page (it would also try to reach the internet).
    (cfg / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(cfg),
        JUPYTER_DATA_DIR=str(data),
        JUPYTER_PLATFORM_DIRS="0",
        # In a venv, jupyter_core puts the env path first: its installed copy of the
        # extension would shadow the checkout's build linked into the data dir above.
        JUPYTER_PREFER_ENV_PATH="0",
        DREAMER_LAB_SIGNING_KEY_FILE=str(base / "signing.key"),
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
    )
    log = open(base / "lab.log", "wb")  # noqa: SIM115 - closed at teardown
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
            f"--LabApp.workspaces_dir={base / 'workspaces'}",
            "--ServerApp.jpserver_extensions={'dreamer_lab.server': True}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError((base / "lab.log").read_text()[-4000:]) from None
            time.sleep(0.5)
    yield {"url": url, "token": TOKEN, "root": root, "log": base / "lab.log"}
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(base / "lab.log", ARTIFACTS / "lab.log")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(lab, browser):
    """One page for the module (opening JupyterLab costs seconds), with console errors kept."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on(
        "console",
        lambda m: m.type == "error" and pg.console_errors.append(m.text),  # type: ignore[attr-defined]
    )
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))  # type: ignore[attr-defined]
    yield pg
    context.close()


def put_notebook(lab, name: str, sources: list[str]) -> None:
    """Create a notebook through the contents API."""
    nb = {
        "type": "notebook",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"cell-{i}",
                    "metadata": {},
                    "source": s,
                    "outputs": [],
                    "execution_count": None,
                }
                for i, s in enumerate(sources)
            ],
        },
    }
    req = urllib.request.Request(
        f"{lab['url']}/api/contents/{name}",
        data=json.dumps(nb).encode(),
        method="PUT",
        headers={"Authorization": f"token {lab['token']}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=30).read()


def set_theme(page, theme: str, light: bool) -> None:
    """Switch JupyterLab's theme from the Settings menu and wait until it applies.

    The theme is a user setting: it outlives the page, so a test that switches it switches
    it back (or the next test sets the one it needs)."""
    flag = "true" if light else "false"
    if page.locator(f'body[data-jp-theme-light="{flag}"]').count():
        return
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').hover()
    page.locator(f'.lm-Menu-itemLabel:text-is("{theme}")').click()
    page.wait_for_selector(f'body[data-jp-theme-light="{flag}"]', state="attached")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    page.wait_for_timeout(500)  # let the theme's CSS variables settle before a screenshot


AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
# Rules about the whole page (landmarks, one h1...): JupyterLab's page, not our parts.
AXE_PAGE_RULES = ["region", "landmark-one-main", "page-has-heading-one", "bypass"]


def axe_violations(page, selector: str) -> list[str]:
    """axe-core's serious and critical violations inside ``selector`` (colour contrast
    included), one readable line each: rule, impact, element and what is wrong."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: run `npm ci` (scripts/ui_tests.sh does)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async ([sel, off]) => {
            const rules = Object.fromEntries(off.map(r => [r, {enabled: false}]));
            const out = await axe.run(document.querySelectorAll(sel), {rules, resultTypes: ['violations']});
            return out.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .flatMap(v => v.nodes.map(n =>
                `${v.id} (${v.impact}): ${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`));
        }""",
        [selector, AXE_PAGE_RULES],
    )
    return found


IMAGES = REPO / "docs" / "images"
# Screenshots go to ui-tests/artifacts/; with this set they also replace the docs' images
# (scripts/test.sh must leave the checkout unchanged, so a plain run never writes there).
UPDATE_IMAGES = os.environ.get("DREAMER_LAB_UPDATE_SCREENSHOTS") == "1"


def publish(filename: str) -> None:
    """Copy ``ui-tests/artifacts/<filename>`` to ``docs/images/`` when updating the docs."""
    if UPDATE_IMAGES:
        IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(ARTIFACTS / filename, IMAGES / filename)
