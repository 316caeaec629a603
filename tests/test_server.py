"""The server extension's REST routes, against a real ``jupyter server`` subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from jupyter_test_server import jupyter_server

pytest.importorskip("jupyter_server", reason="the server extension needs jupyter_server")

TOKEN = "test-token-dreamer-lab"
XSS = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"
CASES = ["corrupt_index", "linked_entry", "linked_index", "linked_wal", "live", "no_index"]


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
        elsewhere = DataSource("elsewhere", {"x": [1]})
    (root / "escape").symlink_to(outside_ws, target_is_directory=True)
    project = root / "project" / "dreamer_workspace"
    assert not (project / "lineage.sqlite-wal").exists()  # idle: no kernel has it open

    def case(name: str) -> Path:
        ws = root / "cases" / name
        shutil.copytree(project, ws, symlinks=True)
        return ws

    # An index that is a link to a database outside the root (in rollback-journal mode).
    outside_db = base / "outside_db" / "private.sqlite"
    outside_db.parent.mkdir()
    db = sqlite3.connect(outside_db)
    db.execute("CREATE TABLE private (x TEXT)")
    db.execute("INSERT INTO private VALUES ('do not serve')")
    db.commit()
    db.close()
    ws = case("linked_index")
    (ws / "lineage.sqlite").unlink()
    (ws / "lineage.sqlite").symlink_to(outside_db)
    # A -wal file that is a link to a file outside the root.
    (base / "outside_wal").write_bytes(b"\x00" * 64)
    (case("linked_wal") / "lineage.sqlite-wal").symlink_to(base / "outside_wal")
    # An entry that is a link to an entry outside the root; a record.json linked outside.
    ws = case("linked_entry")
    (ws / "steps" / elsewhere.fingerprint).symlink_to(
        outside_ws / "steps" / elsewhere.fingerprint, target_is_directory=True
    )
    record = ws / "steps" / src.fingerprint / "record.json"
    shutil.copy(record, base / "outside_record.json")
    record.unlink()
    record.symlink_to(base / "outside_record.json")
    # A corrupt index; a deleted one; one a live kernel is writing (see the test).
    ws = case("corrupt_index")
    (ws / "lineage.sqlite").write_bytes(b"garbage!" * 1024)
    (case("no_index") / "lineage.sqlite").unlink()
    case("live")
    with jupyter_server(root, base, TOKEN) as (url, _proc):
        info = {
            "url": url,
            "base": base,
            "root": root,
            "src": src.fingerprint,
            "doubled": doubled.fingerprint,
            "elsewhere": elsewhere.fingerprint,
            "outside_db": outside_db,
        }
        yield info


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
    assert data["workspaces"] == [f"cases/{c}" for c in CASES] + ["project/dreamer_workspace"]
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


def _snapshot(base: Path) -> dict[str, tuple]:
    """Every file, folder and link under ``base`` (lineage.sqlite*, locks/ and link targets
    included; the server's own config and data folders left out): kind, digest, mtime."""
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(base):
        if Path(folder) == base:
            dirs[:] = [d for d in dirs if d not in ("cfg", "d")]
        for name in dirs + files:
            p = Path(folder) / name
            st = os.lstat(p)
            rel = p.relative_to(base).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mtime_ns)
            else:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[rel] = ("file", digest, st.st_size, st.st_mtime_ns)
    return out


def test_routes_do_not_write_to_the_workspace(server):
    base = server["base"]
    ws = server["root"] / "project" / "dreamer_workspace"
    assert (ws / "lineage.sqlite").is_file() and (ws / "locks").is_dir()
    before = _snapshot(base)
    assert any("outside_db/private.sqlite" in k for k in before)  # a link target is covered
    fps = (server["src"], server["doubled"], server["elsewhere"])
    statuses = []
    for route in ("workspaces", "workspaces?near=project", "workspaces?near=cases"):
        statuses.append(get(server, route)[0])
    for name in ["project/dreamer_workspace", "escape", *(f"cases/{c}" for c in CASES)]:
        if name == "cases/live":
            continue  # written by a kernel in its own test
        statuses.append(get(server, f"lineage?workspace={name}")[0])
        for fp in fps:
            statuses.append(get(server, f"steps/{fp}?workspace={name}")[0])
            statuses.append(get(server, f"steps/{fp}/card?workspace={name}")[0])
    assert 200 in statuses and 403 in statuses and 500 not in statuses
    after = _snapshot(base)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
    assert before.keys() == after.keys()


def test_index_and_entries_linked_outside_the_root_are_refused(server):
    outside = server["outside_db"]
    before = _snapshot(outside.parent)
    status, data = get(server, "lineage?workspace=cases/linked_index")
    assert status == 403, data
    assert "lineage.sqlite" in data["message"] and "outside the server root" in data["message"]
    status, data = get(server, "lineage?workspace=cases/linked_wal")
    assert status == 403 and "lineage.sqlite-wal" in data["message"], data
    # The linked database was not touched: no WAL switch, no tables, no lock file.
    assert _snapshot(outside.parent) == before
    db = sqlite3.connect(f"file:{outside}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("private",)]
    finally:
        db.close()

    ws = "workspace=cases/linked_entry"
    for route in (f"steps/{server['elsewhere']}", f"steps/{server['elsewhere']}/card"):
        status, data = get(server, f"{route}?{ws}")  # the entry folder is a link
        assert status == 403 and "outside the server root" in data["message"], data
        assert "elsewhere" not in json.dumps(data)
    for route in (f"steps/{server['src']}", f"steps/{server['src']}/card"):
        status, data = get(server, f"{route}?{ws}")  # its record.json is a link
        assert status == 403 and "record.json" in data["message"], data
        assert "questions" not in json.dumps(data)
    # Entries that stay inside the root are served as before.
    assert get(server, f"steps/{server['doubled']}?{ws}")[0] == 200
    assert get(server, f"lineage?{ws}")[0] == 200


def test_corrupt_index_is_answered_from_the_records(server):
    ws = server["root"] / "cases" / "corrupt_index"
    damaged = (ws / "lineage.sqlite").read_bytes()
    status, data = get(server, "lineage?workspace=cases/corrupt_index")
    assert status == 200, data
    assert "corrupt" in data["index_warning"] and "verify" in data["index_warning"]
    by_fp = {n["fingerprint"]: n for n in data["nodes"]}
    assert len(by_fp) == 3
    assert by_fp[server["src"]]["status"] == "stale"
    assert by_fp[server["doubled"]]["status"] == "stale"
    assert {"source": server["src"], "target": server["doubled"]} in data["edges"]
    # Repairing is a writer's job: the route leaves the file as it found it.
    assert (ws / "lineage.sqlite").read_bytes() == damaged
    assert not list(ws.glob("lineage.sqlite-*")) and not list((ws / "quarantine").iterdir())
    assert get(server, "workspaces")[0] == 200  # the server lives on


def test_missing_index_reads_as_the_records_and_is_not_created(server):
    ws = server["root"] / "cases" / "no_index"
    status, data = get(server, "lineage?workspace=cases/no_index")
    assert status == 200, data
    assert data["index_warning"] is None and len(data["nodes"]) == 3
    for name in ("lineage.sqlite", "lineage.sqlite-wal", "lineage.sqlite-shm"):
        assert not (ws / name).exists()


def test_lineage_route_reads_a_live_kernels_uncommitted_to_disk_writes(server):
    """A kernel holds the index open; its last write is still only in the -wal file."""
    ws = server["root"] / "cases" / "live"
    kernel = sqlite3.connect(ws / "lineage.sqlite", isolation_level=None)
    try:
        kernel.execute("PRAGMA wal_autocheckpoint=0")
        kernel.execute(
            "INSERT INTO steps VALUES (?, 'live_step', 'DataSource', ?, 5, 0.5, 'steps')",
            ("ab" * 16, time.time()),
        )
        assert (ws / "lineage.sqlite-wal").stat().st_size > 0
        before = _snapshot(ws)
        status, data = get(server, "lineage?workspace=cases/live")
        assert status == 200, data
        assert "live_step" in {n["name"] for n in data["nodes"]}
        after = _snapshot(ws)
        # A reader marks its place in the -shm; every other file is as it was.
        before.pop("lineage.sqlite-shm"), after.pop("lineage.sqlite-shm")
        assert after == before
    finally:
        kernel.close()
