"""Cache-hit time of a 1M-row entry from an object-storage workspace against a local one.

One entry of N rows (an int column and a short text column, about 21 MiB of Arrow for 1M
rows) is stored through the public API (``DataSource``) in a local workspace and in an
object-storage workspace on a local S3-compatible server (moto in server mode, the one the
tests use: ``tests/s3_server.py``). Then the call every cache hit makes,
``ws.steps.load(fp)``, is timed in one process, the arms interleaved per repetition:

* local workspace: the entry in a local folder (first load in the process: every byte
  hashed before Arrow maps it; files in the page cache);
* object store, warm local cache: the same entry already in this machine's read cache
  (the same checks as local, plus nothing remote: the cache knows the entry is published);
* object store, cold local cache: a new, empty cache folder each repetition: record.json
  downloaded and checked, every file downloaded and checked, renamed into the cache, then
  loaded as above. Opening the workspace (marker check, syncing the lineage from the
  records) is timed apart.

moto keeps objects in memory and runs on the same machine, so the cold arm measures the
client's work and the loopback, not a real bucket's latency or bandwidth (add one request
round trip per file and the transfer time at your bucket's throughput).

Run: ``python bench/bench_object_store.py [--rows 1000000] [--reps 5]``; prints a Markdown
table of min / median.

``--compact N`` measures request-cache compaction instead (``dreamer-lab compact``,
core/remote_compact.py): N small request batches (10 requests of about 300 bytes each, the
size of a short LLM answer with its usage) uploaded as N objects, as N committed batches
leave them. Compaction is timed on ``min(reps, 3)`` copies. Then, interleaved per
repetition on one prefix left as N batches and one compacted: a fresh machine's workspace
open and first pull (list, download, check, merge; what ``attach_request_cache`` does), an
up-to-date machine's pull right after the compaction (the compacted object's manifest names
only batches it merged: marked, not downloaded) against the same pull when the manifest is
missing (the whole object downloaded and merged), and an up-to-date machine's pull with
nothing new (the listing every open and every 2 s of lookups costs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def columns(n: int) -> dict[str, list]:
    return {"id": list(range(n)), "text": [f"synthetic row number {i}" for i in range(n)]}


def fmt(values: list[float]) -> str:
    lo, med = min(values), statistics.median(values)
    if med < 1:
        return f"{lo * 1000:.0f} ms | {med * 1000:.0f} ms"
    return f"{lo:.2f} s | {med:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--compact", type=int, metavar="N", help="time compaction of N batches")
    args = ap.parse_args()
    if args.compact:
        bench_compaction(args.compact, args.reps)
        return

    from s3_server import S3Server

    with S3Server() as s3, tempfile.TemporaryDirectory(prefix="bench_os_") as tmp:
        os.environ.update(s3.env)
        os.environ["DREAMER_LAB_SIGNING_KEY_FILE"] = str(Path(tmp) / "signing.key")
        from dreamer_lab import DataDreamer
        from dreamer_lab.core.remote_workspace import RemoteWorkspace
        from dreamer_lab.core.store import dir_size, forget_digests
        from dreamer_lab.core.workspace import Workspace
        from dreamer_lab.steps import DataSource

        url = s3.bucket("bench") + "/ws"
        cols = columns(args.rows)
        with DataDreamer(Path(tmp) / "local"):
            fp = DataSource("rows", cols).fingerprint
        t = time.perf_counter()
        with DataDreamer(url, cache_dir=Path(tmp) / "warm"):
            assert DataSource("rows", cols).fingerprint == fp
        first_commit = time.perf_counter() - t
        size = dir_size(Path(tmp) / "local" / "steps" / fp)

        local = Workspace(Path(tmp) / "local")
        warm = RemoteWorkspace(url, cache_dir=Path(tmp) / "warm")
        times: dict[str, list[float]] = {}

        def timed(arm: str, fn) -> None:
            forget_digests()  # first load in a process: every byte is read and hashed
            t0 = time.perf_counter()
            entry = fn()
            times.setdefault(arm, []).append(time.perf_counter() - t0)
            assert entry is not None and entry.dataset().num_rows == args.rows, arm

        for rep in range(args.reps):
            cold_dir = Path(tmp) / f"cold{rep}"
            arms = [
                ("local workspace", lambda: local.steps.load(fp)),
                ("object store, warm local cache", lambda: warm.steps.load(fp)),
            ]

            def cold(cold_dir: Path = cold_dir):
                t0 = time.perf_counter()
                ws = RemoteWorkspace(url, cache_dir=cold_dir)
                times.setdefault("open workspace, cold cache", []).append(time.perf_counter() - t0)
                return ws

            ws_cold = cold()
            arms.append(("object store, cold local cache", lambda ws=ws_cold: ws.steps.load(fp)))
            if rep % 2:
                arms.reverse()
            for arm, fn in arms:
                timed(arm, fn)
            shutil.rmtree(cold_dir, ignore_errors=True)

        order = [
            "local workspace",
            "object store, warm local cache",
            "object store, cold local cache",
            "open workspace, cold cache",
        ]
        print(
            f"\nCache hit of one {args.rows:,}-row entry ({size / 2**20:.1f} MiB on disk), "
            f"{args.reps} repetitions interleaved; the first commit to the object store "
            f"(local commit + upload) took {first_commit:.2f} s.\n"
        )
        print("| arm | min | median |\n|---|---:|---:|")
        for arm in order:
            print(f"| {arm} | {fmt(times[arm])} |")


def _batches(n: int) -> list[tuple[str, bytes]]:
    """``n`` request batches (name, bytes) of 10 requests each, as machines upload them."""
    import random

    from dreamer_lab.core.remote_requests import encode_batch

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(2000)]
    out = []
    for _ in range(n):
        items = {
            f"{rng.getrandbits(128):032x}": {
                "text": " ".join(rng.choices(words, k=40)),
                "usage": {"prompt_tokens": 31, "completion_tokens": 48},
            }
            for _r in range(10)
        }
        out.append(encode_batch(items))
    return out


def _attach(url: str, cache: Path, seed: Path | None = None) -> tuple[float, float, object]:
    """Open the workspace at ``url`` with cache ``cache`` (its request cache copied from
    ``seed``), then attach the request cache: (open seconds, attach seconds, the cache)."""
    import sqlite3

    from dreamer_lab.core.remote_workspace import RemoteWorkspace
    from dreamer_lab.core.request_cache import RequestCache

    t0 = time.perf_counter()
    ws = RemoteWorkspace(url, cache_dir=cache)
    t1 = time.perf_counter()
    db = cache / "requests" / "bench.sqlite"
    if seed is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(seed) as src, sqlite3.connect(db) as dst:
            src.backup(dst)
    rc = RequestCache(db)
    t2 = time.perf_counter()
    ws.attach_request_cache(rc, "bench")
    return t1 - t0, time.perf_counter() - t2, rc


def bench_compaction(n: int, reps: int) -> None:
    from s3_server import S3Server

    with S3Server() as s3, tempfile.TemporaryDirectory(prefix="bench_compact_") as tmp:
        os.environ.update(s3.env)
        from dreamer_lab.core.object_store import ObjectStore
        from dreamer_lab.core.remote_compact import compact_requests
        from dreamer_lab.core.remote_requests import manifest_key

        base = s3.bucket("bench-compact")
        batches = _batches(n)
        total = 10 * n
        size = sum(len(d) for _, d in batches)

        def fill(url: str) -> ObjectStore:
            store = ObjectStore(url)
            store.put_new(".dreamer_lab", b"dreamer_lab workspace v1\n")
            store.fs.pipe({store.path(f"requests/bench/{k}"): d for k, d in batches})
            return store

        fill(f"{base}/raw")
        compact_s = []
        for j in range(min(reps, 3)):
            store = fill(f"{base}/c{j}")
            t0 = time.perf_counter()
            (r,) = compact_requests(store)
            compact_s.append(time.perf_counter() - t0)
            assert r.merged == n and r.requests == total and r.written, r
            if j == 0:
                after = r.bytes_after
            else:  # the copy without a manifest (a compaction by an older client)
                store.delete(manifest_key(r.written))
        raw, packed, bare = f"{base}/raw", f"{base}/c0", f"{base}/c1"
        # An up-to-date machine: every batch merged before the compaction.
        seed_dir = Path(tmp) / "seed"
        _, _, rc = _attach(raw, seed_dir)
        assert len(rc) == total
        seed = seed_dir / "requests" / "bench.sqlite"

        times: dict[str, list[float]] = {}

        def add(arm: str, value: float) -> None:
            times.setdefault(arm, []).append(value)

        for rep in range(reps):
            arms = []
            for label, url in ((f"{n} batches", raw), ("compacted", packed)):

                def fresh(label=label, url=url, rep=rep) -> None:
                    opened, pulled, rc = _attach(url, Path(tmp) / f"fresh-{label[:3]}-{rep}")
                    assert len(rc) == total, (label, len(rc))
                    add(f"fresh machine: open workspace, {label}", opened)
                    add(f"fresh machine: first pull, {label}", pulled)

                def warm(label=label, url=url, rep=rep) -> None:
                    cache = Path(tmp) / f"warm-{label[:3]}-{rep}"
                    _attach(url, cache, seed)  # after this, everything is merged
                    add(f"up-to-date machine: pull, nothing new, {label}", _attach(url, cache)[1])

                arms += [fresh, warm]
            for label, url in (("manifest", packed), ("no manifest", bare)):

                def catch_up(label=label, url=url, rep=rep) -> None:
                    _, pulled, rc = _attach(url, Path(tmp) / f"up-{label[:3]}-{rep}", seed)
                    assert len(rc) == total
                    add(f"up-to-date machine: first pull after compaction, {label}", pulled)

                arms.append(catch_up)
            for fn in arms if rep % 2 == 0 else arms[::-1]:
                fn()
        print(
            f"\n{n} request batches of 10 requests ({total:,} requests, {size / 2**20:.2f} MiB "
            f"gzipped) compacted into one object of {after / 2**20:.2f} MiB; {reps} repetitions, "
            "arms interleaved.\n"
        )
        print("| arm | min | median |\n|---|---:|---:|")
        print(f"| compaction ({len(compact_s)} copies) | {fmt(compact_s)} |")
        for arm in sorted(times):
            print(f"| {arm} | {fmt(times[arm])} |")


if __name__ == "__main__":
    main()
