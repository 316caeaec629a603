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
    args = ap.parse_args()

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


if __name__ == "__main__":
    main()
