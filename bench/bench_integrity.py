"""What checking content digests on load costs: a cache-hit reload of 10k / 1M rows.

A step of N rows (an int column and a short text column) is stored through the public API
(``DataSource``), then reloaded from the store with ``StepStore.load(fp)``, the call every
cache hit makes: read and check record.json, check the files, memory-map the Arrow data
(``datasets.Dataset.load_from_disk``), check the row count. Arms, all in one process, with
the files in the page cache (a cold disk read is not measured), interleaved per repetition:

* baseline: that reload with each file checked by size only (the check before digests);
* digest, first load in the process: the memo of verified files is emptied before each
  repetition, so every byte of every file is read and hashed (xxh3-128) before mapping;
* digest, memo warm: the same file already verified in this process (a stat per file).

The digest cost is (first load - baseline), from the minima (the least disturbed runs) and
from the medians, and as a share of the first load (minima).

Run: ``python bench/bench_integrity.py`` (about half a minute on 2 cores).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROWS = [10_000, 1_000_000]
REPEAT = 21


def _sizes_only(entry: Path, files: dict[str, Any]) -> None:
    """The pre-digest check: each listed file exists with its recorded size."""
    from dreamer_lab.core.store import CorruptEntryError

    for rel, meta in files.items():
        f = entry / rel
        if not f.is_file() or f.stat().st_size != meta["size"]:
            raise CorruptEntryError(f"file {rel} is missing or has the wrong size")


def _time(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(n: int, tmp: Path) -> dict[str, Any]:
    from dreamer_lab import DataDreamer
    from dreamer_lab.core import store as store_mod
    from dreamer_lab.core.store import dir_size
    from dreamer_lab.steps import DataSource

    ws = tmp / f"ws{n}"
    with DataDreamer(ws) as dd:
        src = DataSource("rows", {"id": list(range(n)), "text": [f"row {i}" for i in range(n)]})
        store = dd.workspace.steps
        fp = src.fingerprint
    size = dir_size(store.path(fp) / "data")
    real_check = store_mod.check_files

    def baseline() -> None:
        store_mod.check_files = _sizes_only
        try:
            assert store.load(fp) is not None
        finally:
            store_mod.check_files = real_check

    def first() -> None:
        store_mod.forget_digests()
        assert store.load(fp) is not None

    def warm() -> None:
        assert store.load(fp) is not None

    for fn in (baseline, first, warm):  # page cache and imports warm for every arm
        fn()
    times: dict[str, list[float]] = {"baseline": [], "first": [], "warm": []}
    for _ in range(REPEAT):
        times["baseline"].append(_time(baseline))
        times["first"].append(_time(first))
        times["warm"].append(_time(warm))
    return {"rows": n, "bytes": size, **times}


def _ms(values: list[float]) -> str:
    return f"{min(values) * 1e3:.2f} / {statistics.median(values) * 1e3:.2f}"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench_integrity_") as d:
        os.environ.setdefault("DREAMER_LAB_SIGNING_KEY_FILE", str(Path(d) / "signing.key"))
        results = [bench(n, Path(d)) for n in ROWS]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {REPEAT} repetitions.\n")
    print(
        "| rows | data | reload, sizes only (ms, min / median) | reload + digests, first in "
        "process | reload + digests, memo warm | digest cost (min / median) | share of the "
        "first reload (min) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lo = min(r["first"]) - min(r["baseline"])
        mid = statistics.median(r["first"]) - statistics.median(r["baseline"])
        print(
            f"| {r['rows']:,} | {r['bytes'] / 2**20:.1f} MiB | {_ms(r['baseline'])} | "
            f"{_ms(r['first'])} | {_ms(r['warm'])} | {lo * 1e3:.2f} / {mid * 1e3:.2f} ms | "
            f"{lo / min(r['first']):.0%} |"
        )


if __name__ == "__main__":
    main()
