"""Core engine benchmarks: hashing, cache-hit reloads, ``map`` overhead.

Each number is compared with a baseline measured in the same run:

* hashing a 1M-row in-memory source (Arrow buffers) vs ``joblib.hash`` of the same data;
* reloading a cached step of 10k / 1M rows in a new process vs the step's first run;
* ``step.map`` (fingerprint + map + atomic commit) vs plain ``datasets.Dataset.map``.

Run: ``python bench/bench_core.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROWS = [10_000, 1_000_000]


def make_columns(n: int) -> dict[str, list]:
    return {"id": list(range(n)), "text": [f"synthetic row number {i}" for i in range(n)]}


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_hashing(table: list) -> None:
    import joblib
    import pyarrow as pa

    from dreamer_lab.core.fingerprint import hash_value

    cols = make_columns(1_000_000)
    arrow = pa.table(cols)
    ours = timed(lambda: hash_value(arrow))
    convert = timed(lambda: pa.table(cols), repeat=1)
    base = timed(lambda: joblib.hash(cols), repeat=1)
    size_mb = arrow.nbytes / 1e6
    table.append(
        (
            "hash 1M rows (Arrow buffers)",
            f"{ours * 1000:.1f} ms",
            f"{size_mb / ours / 1000:.2f} GB/s",
        )
    )
    table.append(
        ("  + dict->Arrow conversion", f"{convert * 1000:.1f} ms", "done once, needed to store")
    )
    table.append(
        (
            "  joblib.hash of the same dict",
            f"{base * 1000:.1f} ms",
            f"ours is {base / ours:.0f}x faster",
        )
    )


RELOAD = textwrap.dedent(
    """
    import sys, time
    t0 = time.perf_counter()
    import datasets  # import cost reported separately
    t1 = time.perf_counter()
    from dreamer_lab import DataDreamer
    from dreamer_lab.core.workspace import Workspace
    ws = Workspace(sys.argv[1])
    t2 = time.perf_counter()
    entry = ws.steps.load(sys.argv[2])
    ds = entry.dataset()
    n = ds.num_rows
    last = ds[n - 1]
    t3 = time.perf_counter()
    print(t1 - t0, t3 - t2, n)
    """
)


def bench_reload(table: list, tmp: Path) -> None:
    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    for n in ROWS:
        ws = tmp / f"ws{n}"
        cols = make_columns(n)
        with DataDreamer(ws):
            t = time.perf_counter()
            src = DataSource(f"src{n}", cols)
            first = time.perf_counter() - t
            t = time.perf_counter()
            again = DataSource(f"src{n}", cols)
            hit_same_proc = time.perf_counter() - t
            assert again.cache_hit
        out = subprocess.run(
            [sys.executable, "-c", RELOAD, str(ws), src.fingerprint],
            capture_output=True,
            text=True,
            check=True,
        )
        import_s, load_s, rows = out.stdout.split()
        table.append((f"first run, {n:,} rows (hash+store)", f"{first * 1000:.0f} ms", ""))
        table.append(
            (
                f"cache-hit reload, {n:,} rows, new process",
                f"{float(load_s) * 1000:.1f} ms",
                f"{first / float(load_s):.0f}x faster than first run; `import datasets` {float(import_s):.2f} s",
            )
        )
        table.append(
            (
                f"cache-hit DataSource(), {n:,} rows, same process",
                f"{hit_same_proc * 1000:.0f} ms",
                "includes hashing the in-memory input",
            )
        )


def bench_map(table: list, tmp: Path) -> None:
    import datasets

    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    n = 200_000
    cols = make_columns(n)

    def add_len(row):
        return {"len": len(row["text"])}

    plain = datasets.Dataset.from_dict(cols)
    datasets.disable_progress_bars()
    base = timed(lambda: plain.map(add_len, keep_in_memory=True, new_fingerprint="x"), repeat=1)
    with DataDreamer(tmp / "map_ws"):
        src = DataSource("src", cols)
        t = time.perf_counter()
        mapped = src.map(add_len)
        ours = time.perf_counter() - t
        t = time.perf_counter()
        hit = src.map(add_len)
        hit_s = time.perf_counter() - t
        assert hit.cache_hit and len(mapped.output) == n
    table.append(
        (f"datasets.map, {n:,} rows", f"{base * 1000:.0f} ms", f"{base / n * 1e6:.2f} us/row")
    )
    table.append(
        (
            f"step.map, {n:,} rows (miss: map+store)",
            f"{ours * 1000:.0f} ms",
            f"{ours / n * 1e6:.2f} us/row, overhead {(ours - base) / n * 1e6:+.2f} us/row ({ours / base:.2f}x)",
        )
    )
    table.append(
        (
            f"step.map, {n:,} rows (cache hit)",
            f"{hit_s * 1000:.0f} ms",
            f"{base / hit_s:.0f}x faster than datasets.map",
        )
    )


def main() -> None:
    import logging

    logging.disable(logging.INFO)
    table: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as d:
        bench_hashing(table)
        bench_reload(table, Path(d))
        bench_map(table, Path(d))
    w = max(len(r[0]) for r in table)
    print(f"{'measurement':<{w}}  {'time':>10}  comparison")
    print("-" * (w + 40))
    for name, t, note in table:
        print(f"{name:<{w}}  {t:>10}  {note}")


if __name__ == "__main__":
    main()
