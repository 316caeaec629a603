"""Compaction of an object-storage workspace's request-cache batches (``dreamer-lab compact``,
core/remote_compact.py) against a real S3-compatible server on 127.0.0.1 (moto in server
mode, tests/s3_server.py), with the real ``openai`` client against the local
OpenAI-compatible server.

What a team relies on: after compaction a new machine gets every request from the bucket and
pays for none; each backend is one object; a batch uploaded meanwhile, a corrupt batch, a
reader and a second compaction running at the same time lose nothing; the command says what
it did, fails with one line, and shows no credential.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import test_object_store_workspace as workspace_tests
from openai_server import FakeOpenAIServer
from s3_server import S3Server

ROOT = Path(__file__).resolve().parents[1]
BUCKET = workspace_tests.BUCKET
s3 = workspace_tests.s3  # the same fixtures: a module's moto server, a fresh prefix per test
url = workspace_tests.url


def _keys(s3: S3Server, url: str, under: str = "requests/") -> dict[str, bytes]:
    pre = url.split("/", 3)[3] + "/"
    objs = s3.objects(BUCKET)
    return {k[len(pre) :]: v for k, v in objs.items() if k.startswith(pre + under)}


def _batches(s3: S3Server, url: str, backend: str) -> dict[str, bytes]:
    """The batch objects of ``backend`` (not its manifests)."""
    return {
        k: v for k, v in _keys(s3, url, f"requests/{backend}/").items() if "/manifests/" not in k
    }


def _machine(url: str, cache: Path, backend: str = "echo"):
    """A workspace with its own cache folder and one request cache attached to the bucket."""
    from dreamer_lab.core.remote_workspace import RemoteWorkspace
    from dreamer_lab.core.request_cache import RequestCache

    ws = RemoteWorkspace(url, cache_dir=cache)
    rc = RequestCache(cache / "requests" / f"{backend}.sqlite")
    ws.attach_request_cache(rc, backend)
    return ws, rc


def _upload(url: str, cache: Path, batches: list[dict], backend: str = "echo") -> None:
    """One machine commits ``batches``, each uploaded as its own object."""
    ws, rc = _machine(url, cache, backend)
    for items in batches:
        rc.put_many(items)
        assert ws.flush(30)


def _all(rc, n: int, tag: str = "k") -> dict:
    return rc.get_many([f"{tag}{i}" for i in range(n)])


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "dreamer_lab", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- every request kept -----------------------------------------------------------------------
def test_after_compaction_a_new_machine_pays_for_nothing(tmp_path, s3, url, monkeypatch):
    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import OpenAI

    prompts = [f"row {i}" for i in range(60)]
    with FakeOpenAIServer() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", srv.api_key)
        for m in range(3):  # three machines, each generating a third, in batches of 5
            with DataDreamer(url, cache_dir=tmp_path / f"m{m}") as dd:
                llm = OpenAI("gpt-4o-mini", base_url=srv.base_url)
                llm.run(prompts[m::3], batch_size=5)
                dd.workspace.flush()
        _upload(url, tmp_path / "e", [{f"k{i}": i} for i in range(25)])  # a second backend
        before = _batches(s3, url, "openai")
        # At least one object per machine (uploads queued behind a slow one are coalesced,
        # so how many more depends on load).
        assert len(before) >= 3 and len(_batches(s3, url, "echo")) == 25
        paid = srv.served
        assert paid == 60

        out = _cli("compact", url)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].startswith("echo: 25 batches -> 1 (25 requests,")
        assert lines[0].endswith("; deleted 25 in " + lines[0].rsplit(" in ", 1)[1])
        assert lines[1].startswith(f"openai: {len(before)} batches -> 1 (60 requests,")
        after = _batches(s3, url, "openai")
        assert len(after) == 1 and len(_batches(s3, url, "echo")) == 1
        (name,) = after
        assert "-compact-" in name
        merged = {}
        for data in before.values():
            for k, v in json.loads(gzip.decompress(data)).items():
                merged.setdefault(k, v)
        assert json.loads(gzip.decompress(after[name])) == merged  # the same format

        # A new machine, empty cache: every generation comes from the compacted object.
        with DataDreamer(url, cache_dir=tmp_path / "new"):
            llm = OpenAI("gpt-4o-mini", base_url=srv.base_url)
            got = llm.run(prompts, batch_size=5)
        assert got == [f"echo: {p}" for p in prompts]
        assert srv.served == paid, "the new machine sent requests again"
    ws, rc = _machine(url, tmp_path / "new2")
    assert _all(rc, 25) == {f"k{i}": i for i in range(25)}
    # Idempotent: one object per backend is already compact.
    again = _cli("compact", url)
    assert again.returncode == 0 and "echo: 1 batches, nothing to merge." in again.stdout


def test_an_up_to_date_machine_does_not_download_the_compacted_object(tmp_path, s3, url):
    from dreamer_lab.core.remote_compact import compact_requests

    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(10)])
    ws_b, rc_b = _machine(url, tmp_path / "b")  # merged all ten
    (r,) = compact_requests(url)
    assert (r.listed, r.merged, r.requests) == (10, 10, 10)
    calls: list[list[str]] = []
    real = ws_b.remote.get_many
    ws_b.remote.get_many = lambda keys: calls.append(keys) or real(keys)
    assert rc_b.mirror.pull(force=True) == 0
    assert rc_b.mirror.skipped == 1
    assert all("/manifests/" in k for ks in calls for k in ks), calls  # only the manifest
    assert _all(rc_b, 10) == {f"k{i}": i for i in range(10)}
    # A later compaction's manifest names the first one's batches: still nothing to download.
    _upload(url, tmp_path / "a", [{"k10": 10}, {"k11": 11}])
    rc_b.mirror.pull(force=True)
    compact_requests(url)
    calls.clear()
    rc_b.mirror.pull(force=True)
    assert rc_b.mirror.skipped == 2 and all("/manifests/" in k for ks in calls for k in ks)
    # A machine that missed one batch downloads the compacted object.
    ws_c, rc_c = _machine(url, tmp_path / "c")
    assert rc_c.mirror.skipped == 0 and _all(rc_c, 12) == {f"k{i}": i for i in range(12)}


# -- safe while others work -------------------------------------------------------------------
def test_a_batch_uploaded_during_compaction_survives(tmp_path, s3, url):
    from dreamer_lab.core.object_store import ObjectStore
    from dreamer_lab.core.remote_compact import compact_requests

    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(5)])
    store = ObjectStore(url)
    real = store.get_many

    def then_upload(keys):  # after the listing, another machine uploads a batch
        got = real(keys)
        if keys and not any("/manifests/" in k for k in keys):
            _upload(url, tmp_path / "b", [{"late": "kept"}])
        return got

    store.get_many = then_upload
    (r,) = compact_requests(store)
    assert (r.listed, r.merged) == (5, 5)
    left = _batches(s3, url, "echo")
    assert len(left) == 2, {k: gzip.decompress(v) for k, v in left.items()}  # compacted + late
    ws, rc = _machine(url, tmp_path / "c")
    assert rc.get_many(["late", "k0", "k4"]) == {"late": "kept", "k0": 0, "k4": 4}


def test_a_corrupt_batch_is_left_in_place_and_warned_about(tmp_path, s3, url):
    from dreamer_lab.errors import CorruptEntryWarning

    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(4)])
    name = sorted(_batches(s3, url, "echo"))[1]
    bad = gzip.compress(json.dumps({"k1": "poisoned"}).encode())
    s3.client().put_object(Bucket=BUCKET, Key=f"{url.split('/', 3)[3]}/{name}", Body=bad)

    out = _cli("compact", url)
    assert out.returncode == 1
    assert "echo: 4 batches -> 1 (3 requests," in out.stdout
    assert "; 1 corrupt, left in place." in out.stdout
    (warning,) = out.stderr.splitlines()
    assert warning.startswith(f"warning: Left the request-cache batch {url}/{name} in place")
    assert "do not match the digest" in warning
    left = _batches(s3, url, "echo")
    assert len(left) == 2 and left[name] == bad
    with pytest.warns(CorruptEntryWarning, match="Refused the request-cache batch"):
        ws, rc = _machine(url, tmp_path / "b")  # readers refuse it as before
    assert rc.get_many(["k0", "k1", "k2", "k3"]) == {"k0": 0, "k2": 2, "k3": 3}


def test_a_reader_racing_a_compaction_loses_nothing(tmp_path, s3, url):
    from dreamer_lab.core.remote_compact import compact_requests

    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(6)])
    ws, rc = _machine(url, tmp_path / "b")
    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(6, 12)])
    # The reader lists the batches; a compaction deletes them before the reader downloads.
    real = ws.remote.get_many
    raced: list[int] = []

    def compact_first(keys):
        if keys and not raced and not any("/manifests/" in k for k in keys):
            raced.append(len(keys))
            compact_requests(url)
        return real(keys)

    ws.remote.get_many = compact_first
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quietly: no warning, no error
        assert rc.mirror.pull(force=True) == 0
    assert raced == [6]
    rc.mirror.pull(force=True)  # the next pull finds the compacted object
    assert _all(rc, 12) == {f"k{i}": i for i in range(12)}

    # Readers, writers and compactions all at once, over a few rounds.
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            w, wrc = _machine(url, tmp_path / "w")
            for i in range(12, 40):
                wrc.put_many({f"k{i}": i})
                w.flush(30)
                wrc.mirror.pull(force=True)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            stop.set()

    def compactor() -> None:
        try:
            while not stop.is_set():
                compact_requests(url)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=compactor) for _ in "ab")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in threads:
            t.start()
        while not stop.is_set():
            rc.mirror.pull(force=True)
        for t in threads:
            t.join(120)
    assert errors == []
    rc.mirror.pull(force=True)
    assert _all(rc, 40) == {f"k{i}": i for i in range(40)}
    ws2, fresh = _machine(url, tmp_path / "fresh")
    assert _all(fresh, 40) == {f"k{i}": i for i in range(40)}


def test_two_compactions_at_once_lose_nothing(tmp_path, s3, url):
    from dreamer_lab.core.object_store import ObjectStore
    from dreamer_lab.core.remote_compact import compact_requests

    _upload(url, tmp_path / "a", [{f"k{i}": i} for i in range(8)])
    first = ObjectStore(url)
    real = first.get_many

    def other_runs_meanwhile(keys):  # B runs whole between A's downloads and A's writes
        got = real(keys)
        if keys and not any("/manifests/" in k for k in keys):
            (b,) = compact_requests(url)
            assert b.merged == 8
        return got

    first.get_many = other_runs_meanwhile
    (a,) = compact_requests(first)
    assert (a.listed, a.merged, a.vanished, a.requests) == (8, 8, 0, 8)
    assert len(_batches(s3, url, "echo")) == 2  # both compacted objects: duplicates, no loss
    ws, rc = _machine(url, tmp_path / "b")
    assert _all(rc, 8) == {f"k{i}": i for i in range(8)}
    (c,) = compact_requests(url)
    assert (c.merged, c.requests) == (2, 8) and len(_batches(s3, url, "echo")) == 1
    manifests = [k for k in _keys(s3, url) if "/manifests/" in k]
    assert len(manifests) == 1  # the merged objects' manifests went with them
    ws, rc = _machine(url, tmp_path / "c")
    assert _all(rc, 8) == {f"k{i}": i for i in range(8)}


# -- the command ------------------------------------------------------------------------------
def test_compact_command_errors_are_one_line_and_show_no_credential(tmp_path, s3, url):
    secrets = [s3.secret_key, s3.access_key]
    local = _cli("compact", str(tmp_path / "ws"))
    assert local.returncode == 2 and local.stdout == ""
    assert local.stderr.startswith(f"error: {tmp_path / 'ws'} is a local path; compact works on")
    assert len(local.stderr.splitlines()) == 1

    missing = _cli("compact", s3.bucket(BUCKET) + "/never-used")
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1
    assert "holds no dreamer_lab workspace (no .dreamer_lab object)" in missing.stderr

    closed = S3Server()  # a port nothing listens on
    closed.port = 1
    down = _cli("compact", url, env={"AWS_ENDPOINT_URL": closed.endpoint})
    assert down.returncode == 2 and len(down.stderr.splitlines()) == 1, down.stderr
    assert down.stderr.startswith(f"error: Cannot compact {url}: ")

    _upload(url, tmp_path / "a", [{"k": "v"}, {"k2": "v2"}])
    ok = _cli("compact", url)
    assert ok.returncode == 0 and ok.stderr == ""
    said = "".join(p.stdout + p.stderr for p in (local, missing, down, ok))
    assert not [s for s in secrets if s in said]
    help_text = _cli("--help").stdout
    assert "compact" in help_text and "request-cache batches" in help_text


def test_compaction_on_a_file_url_keeps_every_request(tmp_path):
    from dreamer_lab.core.remote_compact import compact_requests

    where = f"file://{tmp_path}/bucket"
    _upload(where, tmp_path / "a", [{f"k{i}": i} for i in range(6)])
    (r,) = compact_requests(where)
    assert (r.listed, r.merged, r.requests) == (6, 6, 6)
    folder = tmp_path / "bucket" / "requests" / "echo"
    assert len(list(folder.glob("*.json.gz"))) == 1
    assert len(list((folder / "manifests").iterdir())) == 1
    ws, rc = _machine(where, tmp_path / "b")
    assert _all(rc, 6) == {f"k{i}": i for i in range(6)}
