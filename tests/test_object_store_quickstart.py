"""The quickstart notebook, unchanged, with ``-p workspace=s3://...`` against a local S3 server
(moto, tests/s3_server.py): one machine runs it, a second machine (another local cache
folder) runs it again and every step loads from the bucket."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from s3_server import S3Server

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two whole quickstart runs: 7.5 and 9.5 min on the loaded 2-core box
def test_quickstart_runs_on_an_s3_workspace_and_a_second_machine_gets_hits(tmp_path, monkeypatch):
    from dreamer_lab.core.remote_workspace import RemoteWorkspace
    from dreamer_lab.runner import run_notebook

    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    nb = tmp_path / NOTEBOOK.name
    with S3Server() as s3:
        for k, v in s3.env.items():
            monkeypatch.setenv(k, v)  # the kernel inherits them (the usual provider chain)
        monkeypatch.delenv("DREAMER_LAB_WORKSPACE", raising=False)
        url = s3.bucket("quickstart") + "/team"
        params = {"rows": 12, "epochs": 2, "workspace": url}
        monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "machine_a"))
        first = run_notebook(nb, tmp_path / "run1", parameters=params, verbose=False)
        monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "machine_b"))
        second = run_notebook(nb, tmp_path / "run2", parameters=params, verbose=False)

        one = json.loads(first["json"].read_text())
        two = json.loads(second["json"].read_text())
        assert one["expected_fingerprints"] == two["expected_fingerprints"]
        assert len(one["expected_fingerprints"]) >= 5
        assert all(s["cache_hit"] is True for s in two["run"]["timings"]["steps"])
        # Nothing was written next to the notebook: the workspace is the bucket.
        assert not (tmp_path / "dreamer_workspace").exists()
        # Machine B ran nothing: its runs are all cache hits.
        ws = RemoteWorkspace(url, cache_dir=next((tmp_path / "machine_b").iterdir()))
        statuses = {r["status"] for r in ws.lineage.runs() if r["status"] != "done"}
        assert statuses == {"hit"}
        keys = s3.objects("quickstart")
        for fp in one["expected_fingerprints"].values():
            assert any(k.startswith(f"team/{a}/{fp}/record.json") for a in ("steps", "models")
                       for k in keys), fp  # fmt: skip
        # The credentials (environment only) are in no object, report, card, notebook or cache.
        secrets = [s3.secret_key.encode(), s3.access_key.encode()]
        assert not [k for k, v in keys.items() if any(x in v for x in secrets)]
        on_disk = [
            p
            for p in tmp_path.rglob("*")
            if p.is_file() and any(x in p.read_bytes() for x in secrets)
        ]
        assert on_disk == []
