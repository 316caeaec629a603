"""The built wheel, installed with its ``notebook`` extra into a fresh venv without Node or torch.

Builds the wheel from a copy of the checkout (no Node on PATH: the committed, prebuilt lab
extension is packaged as is), installs it into a new venv (no system site-packages), then checks
what a user of ``pip install "dreamer-lab[notebook]"`` gets: the lab extension and the server
extension are installed and enabled, and a plain ``jupyter server`` serves the lineage route
to authenticated requests only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
LABEXT = "share/jupyter/labextensions/dreamer-lab"
TOKEN = "wheel-test-token"
# Not copied into the build tree: environments, build outputs, caches, workspaces.
_SKIP_NAMES = {
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "dreamer_workspace",
    "build",
    "dist",
}
_SKIP_PATHS = {"js/lib", "js/test-build", "ui-tests/artifacts", "bench/results"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NODE_TOOLS = ("node", "npm", "npx")  # jlpm (shipped by jupyterlab) runs on node


def _ignore(folder: str, names: list[str]) -> set[str]:
    rel = Path(folder).resolve().relative_to(REPO).as_posix()
    rel = "" if rel == "." else rel + "/"
    return {n for n in names if n in _SKIP_NAMES or f"{rel}{n}" in _SKIP_PATHS}


def _env(bin_dir: Path, base: Path) -> dict[str, str]:
    """The caller's environment with PATH reduced to ``bin_dir`` (no Node) and Jupyter isolated."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(
        PATH=str(bin_dir),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_PLATFORM_DIRS="0",
        DREAMER_LAB_SIGNING_KEY_FILE=str(base / "signing.key"),
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        NO_COLOR="1",
    )
    for tool in _NODE_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is still on PATH"
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 180) -> str:
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = _ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of this checkout, with no Node on PATH."""
    if not (REPO / "dreamer_lab" / "labextension" / "package.json").is_file():
        pytest.fail("the lab extension is not built: run `npm run build:prod` first")
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=_ignore, symlinks=True)
    env = _env(Path(sys.executable).parent, base)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), "."],
        env,
        src,
    )
    (built,) = (base / "dist").glob("dreamer_lab-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    """A fresh venv with ``dreamer-lab[notebook]`` installed from the wheel (deps from PyPI)."""
    base = tmp_path_factory.mktemp("venv")
    venv.create(base / "env", with_pip=True, symlinks=True)
    env = _env(base / "env" / "bin", base)
    py = str(base / "env" / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", f"{wheel}[notebook]"], env, base, timeout=600)
    return {"python": py, "env": env, "base": base}


def test_wheel_ships_the_lab_extension_once_as_shared_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    data = f"dreamer_lab-{wheel.name.split('-')[1]}.data/data"
    assert not [n for n in names if n.startswith("dreamer_lab/labextension")]
    for path in (f"{LABEXT}/package.json", f"{LABEXT}/static/style.js", f"{LABEXT}/install.json"):
        assert f"{data}/{path}" in names
    assert any(re.search(rf"{LABEXT}/static/remoteEntry\.\w+\.js$", n) for n in names)
    assert f"{data}/etc/jupyter/jupyter_server_config.d/dreamer_lab.json" in names
    assert "dreamer_lab/server/handlers.py" in names


def test_core_and_notebook_extras_do_not_pull_torch(installed):
    out = _run(
        [
            installed["python"],
            "-c",
            "import importlib.util as u, sys, dreamer_lab; "
            "print([m for m in ('torch', 'transformers', 'openai') if u.find_spec(m)]); "
            "print('torch' in sys.modules)",
        ],
        installed["env"],
        installed["base"],
    )
    assert out.split() == ["[]", "False"]


def test_labextension_is_listed_enabled_and_ok(installed):
    jupyter = str(Path(installed["python"]).parent / "jupyter")
    out = _run([jupyter, "labextension", "list"], installed["env"], installed["base"])
    line = next((ln for ln in out.splitlines() if "dreamer-lab" in ln), "")
    assert re.search(r"dreamer-lab v\S+ enabled\s+OK", line), out


def test_server_extension_is_listed_enabled(installed):
    jupyter = str(Path(installed["python"]).parent / "jupyter")
    out = _run([jupyter, "server", "extension", "list"], installed["env"], installed["base"])
    assert re.search(r"dreamer_lab\.server\s+enabled", out), out
    assert re.search(r"dreamer_lab\.server\s+OK", out), out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}


def test_installed_server_serves_lineage_to_authenticated_requests_only(installed):
    base, env, py = installed["base"], installed["env"], installed["python"]
    root = base / "root"
    root.mkdir()
    # The workspace is written by the installed package itself (core install, no torch).
    out = _run(
        [
            py,
            "-c",
            "from dreamer_lab import DataDreamer\n"
            "from dreamer_lab.steps import DataSource\n"
            "with DataDreamer('ws'):\n"
            "    s = DataSource('questions', {'q': ['a?', 'b?']})\n"
            "print(s.fingerprint)",
        ],
        env,
        root,
    )
    fingerprint = out.split()[-1]
    port = _free_port()
    log = base / "server.log"
    with open(log, "wb") as fh:
        # No jpserver_extensions flag: the config file installed by the wheel enables it.
        proc = subprocess.Popen(
            [
                py,
                "-m",
                "jupyter_server",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--ServerApp.root_dir={root}",
                f"--IdentityProvider.token={TOKEN}",
                "--ServerApp.open_browser=False",
            ],
            env=env,
            cwd=root,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        pytest.fail(f"jupyter server did not start:\n{log.read_text()[-3000:]}")
                    time.sleep(0.3)
            route = f"{url}/dreamer-lab/api/lineage?workspace=ws"
            status, data = _get(route, TOKEN)
            assert status == 200, log.read_text()[-3000:]
            assert [(n["fingerprint"], n["name"], n["status"]) for n in data["nodes"]] == [
                (fingerprint, "questions", "fresh")
            ]
            assert _get(route, None)[0] == 403
            assert _get(route, "wrong-token")[0] == 403
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
