"""The server extension's REST routes, against a real ``jupyter server`` subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server", reason="the server extension needs jupyter_server")

TOKEN = "test-token-dreamer-lab"
XSS = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Jupyter server rooted at a folder that holds two workspaces and a secret file."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    base = tmp_path_factory.mktemp("server")
    root = base / "root"
    (root / "project").mkdir(parents=True)
    (base / "outside_secret.txt").write_text("do not serve")
    outside_ws = base / "outside_ws"
    with DataDreamer(root / "project" / "dreamer_workspace"):
        src = DataSource("questions", {"q": ["a?", XSS, "c?"], "n": [1, 2, 3]})
        doubled = src.map(lambda r: {"q2": r["q"] * 2}, name="doubled")
        # A newer run of "questions" makes the old one (and "doubled") stale.
        DataSource("questions", {"q": ["new"], "n": [9]})
    with DataDreamer(outside_ws):
        DataSource("elsewhere", {"x": [1]})
    (root / "escape").symlink_to(outside_ws, target_is_directory=True)
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "cfg"), JUPYTER_DATA_DIR=str(base / "d"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.root_dir={root}",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.open_browser=False",
            "--ServerApp.jpserver_extensions={'dreamer_lab.server': True}",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(proc.stderr.read().decode()[-3000:]) from None
            time.sleep(0.3)
    info = {"url": url, "root": root, "src": src.fingerprint, "doubled": doubled.fingerprint}
    yield info
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.stderr.close()


def get(server, route: str, *, token: str | None = TOKEN) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server['url']}/dreamer-lab/api/{route}")
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, {"raw": body.decode(errors="replace")}


def test_lists_workspaces_inside_root_only(server):
    status, data = get(server, "workspaces")
    assert status == 200
    # The symlinked workspace outside the root is not followed.
    assert data["workspaces"] == ["project/dreamer_workspace"]
    status, data = get(server, "workspaces?near=project")
    assert data["near"] == ["project/dreamer_workspace"]


def test_lineage_nodes_edges_and_status(server):
    status, data = get(server, "lineage?workspace=project/dreamer_workspace")
    assert status == 200
    by_fp = {n["fingerprint"]: n for n in data["nodes"]}
    assert len(by_fp) == 3
    old, dbl = by_fp[server["src"]], by_fp[server["doubled"]]
    assert (old["name"], old["kind"], old["rows"]) == ("questions", "DataSource", 3)
    assert old["status"] == "stale" and "newer run" in old["stale_reason"]
    assert dbl["status"] == "stale" and "questions" in dbl["stale_reason"]
    new = next(
        n for n in data["nodes"] if n["fingerprint"] not in (server["src"], dbl["fingerprint"])
    )
    assert new["status"] == "fresh" and new["rows"] == 1
    assert {"source": server["src"], "target": server["doubled"]} in data["edges"]
    assert len(data["edges"]) == 1
    assert all(isinstance(n["seconds"], float) for n in data["nodes"])


def test_step_sample_rows_are_returned_verbatim_as_json(server):
    status, data = get(server, f"steps/{server['src']}?workspace=project/dreamer_workspace&limit=2")
    assert status == 200
    assert data["name"] == "questions" and data["columns"] == ["q", "n"]
    # Model text is data: returned as a JSON string, escaped by the browser when shown.
    assert data["sample"]["rows"] == [{"q": "a?", "n": 1}, {"q": XSS, "n": 2}]


def test_card_route_returns_fragments(server):
    status, data = get(
        server, f"steps/{server['doubled']}/card?workspace=project/dreamer_workspace"
    )
    assert status == 200
    assert data["format"] == "fragments" and data["name"] == "doubled"
    assert isinstance(data["fragments"], dict)


def test_unauthenticated_requests_are_refused(server):
    for route in ("workspaces", "lineage?workspace=project/dreamer_workspace"):
        status, _ = get(server, route, token=None)
        assert status == 403
        status, _ = get(server, route, token="wrong-token")
        assert status == 403


@pytest.mark.parametrize(
    "workspace",
    [
        "..",
        "../outside_ws",
        "project/../../outside_ws",
        "/etc",
        str(Path("/") / "tmp"),
        "escape",  # a symlink inside the root that points outside it
        "project/..%2F..%2Foutside_ws",
        ".hidden",
    ],
)
def test_traversal_attempts_are_refused(server, workspace):
    from urllib.parse import quote

    status, data = get(server, f"lineage?workspace={quote(workspace, safe='%')}")
    assert status in (403, 404), data
    assert "elsewhere" not in json.dumps(data)
    status, _ = get(server, f"workspaces?near={quote(workspace, safe='%')}")
    assert status in (403, 404)


def test_bad_fingerprints_and_missing_steps(server):
    ws = "workspace=project/dreamer_workspace"
    assert get(server, f"steps/..%2F..%2Fetc?{ws}")[0] in (400, 404)
    assert get(server, f"steps/NOT-HEX?{ws}")[0] == 400
    status, data = get(server, f"steps/{'0' * 16}?{ws}")
    assert status == 404
    assert get(server, "lineage?workspace=project")[0] == 404  # not a workspace
    assert get(server, f"steps/{server['src']}?{ws}&limit=abc")[0] == 400


def test_routes_do_not_write_to_the_workspace(server):
    ws = server["root"] / "project" / "dreamer_workspace"
    before = sorted(
        p.relative_to(ws).as_posix() for p in ws.rglob("*") if "lineage.sqlite" not in p.name
    )
    get(server, "lineage?workspace=project/dreamer_workspace")
    get(server, f"steps/{server['src']}?workspace=project/dreamer_workspace")
    after = sorted(
        p.relative_to(ws).as_posix() for p in ws.rglob("*") if "lineage.sqlite" not in p.name
    )
    assert before == after
