"""The routes' answers match their JSON Schemas (dreamer_lab/server/schema/*.json).

The schemas are the one description of the payloads: the lab extension's TypeScript types are
generated from them (js/src/generated/payloads.ts). Here every route answers real requests on
real workspaces (the server of test_server.py, plus fresh, stale, running, failed, empty and
corrupt-entry workspaces added under its root) and each answer is validated: a 200 against
its route's schema, anything else against the error schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="validating payloads needs jsonschema")
pytest.importorskip("jupyter_server", reason="the server extension needs jupyter_server")

from test_server import CASES, get, server  # noqa: E402, F401 - the module's own server

from dreamer_lab.core.workspace import DEFAULT_WORKSPACE, MARKER  # noqa: E402
from dreamer_lab.server import schema as payload_schema  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "js" / "src" / "generated" / "payloads.ts"
PROJECT = f"project/{DEFAULT_WORKSPACE}"


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = payload_schema.load(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _check(name: str, route: str, payload: dict) -> None:
    errors = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, f"{route}: does not match schema/{name}.json:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:10]
    )


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old in data, (path, old)
    path.write_bytes(data.replace(old, new, 1))


@pytest.fixture(scope="module")
def cases(server):  # noqa: F811 - the fixture imported above
    """More workspaces under the running server's root, one per status a payload can carry."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    root: Path = server["root"]
    project = root / PROJECT
    base = root / "schema"

    def copy(name: str) -> Path:
        ws = base / name
        shutil.copytree(project, ws, symlinks=True)
        return ws

    # Running: a new step with progress, and a cached step being recomputed (no progress yet).
    # (The file Step._write_progress writes while a step runs, with this live process's pid.)
    ws = copy("running")
    running_fp = "cd" * 16
    for fp, name, progress in (
        (running_fp, "in_progress", 0.25),
        (server["src"], "questions", None),
    ):
        (ws / "locks" / f"{fp}.progress.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "kind": "DataSource",
                    "fingerprint": fp,
                    "status": "running",
                    "progress": progress,
                    "pid": os.getpid(),
                    "updated": time.time(),
                }
            )
        )

    # Failed: a step whose run() raised (its error, secrets redacted, is in the node).
    def explode(row: dict) -> dict:
        raise RuntimeError("boom with key sk-" + "a1B2c3D4" * 5)

    with DataDreamer(base / "failed"):
        ok = DataSource("ok", {"x": [1, 2]})
        with pytest.raises(Exception, match="boom"):
            ok.map(explode, name="boom")
    # Corrupt entries: an edited record.json (step 200 with corrupt, card 409), and a damaged
    # Arrow file under an intact record (step 200 with corrupt and the record's fields).
    ws = copy("corrupt_entry")
    _same_size_edit(ws / "steps" / server["src"] / "record.json", b'"rows": 3', b'"rows": 4')
    arrow = next((ws / "steps" / server["doubled"] / "data").glob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    for k in range(16):
        data[len(data) // 2 + k] ^= 0xA5
    arrow.write_bytes(bytes(data))
    # Empty: a workspace with no step yet.
    (base / "empty").mkdir()
    (base / "empty" / MARKER).write_text("dreamer_lab workspace v1\n")
    return {"running_fp": running_fp, "names": ["running", "failed", "corrupt_entry", "empty"]}


def test_schemas_are_valid_and_cover_every_route():
    for name in [*payload_schema.ROUTES.values(), payload_schema.ERROR]:
        schema = payload_schema.load(name)
        jsonschema.validators.validator_for(schema).check_schema(schema)
        assert schema.get("title"), f"{name}.json needs a title (its TypeScript type's name)"
    files = {p.stem for p in payload_schema.SCHEMA_DIR.glob("*.json")}
    assert files == {*payload_schema.ROUTES.values(), payload_schema.ERROR}
    # A route payload lists every field it sends: a new field must be described first.
    for name in payload_schema.ROUTES.values():
        assert payload_schema.load(name)["additionalProperties"] is False, name


def test_generated_typescript_declares_every_schema():
    """js/src/generated/payloads.ts is committed; the build regenerates it (a stale one
    leaves the checkout modified, which scripts/test.sh refuses)."""
    text = GENERATED.read_text(encoding="utf-8")
    assert "GENERATED by js/tools/build-types.mjs" in text
    for p in sorted(payload_schema.SCHEMA_DIR.glob("*.json")):
        title = json.loads(p.read_text(encoding="utf-8"))["title"]
        assert re.search(rf"^export (interface|type) {title}\b", text, re.M), (p.name, title)


def test_default_workspace_name_is_written_once_on_each_side():
    """Python: core.workspace.DEFAULT_WORKSPACE. TypeScript: the workspaces route's
    ``default_name`` (no copy of the name in js/src)."""
    literal = re.compile(rf"""["']\.?/?{re.escape(DEFAULT_WORKSPACE)}["']""")
    owner = REPO / "dreamer_lab" / "core" / "workspace.py"
    found = [
        f"{p.relative_to(REPO)}:{i}"
        for p in sorted((REPO / "dreamer_lab").rglob("*.py"))
        if p != owner
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert not found, f"use dreamer_lab.core.workspace.DEFAULT_WORKSPACE instead: {found}"
    ts = [
        p.relative_to(REPO).as_posix()
        for p in sorted((REPO / "js" / "src").rglob("*.ts"))
        if DEFAULT_WORKSPACE in p.read_text(encoding="utf-8")
    ]
    assert not ts, f"the sidebar gets the default name from the server, not a copy: {ts}"


def test_workspaces_route_sends_the_default_name(server, cases):  # noqa: F811
    status, data = get(server, "workspaces?near=project")
    assert status == 200
    _check("workspaces", "workspaces?near=project", data)
    assert data["default_name"] == DEFAULT_WORKSPACE
    assert data["near"] == [PROJECT]


def test_every_route_answers_as_its_schema_says(server, cases):  # noqa: F811
    seen = {"status": set(), "codes": set(), "corrupt": set(), "warning": False}

    def fetch(route: str, schema: str) -> dict | None:
        status, data = get(server, route)
        seen["codes"].add(status)
        if status == 200:
            _check(schema, route, data)
            return data
        assert "raw" not in data, f"{route}: {status} without a JSON body: {data}"
        _check(payload_schema.ERROR, route, data)
        return None

    listed = []
    for route in ("workspaces", "workspaces?near=project", "workspaces?near=schema"):
        data = fetch(route, "workspaces")
        assert data is not None
        listed += data["workspaces"]
    names = list(dict.fromkeys(listed))
    assert {f"schema/{n}" for n in cases["names"]} | {PROJECT} <= set(names)
    assert {f"cases/{c}" for c in CASES} <= set(names)
    for name in [*names, "escape", "project", "no/such/folder"]:
        ws = f"workspace={quote(name)}"
        lineage = fetch(f"lineage?{ws}", "lineage")
        if lineage is None:
            continue
        seen["warning"] |= lineage["index_warning"] is not None
        for node in lineage["nodes"]:
            seen["status"].add(node["status"])
            fp = node["fingerprint"]
            for limit in ("", "&limit=0", "&limit=2", "&limit=500"):
                step = fetch(f"steps/{fp}?{ws}{limit}", "step")
                if step is not None:
                    seen["corrupt"].add(step["corrupt"])
            fetch(f"steps/{fp}/card?{ws}", "card")
    # Errors of the step routes: bad fingerprint, missing step, bad limit.
    ws = f"workspace={PROJECT}"
    fetch(f"steps/NOT-HEX?{ws}", "step")
    fetch(f"steps/{'0' * 16}?{ws}", "step")
    fetch(f"steps/{server['src']}?{ws}&limit=abc", "step")
    fetch(f"steps/{'0' * 16}/card?{ws}", "card")
    # Every case was met: each status, corrupt and intact entries, a corrupt index, and
    # 400, 403, 404 and 409 answers.
    assert seen["status"] == {"fresh", "stale", "running", "failed"}, seen
    assert seen["corrupt"] == {True, False}, seen
    assert seen["warning"], seen
    assert {200, 400, 403, 404, 409} <= seen["codes"], seen


def test_running_failed_and_corrupt_payloads_carry_their_fields(server, cases):  # noqa: F811
    status, data = get(server, "lineage?workspace=schema/running")
    assert status == 200 and data["running"] == 2
    by_fp = {n["fingerprint"]: n for n in data["nodes"]}
    assert by_fp[cases["running_fp"]]["progress"] == 0.25
    assert by_fp[server["src"]]["status"] == "running"
    status, data = get(server, "lineage?workspace=schema/failed")
    failed = [n for n in data["nodes"] if n["status"] == "failed"]
    assert len(failed) == 1 and "boom" in failed[0]["error"]
    assert "a1B2c3D4" * 5 not in failed[0]["error"]  # the key-like text is redacted
    ws = "workspace=schema/corrupt_entry"
    status, data = get(server, f"steps/{server['src']}?{ws}")
    assert status == 200 and data["corrupt"] and data["name"] is None and data["args"] == {}
    status, data = get(server, f"steps/{server['doubled']}?{ws}")
    assert status == 200 and data["corrupt"] and data["name"] == "doubled"
    status, data = get(server, f"steps/{server['src']}/card?{ws}")
    assert status == 409 and "corrupt" in data["message"]


def test_unauthenticated_answers_match_the_error_schema(server):  # noqa: F811
    for route in ("workspaces", f"lineage?workspace={PROJECT}"):
        status, data = get(server, route, token=None)
        assert status == 403
        if "raw" not in data:  # jupyter_server's own answer; JSON when it sends one
            _check(payload_schema.ERROR, route, data)
