"""The sidebar's routes read an object-storage workspace (``?workspace=s3://bucket/prefix``)
from a real ``jupyter server`` subprocess and a local S3 server (moto, tests/s3_server.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from jupyter_test_server import jupyter_server
from s3_server import S3Server

pytest.importorskip("jupyter_server", reason="the server extension needs jupyter_server")

TOKEN = "test-token-dreamer-lab-s3"


def _get(url: str, route: str, **query: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{url}/dreamer-lab/api/{route}?{urllib.parse.urlencode(query)}",
        headers={"Authorization": f"token {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_sidebar_routes_read_a_workspace_in_a_bucket(tmp_path, monkeypatch):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    root = tmp_path / "root"
    root.mkdir()
    with S3Server() as s3:
        for k, v in s3.env.items():
            monkeypatch.setenv(k, v)
        url = s3.bucket("sidebar") + "/ws"
        with DataDreamer(url, cache_dir=tmp_path / "kernel_cache"):
            src = DataSource("questions", {"q": ["a?", "b?"]})
            doubled = src.map(lambda r: {"q2": r["q"] * 2}, name="doubled")
        # The server is another machine: its own, empty read cache.
        monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "server_cache"))
        with jupyter_server(root, tmp_path, TOKEN) as (base, _proc):
            status, lineage = _get(base, "lineage", workspace=url)
            assert status == 200, lineage
            names = {n["name"]: n for n in lineage["nodes"]}
            assert set(names) == {"questions", "doubled"}
            edge = {"source": src.fingerprint, "target": doubled.fingerprint}
            assert lineage["edges"] == [edge]
            # Once opened on this machine, the sidebar's workspace list offers it.
            status, listed = _get(base, "workspaces")
            assert status == 200 and url in listed["workspaces"]
            status, step = _get(base, f"steps/{doubled.fingerprint}", workspace=url)
            assert status == 200, step
            assert [r["q2"] for r in step["sample"]["rows"]] == ["a?a?", "b?b?"]

            # A tampered object in the bucket is refused, never read.
            key = f"ws/steps/{src.fingerprint}/record.json"
            raw = s3.client().get_object(Bucket="sidebar", Key=key)["Body"].read()
            s3.client().put_object(
                Bucket="sidebar", Key=key, Body=raw.replace(b'"rows": 2', b'"rows": 3')
            )
            status, body = _get(base, f"steps/{src.fingerprint}", workspace=url)
            assert status == 409 and "corrupt in the object store" in json.dumps(body)

            # Only object-store schemes: the browser cannot make the server fetch a URL.
            status, body = _get(base, "lineage", workspace="http://127.0.0.1:1/x")
            assert status == 400 and "not served" in json.dumps(body)
            # A prefix that holds no workspace is a 404, and nothing is created there.
            status, body = _get(base, "lineage", workspace="s3://sidebar/nothing-here")
            assert status == 404 and "not a dreamer_lab workspace" in json.dumps(body)
            assert not [k for k in s3.objects("sidebar") if k.startswith("nothing-here")]
