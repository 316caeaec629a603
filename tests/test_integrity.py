"""Integrity of stored entries: same-size damage, copied signed objects, edited records.

The fuzz test corrupts a real workspace (made through the public API) in place, without
changing any file's size, and reloads it in a subprocess, so a crash of Arrow on damaged
data shows up as a dead worker rather than a dead pytest. This file is also the worker:
``python tests/test_integrity.py build|check ...``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from jupyter_test_server import jupyter_server

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
N_CORRUPTIONS = 30
KINDS = ("arrow", "state", "info", "joblib", "sig", "record")


# -- the workflow (shared by the test and its workers) -------------------------------------
def workflow() -> dict[str, Any]:
    """A data source, a map over it, and a step with an object output."""
    from dreamer_lab.steps import DataSource, Step

    class Tag(Step):
        """Tags each text and keeps a small vocabulary object next to its rows."""

        def setup(self) -> None:
            self.register_input("text")
            self.register_output("tag")

        def run(self) -> dict[str, list[str]]:
            texts = list(self.inputs["text"])
            self.objects["model"] = {"vocab": sorted(set(texts)), "n": len(texts)}
            return {"tag": [f"<{t}>" for t in texts]}

    src = DataSource("src", {"text": [f"row {i}" for i in range(300)], "n": list(range(300))})
    doubled = src.map(lambda r: {"text2": r["text"] * 2}, name="doubled")
    tagged = Tag("tagged", inputs={"text": src.output["text"]})
    return {"src": src, "doubled": doubled, "tagged": tagged}


def _snapshot(steps: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, s in steps.items():
        out[name] = {
            "fp": s.fingerprint,
            "hit": s.cache_hit,
            "rows": s.output.dataset.to_list(),
            "obj": s.load_object("model") if name == "tagged" else None,
        }
    return out


def _worker_build(ws: Path, out: Path) -> None:
    from dreamer_lab import DataDreamer

    with DataDreamer(ws):
        out.write_text(json.dumps(_snapshot(workflow())))


def _worker_check(spec_path: Path) -> None:
    """For each workspace: the server view, verify, then a reload (one JSON line each)."""
    from dreamer_lab import DataDreamer
    from dreamer_lab.core.store import StepStore
    from dreamer_lab.server import views

    spec = json.loads(spec_path.read_text())
    with open(spec["out"], "a") as log:
        for job in spec["jobs"]:
            ws = Path(job["ws"])
            log.write(json.dumps({"start": job["i"]}) + "\n")
            log.flush()
            res: dict[str, Any] = {"i": job["i"], "view": {}, "problems": {}}
            store = StepStore(ws / "steps", ws / "tmp", ws / "quarantine")
            for fp in job["fps"]:
                try:
                    p = views.step_payload(ws, fp, limit=1000) or {}
                    res["view"][fp] = {"corrupt": p.get("corrupt"), "rows": p["sample"]["rows"]}
                except Exception as e:  # noqa: BLE001 - reported to the test
                    res["view"][fp] = {"error": f"{type(e).__name__}: {e}"}
                try:
                    res["problems"][fp] = store.verify(fp)
                except Exception as e:  # noqa: BLE001 - reported to the test
                    res["problems"][fp] = [f"verify raised {type(e).__name__}: {e}"]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with DataDreamer(ws):
                        res["steps"] = _snapshot(workflow())
                except Exception as e:  # noqa: BLE001 - reported to the test
                    res["error"] = f"{type(e).__name__}: {e}"
            res["warnings"] = sorted({w.category.__name__ for w in caught})
            q = ws / "quarantine"
            res["quarantined"] = sorted(p.name.split(".")[0] for p in q.iterdir())
            log.write(json.dumps(res) + "\n")
            log.flush()


# -- corruption ----------------------------------------------------------------------------
def _candidates(ws: Path) -> dict[str, list[Path]]:
    steps = ws / "steps"
    return {
        "arrow": sorted(steps.glob("*/data/*.arrow")),
        "state": sorted(steps.glob("*/data/state.json")),
        "info": sorted(steps.glob("*/data/dataset_info.json")),
        "joblib": sorted(steps.glob("*/objects/*.joblib")),
        "sig": sorted(steps.glob("*/objects/*.joblib.sig")),
        "record": sorted(steps.glob("*/record.json")),
    }


def corrupt(path: Path, rng: random.Random) -> int:
    """Flip or overwrite 1-16 bytes at random offsets; the size never changes."""
    data = bytearray(path.read_bytes())
    before = bytes(data)
    n = rng.randint(1, 16)
    for _ in range(n):
        at = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[at] ^= 1 << rng.randrange(8)  # a bit flip
        else:
            data[at] = rng.randrange(256)  # an overwrite
    if bytes(data) == before:
        data[0] ^= 0x01
    path.write_bytes(bytes(data))
    assert path.stat().st_size == len(before)
    return n


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(HERE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _check_all(jobs: list[dict[str, Any]], tmp: Path) -> tuple[dict[int, dict], list[int]]:
    """Run the jobs in two worker processes; a worker that dies is restarted after its job."""
    results: dict[int, dict] = {}
    crashed: list[int] = []
    pending = list(jobs)
    rounds = 0
    while pending and rounds < len(jobs) + 2:
        rounds += 1
        halves = [pending[0::2], pending[1::2]]
        procs = []
        for k, batch in enumerate(halves):
            if not batch:
                continue
            out = tmp / f"results.{rounds}.{k}.jsonl"
            spec = tmp / f"spec.{rounds}.{k}.json"
            spec.write_text(json.dumps({"out": str(out), "jobs": batch}))
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            procs.append(
                (
                    subprocess.Popen(
                        [sys.executable, str(HERE), "check", str(spec)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                    out,
                )
            )
        for proc, out in procs:
            _, err = proc.communicate(timeout=300)
            started = None
            for line in out.read_text().splitlines() if out.exists() else []:
                item = json.loads(line)
                if "start" in item:
                    started = item["start"]
                else:
                    results[item["i"]] = item
                    started = None
            if proc.returncode != 0 and started is None:
                raise AssertionError(f"worker failed outside a job: {err[-3000:]}")
            if proc.returncode != 0 and started is not None:
                crashed.append(started)  # died inside this job (e.g. SIGSEGV)
                results[started] = {"i": started, "crash": proc.returncode, "stderr": err[-2000:]}
        pending = [j for j in jobs if j["i"] not in results]
    return results, crashed


def test_same_size_corruption_fuzz(tmp_path):
    """30 random same-size corruptions: no crash, no wrong row, each one caught."""
    pristine = tmp_path / "pristine"
    originals_file = tmp_path / "originals.json"
    r = _run(["build", str(pristine), str(originals_file)])
    assert r.returncode == 0, r.stderr[-3000:]
    originals = json.loads(originals_file.read_text())
    fps = [s["fp"] for s in originals.values()]
    by_fp = {s["fp"]: name for name, s in originals.items()}
    shutil.rmtree(pristine / "quarantine", ignore_errors=True)
    (pristine / "quarantine").mkdir()

    rng = random.Random(20240610)
    jobs, targets = [], {}
    for i in range(N_CORRUPTIONS):
        kind = KINDS[i % len(KINDS)]
        ws = tmp_path / f"c{i:02d}"
        shutil.copytree(pristine, ws)
        files = _candidates(ws)[kind]
        assert files, f"the workflow has no {kind} file"
        target = rng.choice(files)
        corrupt(target, rng)
        fp = target.relative_to(ws / "steps").parts[0]
        targets[i] = (kind, fp, target.relative_to(ws).as_posix())
        jobs.append({"i": i, "ws": str(ws), "fps": fps})

    results, crashed = _check_all(jobs, tmp_path)
    assert sorted(results) == list(range(N_CORRUPTIONS))
    errors, wrong, missed, unflagged = [], [], [], []
    for i, res in sorted(results.items()):
        kind, fp, rel = targets[i]
        if "crash" in res:
            continue
        if "error" in res:
            errors.append((rel, res["error"]))
            continue
        # Reload: every step serves exactly its original rows and object.
        for name, orig in originals.items():
            got = res["steps"][name]
            if got["rows"] != orig["rows"] or got["obj"] != orig["obj"]:
                wrong.append((rel, f"reload of {name}"))
        # The damaged entry was quarantined and recomputed, with a visible warning.
        name = by_fp[fp]
        if not (
            fp in res["quarantined"]
            and res["steps"][name]["hit"] is False
            and "CorruptEntryWarning" in res["warnings"]
        ):
            missed.append((rel, "reload"))
        # verify (run before the reload) named the damaged entry.
        if not res["problems"][fp]:
            missed.append((rel, "verify"))
        # The server view never served a wrong row, and flagged damage to what it reads.
        for vfp, v in res["view"].items():
            if "error" in v:
                errors.append((rel, f"view: {v['error']}"))
            elif not v["corrupt"] and v["rows"] != originals[by_fp[vfp]]["rows"]:
                wrong.append((rel, f"server view of {by_fp[vfp]}"))
        if kind in ("arrow", "state", "info", "record") and not res["view"][fp].get("corrupt"):
            unflagged.append(rel)
    summary = {
        "crashes": [(targets[i][2], results[i]["crash"]) for i in crashed],
        "errors": errors,
        "wrong rows served": wrong,
        "not quarantined/recomputed": missed,
        "not flagged by the server view": unflagged,
    }
    counts = {k: len(v) for k, v in summary.items()}
    assert not any(summary.values()), f"{counts}\n" + json.dumps(summary, indent=1)[:6000]


# -- copied objects, edited records --------------------------------------------------------
def _tagged(ws: Path, trust: bool = False) -> dict[str, Any]:
    from dreamer_lab import DataDreamer

    with DataDreamer(ws, trust=trust):
        return workflow()


def _store(ws: Path):
    from dreamer_lab.core.store import StepStore

    return StepStore(ws / "steps", ws / "tmp", ws / "quarantine")


def _reseal(entry: Path, edit) -> None:
    """Edit an entry's record as an attacker would: fix the file digests and the record's own."""
    from dreamer_lab.core.store import dump_record, list_files, parse_record

    record, _ = parse_record((entry / "record.json").read_bytes(), entry.name)
    edit(record)
    record["files"] = list_files(entry)
    (entry / "record.json").write_bytes(dump_record(record))


def test_copied_signed_object_is_refused(tmp_path):
    from dreamer_lab import DataDreamer
    from dreamer_lab.core.signing import UntrustedObjectError
    from dreamer_lab.core.store import CorruptEntryWarning
    from dreamer_lab.steps import Step

    class Keep(Step):
        def setup(self) -> None:
            self.register_arg("value")
            self.register_output("a")

        def run(self) -> dict[str, list[int]]:
            self.objects["model"] = {"value": self.args["value"]}
            return {"a": [self.args["value"]]}

    ws = tmp_path / "ws"
    with DataDreamer(ws):
        a, b = Keep("a", args={"value": 1}), Keep("b", args={"value": 2})
        assert b.load_object("model") == {"value": 2}
    src, dst = a.path / "objects", b.path / "objects"

    # Copied with its .sig, record untouched: the file digests no longer match.
    for f in ("model.joblib", "model.joblib.sig"):
        shutil.copyfile(src / f, dst / f)
    with DataDreamer(ws), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Keep("b", args={"value": 2})
        assert again.cache_hit is False and again.load_object("model") == {"value": 2}
    assert any(issubclass(w.category, CorruptEntryWarning) for w in caught)

    # Copied and the record re-sealed to match: the signature binds the object to `a`.
    for f in ("model.joblib", "model.joblib.sig"):
        shutil.copyfile(src / f, dst / f)
    _reseal(b.path, lambda r: None)
    with DataDreamer(ws):
        hit = Keep("b", args={"value": 2})
        assert hit.cache_hit is True
        with pytest.raises(UntrustedObjectError, match="copied from another entry"):
            hit.load_object("model")
    out = _cli("verify", "-w", str(ws))
    assert out.returncode == 1 and f"UNTRUSTED {b.fingerprint[:12]}" in out.stdout

    # Renamed inside its own entry: refused too.
    shutil.copyfile(src / "model.joblib", src / "other.joblib")
    shutil.copyfile(src / "model.joblib.sig", src / "other.joblib.sig")
    _reseal(a.path, lambda r: None)
    with DataDreamer(ws):
        with pytest.raises(UntrustedObjectError, match="another entry or renamed"):
            Keep("a", args={"value": 1}).load_object("other")
        assert Keep("a", args={"value": 1}).load_object("model") == {"value": 1}

    # trust=True still loads what the user chose to trust.
    with DataDreamer(ws, trust=True):
        assert Keep("b", args={"value": 2}).load_object("model") == {"value": 1}


def test_signature_binds_entry_and_name(tmp_path):
    from dreamer_lab.core.signing import UntrustedObjectError, dump_signed, load_signed

    p = tmp_path / "x.joblib"
    dump_signed([1, 2], p, entry="f" * 32, name="x")
    assert load_signed(p, entry="f" * 32, name="x") == [1, 2]
    for entry, name in (("e" * 32, "x"), ("f" * 32, "y"), ("", "")):
        with pytest.raises(UntrustedObjectError):
            load_signed(p, entry=entry, name=name)
    # An older, unbound signature (HMAC over the bytes alone) is refused with its reason.
    import hashlib
    import hmac

    from dreamer_lab.core.signing import signing_key

    old = hmac.new(signing_key(), p.read_bytes(), hashlib.sha256).hexdigest()
    Path(str(p) + ".sig").write_text(old)
    with pytest.raises(UntrustedObjectError, match="older format"):
        load_signed(p, entry="f" * 32, name="x")
    assert load_signed(p, trust=True) == [1, 2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "dreamer_lab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _edit_in_place(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))


def test_edited_record_is_reported_by_verify_and_quarantined_on_load(tmp_path):
    from dreamer_lab.core.store import CorruptEntryWarning

    ws = tmp_path / "ws"
    steps = _tagged(ws)
    src, tagged = steps["src"], steps["tagged"]
    assert _cli("verify", "-w", str(ws)).returncode == 0

    # A same-size edit of the row count and of the name.
    _edit_in_place(src.path / "record.json", b'"rows": 300', b'"rows": 301')
    _edit_in_place(tagged.path / "record.json", b'"name": "tagged"', b'"name": "tagxed"')
    out = _cli("verify", "-w", str(ws))
    assert out.returncode == 1, out.stdout + out.stderr
    for s in (src, tagged):
        assert f"CORRUPT {s.fingerprint[:12]}: record.json: record.json was edited" in out.stdout
    assert "3 entries checked, 2 corrupt" in out.stdout

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _tagged(ws)
    assert sum(issubclass(w.category, CorruptEntryWarning) for w in caught) == 2
    assert again["src"].cache_hit is False and again["tagged"].cache_hit is False
    assert again["src"].record["rows"] == 300 and again["tagged"].record["name"] == "tagged"
    assert len(list((ws / "quarantine").iterdir())) == 2
    assert _cli("verify", "-w", str(ws)).returncode == 0

    # Re-sealed (digest recomputed) but contradicting the data: verify and load catch it.
    _reseal(again["src"].path, lambda r: r.update(rows=299))
    out = _cli("verify", "-w", str(ws))
    assert out.returncode == 1 and "rows is 299, the data has 300" in out.stdout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _tagged(ws)["src"].cache_hit is False
    assert any("says 299 rows" in str(w.message) for w in caught)


def test_older_record_without_digest_is_a_note(tmp_path):
    ws = tmp_path / "ws"
    src = _tagged(ws)["src"]
    record = _store(ws).read_record(src.fingerprint)
    (src.path / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    out = _cli("verify", "-w", str(ws))
    assert out.returncode == 0, out.stdout
    note = f"NOTE {src.fingerprint[:12]}: record has no digest (written by an older version)"
    assert note in out.stdout
    assert "0 corrupt" in out.stdout and "1 with notes" in out.stdout
    assert _tagged(ws)["src"].cache_hit is True
    # Either integrity marker alone (the other one damaged) is corruption, not an old record.
    text = (src.path / "record.json").read_text()
    (src.path / "record.json").write_text(text.replace("{\n", '{\n  "record_format": 2,\n', 1))
    assert "CORRUPT" in _cli("verify", "-w", str(ws)).stdout


def test_a_verified_file_is_hashed_once_per_process(tmp_path, monkeypatch):
    from dreamer_lab.core import store as store_mod
    from dreamer_lab.core.store import CorruptEntryWarning

    ws = tmp_path / "ws"
    src = _tagged(ws)["src"]
    calls: list[str] = []
    real = store_mod._hash_path
    monkeypatch.setattr(store_mod, "_hash_path", lambda p: calls.append(p) or real(p))
    store_mod.forget_digests()
    assert _store(ws).load(src.fingerprint) is not None
    first = len(calls)
    assert first >= 3, "the first load in a process reads every file"
    assert _store(ws).load(src.fingerprint) is not None
    assert len(calls) == first, "an unchanged file is not hashed again"

    # An in-place edit that restores size and mtime is still seen (ctime changed).
    arrow = next((src.path / "data").glob("*.arrow"))
    st = arrow.stat()
    time.sleep(0.05)
    data = bytearray(arrow.read_bytes())
    data[-100] ^= 0xFF
    arrow.write_bytes(bytes(data))
    os.utime(arrow, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.warns(CorruptEntryWarning, match="content digest mismatch"):
        assert _store(ws).load(src.fingerprint) is None


def test_entry_dataset_checks_digests_even_without_load(tmp_path):
    """``load(check_data=False)`` then ``dataset()``: the data is checked before mapping."""
    from dreamer_lab.core.store import CorruptEntryError

    ws = tmp_path / "ws"
    src = _tagged(ws)["src"]
    entry = _store(ws).load(src.fingerprint, check_data=False)
    arrow = next((src.path / "data").glob("*.arrow"))
    time.sleep(0.05)
    data = bytearray(arrow.read_bytes())
    data[len(data) // 2] ^= 0x10
    arrow.write_bytes(bytes(data))
    with pytest.warns(UserWarning), pytest.raises(CorruptEntryError, match="quarantine"):
        entry.dataset()
    assert list((ws / "quarantine").iterdir())


# -- the server route ----------------------------------------------------------------------
TOKEN = "test-token-integrity"


def _get(url: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {"raw": e.read().decode(errors="replace")}


def test_server_step_route_reports_a_corrupt_entry_and_keeps_serving(tmp_path):
    pytest.importorskip("jupyter_server")
    root = tmp_path / "root"
    ws = root / "dreamer_workspace"
    steps = _tagged(ws)
    src, doubled, tagged = steps["src"], steps["doubled"], steps["tagged"]
    # Damage the middle of src's Arrow file (same size) and edit tagged's record.
    arrow = next((src.path / "data").glob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    for k in range(16):
        data[len(data) // 2 + k] ^= 0xA5
    arrow.write_bytes(bytes(data))
    _edit_in_place(tagged.path / "record.json", b'"rows": 300', b'"rows": 999')

    with jupyter_server(root, tmp_path, TOKEN) as (url, proc):
        api = f"{url}/dreamer-lab/api/steps/{{}}?workspace=dreamer_workspace&limit=5"
        for _ in range(3):  # asked again and again: still an answer, never a crash
            status, body = _get(api.format(src.fingerprint))
            assert status == 200 and body["corrupt"] is True and body["sample"]["rows"] == []
            assert "corrupt" in body["sample"]["error"]
            assert "dreamer-lab verify" in body["sample"]["error"]
            assert body["name"] == "src", "the record itself is intact and shown"
        status, body = _get(api.format(tagged.fingerprint))
        assert status == 200 and body["corrupt"] is True and body["rows"] is None
        assert "record.json was edited" in body["sample"]["error"]
        # The card route answers the same entry with a JSON 409 naming the problem.
        status, body = _get(api.replace("?", "/card?").format(tagged.fingerprint))
        assert status == 409 and "corrupt" in body["raw"] and "verify" in body["raw"]
        # The server is alive and serves the healthy entry.
        assert proc.poll() is None
        status, body = _get(api.format(doubled.fingerprint))
        assert status == 200 and body["corrupt"] is False and len(body["sample"]["rows"]) == 5
        status, body = _get(f"{url}/dreamer-lab/api/lineage?workspace=dreamer_workspace")
        assert status == 200 and len(body["nodes"]) == 3
        # Read-only: nothing was quarantined by the server.
        assert src.path.is_dir() and not list((ws / "quarantine").iterdir())
        proc.stderr.close()


if __name__ == "__main__":
    if sys.argv[1] == "build":
        _worker_build(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "check":
        _worker_check(Path(sys.argv[2]))
