"""An object-storage workspace (``DataDreamer("s3://bucket/prefix")``) against a real
S3-compatible server on 127.0.0.1 (moto in server mode, tests/s3_server.py).

Each "machine" is a separate process with its own local cache folder; they share only the
bucket. What a team relies on: the second machine gets cache hits and does no work; two
machines racing on one fingerprint compute it once; a machine killed mid-upload leaves no
visible partial entry; a tampered object is refused, never served; no credential reaches a
file; a killed generation's finished requests are not paid for again on another machine.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from openai_server import FakeOpenAIServer
from s3_server import S3Server

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "team-cache"

WORK_CHILD = """
import json, os, sys, time
from pathlib import Path
from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataSource, Step

url, cache, counter, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

if os.environ.get("PAUSE_UPLOAD"):  # hang in the middle of uploading the work entry
    from dreamer_lab.core import object_store

    real = object_store.ObjectStore.put_files

    def paused(self, pairs):
        if Path(counter).exists():  # the work entry: upload one file, then hang
            real(self, pairs[:1])
            Path(os.environ["PAUSE_UPLOAD"]).write_text(pairs[0][1])
            time.sleep(600)
        return real(self, pairs)

    object_store.ObjectStore.put_files = paused


class Work(Step):
    def setup(self):
        self.register_input("x")
        self.register_output("y")

    def run(self):
        with open(counter, "a") as f:  # one line per computation, by any machine
            f.write(f"{os.getpid()}\\n")
        time.sleep(delay)
        return {"y": [v * 3 for v in self.inputs["x"]]}


with DataDreamer(url, cache_dir=cache, lease_ttl=float(os.environ.get("LEASE_TTL", "60"))):
    src = DataSource("numbers", {"x": list(range(1000))})
    work = Work("work", inputs={"x": src.output["x"]})
    ys = work.output["y"].to_list()
    print(json.dumps({"hit": work.cache_hit, "fp": work.fingerprint, "sum": sum(ys),
                      "rows": len(ys)}))
"""

PROMPT_CHILD = """
import sys
from dreamer_lab import DataDreamer
from dreamer_lab.llms import OpenAI
from dreamer_lab.steps import DataSource, Prompt

url, cache, base, rows = sys.argv[1:5]
with DataDreamer(url, cache_dir=cache, lease_ttl=6):
    src = DataSource("inputs", {"p": [f"row {i}" for i in range(int(rows))]})
    Prompt("generate", inputs={"prompts": src.output["p"]},
           args={"llm": OpenAI("gpt-4o-mini", base_url=base, max_concurrency=4)})
"""

EXPECTED_SUM = 3 * sum(range(1000))


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture
def url(s3, request, monkeypatch, tmp_path):
    """A fresh prefix in the shared bucket, and this process set up to reach it."""
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DREAMER_LAB_WORKSPACE", raising=False)
    monkeypatch.setenv("DREAMER_LAB_REMOTE_CACHE", str(tmp_path / "default_caches"))
    return f"{s3.bucket(BUCKET)}/{request.node.name}"


def _prefix(url: str) -> str:
    return url.split("/", 3)[3]


def _keys(s3: S3Server, url: str) -> dict[str, bytes]:
    pre = _prefix(url) + "/"
    return {k[len(pre) :]: v for k, v in s3.objects(BUCKET).items() if k.startswith(pre)}


def _child(tmp_path: Path, s3: S3Server, script: str, *args: str, env=None) -> subprocess.Popen:
    path = tmp_path / f"child_{abs(hash(script)) % 10**6}.py"
    path.write_text(textwrap.dedent(script))
    full = {**os.environ, **s3.env, **(env or {}), "PYTHONPATH": str(ROOT)}
    full.pop("DREAMER_LAB_WORKSPACE", None)
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _work(tmp_path, s3, url, cache: str, delay: float = 0.0, env=None) -> subprocess.Popen:
    counter = tmp_path / "computations.txt"
    return _child(
        tmp_path, s3, WORK_CHILD, url, str(tmp_path / cache), str(counter), str(delay), env=env
    )


def _computations(tmp_path: Path) -> int:
    f = tmp_path / "computations.txt"
    return len(f.read_text().split()) if f.exists() else 0


# -- sharing --------------------------------------------------------------------------------
def test_second_machine_gets_cache_hits_from_the_bucket(tmp_path, s3, url):
    first = _result(_work(tmp_path, s3, url, "cache_a"))
    assert first == {"hit": False, "fp": first["fp"], "sum": EXPECTED_SUM, "rows": 1000}
    assert _computations(tmp_path) == 1
    keys = _keys(s3, url)
    assert f"steps/{first['fp']}/record.json" in keys
    # The record in the bucket is the local record, byte for byte.
    local = tmp_path / "cache_a" / "steps" / first["fp"] / "record.json"
    assert keys[f"steps/{first['fp']}/record.json"] == local.read_bytes()

    second = _result(_work(tmp_path, s3, url, "cache_b"))
    assert second == {**first, "hit": True}
    assert _computations(tmp_path) == 1, "the second machine repeated the work"
    assert (tmp_path / "cache_b" / "steps" / first["fp"] / "record.json").is_file()

    # The second machine's lineage knows the steps from the bucket's records, and the CLI
    # reads the workspace by its URL.
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dreamer_lab", *args, "-w", url],
            env={**os.environ, "DREAMER_LAB_REMOTE_CACHE": str(tmp_path / "cli_cache")},
            capture_output=True,
            text=True,
            timeout=120,
        )

    ls = cli("ls")
    assert ls.returncode == 0, ls.stderr
    assert "work" in ls.stdout and "numbers" in ls.stdout and first["fp"][:12] in ls.stdout
    show = cli("show", first["fp"][:12])
    assert show.returncode == 0 and '"name": "work"' in show.stdout, show.stderr
    verify = cli("verify")
    assert verify.returncode == 0 and "2 entries checked, 0 corrupt" in verify.stdout, verify
    gc = cli("gc")
    assert gc.returncode == 2 and "lifecycle rule" in gc.stderr


def test_two_machines_racing_compute_once(tmp_path, s3, url):
    a = _work(tmp_path, s3, url, "cache_a", delay=4.0)
    b = _work(tmp_path, s3, url, "cache_b", delay=4.0)
    ra, rb = _result(a), _result(b)
    assert _computations(tmp_path) == 1, "both machines computed the same fingerprint"
    assert ra["fp"] == rb["fp"] and ra["sum"] == rb["sum"] == EXPECTED_SUM
    assert sorted([ra["hit"], rb["hit"]]) == [False, True]  # the waiter loaded the result
    lease = json.loads(_keys(s3, url)[f"leases/{ra['fp']}.json"])
    assert lease["state"] == "released"


def test_kill_during_upload_leaves_no_visible_entry(tmp_path, s3, url):
    marker = tmp_path / "uploading"
    env = {"PAUSE_UPLOAD": str(marker), "LEASE_TTL": "2"}
    a = _work(tmp_path, s3, url, "cache_a", env=env)
    deadline = time.monotonic() + 180
    while not marker.exists() and time.monotonic() < deadline and a.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), a.stderr.read() if a.poll() is not None else "no upload started"
    os.kill(a.pid, signal.SIGKILL)
    a.communicate()
    fp = marker.read_text().split("/")[1]  # steps/<fp>/v/<digest>/data/<file>
    keys = _keys(s3, url)
    assert any(k.startswith(f"steps/{fp}/v/") for k in keys), "nothing was uploaded"
    assert f"steps/{fp}/record.json" not in keys, "a partial entry is visible"

    # Another machine recomputes (the dead holder's lease expires after 2 s) and commits.
    t0 = time.monotonic()
    b = _result(_work(tmp_path, s3, url, "cache_b", env={"LEASE_TTL": "2"}))
    assert b == {"hit": False, "fp": fp, "sum": EXPECTED_SUM, "rows": 1000}
    assert _computations(tmp_path) == 2
    assert time.monotonic() - t0 < 120
    assert f"steps/{fp}/record.json" in _keys(s3, url)

    # The killed machine's cache holds its own (never published) commit: it takes the
    # bucket's, which was committed first, and loads cleanly.
    again = _result(_work(tmp_path, s3, url, "cache_a"))
    assert again == {**b, "hit": True}
    assert _computations(tmp_path) == 2
    remote = _keys(s3, url)[f"steps/{fp}/record.json"]
    assert (tmp_path / "cache_a" / "steps" / fp / "record.json").read_bytes() == remote


# -- integrity ------------------------------------------------------------------------------
def _compute_in_process(url: str, cache: Path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    with DataDreamer(url, cache_dir=cache):
        src = DataSource("numbers", {"x": list(range(1000)), "t": [f"r{i}" for i in range(1000)]})
        doubled = src.map(lambda r: {"y": r["x"] * 2}, name="doubled")
        return doubled.fingerprint, doubled.cache_hit, doubled.output["y"].to_list()


def test_tampered_object_is_refused_never_served(tmp_path, s3, url):
    from dreamer_lab.core.workspace import open_workspace
    from dreamer_lab.errors import CorruptEntryError, CorruptEntryWarning

    fp, hit, ys = _compute_in_process(url, tmp_path / "a")
    assert not hit and ys[:3] == [0, 2, 4]
    keys = _keys(s3, url)
    arrow = next(k for k in keys if k.startswith(f"steps/{fp}/v/") and k.endswith(".arrow"))
    data = bytearray(keys[arrow])
    pos = data.rfind(b"r999")  # same size, one value changed
    data[pos : pos + 4] = b"r998"
    s3.client().put_object(Bucket=BUCKET, Key=f"{_prefix(url)}/{arrow}", Body=bytes(data))

    # Fetching it directly: refused with the object's URL and the reason.
    ws = open_workspace(url)
    with pytest.raises(CorruptEntryError, match=r"is corrupt in the object store: file data/"):
        ws.steps.fetch(fp)
    assert not (ws.path / "steps" / fp).exists(), "the tampered entry reached the cache"

    # A machine with an empty cache: the step warns, recomputes and never maps the bad data.
    with pytest.warns(CorruptEntryWarning, match="does not match record.json") as w:
        fp2, hit2, ys2 = _compute_in_process(url, tmp_path / "b")
    assert fp2 == fp and not hit2 and ys2 == ys
    assert any("quarantine/steps/" in str(x.message) for x in w)
    after = _keys(s3, url)
    assert any(k.startswith(f"quarantine/steps/{fp}.") for k in after)
    assert f"steps/{fp}/record.json" in after  # the recomputed entry replaced it

    # An edited record (its digest no longer matches) is refused the same way.
    rec = f"{_prefix(url)}/steps/{fp}/record.json"
    raw = after[f"steps/{fp}/record.json"].replace(b'"rows": 1000', b'"rows": 999')
    s3.client().put_object(Bucket=BUCKET, Key=rec, Body=raw)
    with pytest.raises(CorruptEntryError, match="digest does not match"):
        _fresh(url, tmp_path / "c").fetch(fp)


def _fresh(url: str, cache: Path):
    from dreamer_lab.core.remote_workspace import RemoteWorkspace

    return RemoteWorkspace(url, cache_dir=cache).steps


def test_tampered_request_batch_is_refused(tmp_path, s3, url):
    from dreamer_lab.core.remote_workspace import RemoteWorkspace
    from dreamer_lab.core.request_cache import RequestCache
    from dreamer_lab.errors import CorruptEntryWarning

    ws = RemoteWorkspace(url, cache_dir=tmp_path / "a")
    cache = RequestCache(tmp_path / "a" / "requests" / "echo.sqlite")
    ws.attach_request_cache(cache, "echo")
    cache.put_many({"k1": "v1", "k2": "v2"})
    assert ws.flush(30)
    (name,) = [k for k in _keys(s3, url) if k.startswith("requests/echo/")]
    body = json.loads(gzip.decompress(_keys(s3, url)[name]))
    assert body == {"k1": "v1", "k2": "v2"}
    bad = gzip.compress(json.dumps({"k1": "poisoned", "k2": "v2"}).encode())
    s3.client().put_object(Bucket=BUCKET, Key=f"{_prefix(url)}/{name}", Body=bad)

    other = RemoteWorkspace(url, cache_dir=tmp_path / "b")
    theirs = RequestCache(tmp_path / "b" / "requests" / "echo.sqlite")
    with pytest.warns(CorruptEntryWarning, match="Refused the request-cache batch"):
        other.attach_request_cache(theirs, "echo")
    assert theirs.get_many(["k1", "k2"]) == {}


# -- credentials ----------------------------------------------------------------------------
def test_credentials_never_reach_a_file_or_a_log(tmp_path, s3, url, monkeypatch, caplog):
    from dreamer_lab import DataDreamer
    from dreamer_lab.cards import card_for
    from dreamer_lab.core.secrets import scrub_text
    from dreamer_lab.errors import ObjectStoreError
    from dreamer_lab.steps import DataSource

    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k)  # only storage_options carry them
    secrets = [s3.secret_key, s3.access_key]
    caplog.set_level(logging.DEBUG, logger="dreamer_lab")  # botocore's own DEBUG log shows
    # the key id in its request dumps: that is the user's choice of logging, not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with DataDreamer(url, cache_dir=tmp_path / "cache", storage_options=s3.storage_options):
            step = DataSource("numbers", {"x": [1, 2, 3]})
            text = repr(step.workspace) + str(card_for(step))
            step.workspace.flush()
        with pytest.raises(ObjectStoreError) as e:
            DataDreamer(
                "s3://no-such-bucket-here/ws",
                cache_dir=tmp_path / "other",
                storage_options=s3.storage_options,
            ).start()
    said = text + str(e.value) + caplog.text + " ".join(str(w.message) for w in caught)
    assert "no-such-bucket-here" in str(e.value) and "storage_options" in str(e.value)
    assert not [s for s in secrets if s in said]
    # Registered: any message that would quote them is redacted.
    assert not [
        s for s in secrets if s in scrub_text(f"failed with {s3.access_key} {s3.secret_key}")
    ]
    on_disk = [
        str(p)
        for p in tmp_path.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    in_bucket = [k for k, v in _keys(s3, url).items() if any(s.encode() in v for s in secrets)]
    assert on_disk == [] and in_bucket == []


def test_credentials_in_the_url_are_refused(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.errors import ObjectStoreError

    with pytest.raises(ObjectStoreError, match="carries credentials"):
        DataDreamer("s3://AKIAEXAMPLE:secret@bucket/ws", cache_dir=tmp_path).start()
    with pytest.raises(TypeError, match="apply to an object-storage workspace"):
        DataDreamer(tmp_path / "ws", cache_dir=tmp_path / "c")


# -- request cache --------------------------------------------------------------------------
def test_killed_generation_resumes_on_another_machine(tmp_path, s3, url, monkeypatch):
    from dreamer_lab import DataDreamer
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.steps import DataSource, Prompt

    rows = 200
    with FakeOpenAIServer(latency=0.1) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", srv.api_key)
        a = _child(
            tmp_path, s3, PROMPT_CHILD, url, str(tmp_path / "a"), srv.base_url, str(rows),
            env={"OPENAI_API_KEY": srv.api_key},
        )  # fmt: skip
        # Poll cheaply (the server's count, then one listing of the batch keys, no
        # downloads): a slow poll under load let the child finish before the kill.
        client, prefix = s3.client(), f"{_prefix(url)}/requests/openai/"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and a.poll() is None:
            if srv.served >= 60:
                listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
                if listed.get("KeyCount", 0) >= 3:
                    break
            time.sleep(0.05)
        os.kill(a.pid, signal.SIGKILL)
        _, err = a.communicate()
        assert a.returncode == -signal.SIGKILL, err[-2000:]
        srv.settle()
        first = srv.served
        assert first < rows, "the child finished before it was killed"
        shared = {}
        for k, v in _keys(s3, url).items():
            if k.startswith("requests/openai/"):
                shared.update(json.loads(gzip.decompress(v)))
        assert 0 < len(shared) <= first

        # Machine B (its own empty cache) runs the same step: only the rest is sent. The
        # killed child still holds the step's lease; B takes it over once it has seen it
        # unrenewed for the holder's lease_ttl (6 s here, not the default 60, to be short).
        with DataDreamer(url, cache_dir=tmp_path / "b"):
            src = DataSource("inputs", {"p": [f"row {i}" for i in range(rows)]})
            step = Prompt(
                "generate",
                inputs={"prompts": src.output["p"]},
                args={"llm": OpenAI("gpt-4o-mini", base_url=srv.base_url, max_concurrency=4)},
            )
            out = step.output["generations"].to_list()
        assert out == [f"echo: row {i}" for i in range(rows)]
        assert srv.served - first == rows - len(shared), (srv.served, first, len(shared))
    secrets = [s3.secret_key, srv.api_key]
    leaked = [
        str(p)
        for p in tmp_path.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert leaked == []


def test_unreachable_bucket_mid_session_computes_locally_with_warnings(tmp_path, monkeypatch):
    from dreamer_lab import DataDreamer
    from dreamer_lab.errors import ObjectStoreWarning
    from dreamer_lab.steps import DataSource

    own = S3Server().start()  # this test stops its server midway
    try:
        for k, v in own.env.items():
            monkeypatch.setenv(k, v)
        url = own.bucket("going-away") + "/ws"
        dd = DataDreamer(url, cache_dir=tmp_path / "cache").start()
        try:
            own.stop()
            t0 = time.monotonic()
            with pytest.warns(ObjectStoreWarning, match="committed in the local cache"):
                step = DataSource("numbers", {"x": [1, 2, 3]})
            assert not step.cache_hit and step.output["x"].to_list() == [1, 2, 3]
            # One connection failure, then the store is skipped for a while, not retried.
            assert time.monotonic() - t0 < 60
            again = DataSource("numbers", {"x": [1, 2, 3]})
            assert again.cache_hit  # from the local cache while the bucket is away
        finally:
            dd.stop()
    finally:
        own.stop()
