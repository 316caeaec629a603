"""Core engine benchmarks: hashing, cache-hit reloads, ``map`` overhead.

Each number is compared with a baseline measured in the same run:

* fingerprinting a 1M-row dict as ``DataSource`` does (to Arrow + hash) vs
  ``datasets.Dataset.from_dict`` and ``joblib.hash`` of the same dict;
* reloading a cached step of 10k / 1M rows in a whole new process vs
  ``datasets.load_from_disk`` of the same files in a whole new process;
* ``step.map`` (fingerprint + map + atomic commit) vs plain ``datasets.Dataset.map`` writing
  its cache file, and both again from their caches.

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
    """Fingerprint a 1M-row dict of lists the way ``DataSource`` does, and baselines.

    Every arm starts from the same Python dict and ends with a content fingerprint:

    * ours: ``to_dataset`` (dict -> Arrow -> ``datasets.Dataset``: the conversion
      ``DataSource`` performs, which includes datasets' own fingerprint of the table)
      + ``hash_value`` of the Arrow table;
    * ``datasets.Dataset.from_dict`` (the same conversion + datasets' fingerprint);
    * ``joblib.hash`` of the dict (no conversion; pickles every value).

    The hash alone (the Arrow table already built) is reported in the comparison column.
    """
    import datasets
    import joblib

    from dreamer_lab.core.fingerprint import hash_value
    from dreamer_lab.steps.normalize import to_dataset

    cols = make_columns(1_000_000)

    def ours() -> str:
        return hash_value(to_dataset(cols, None, "bench").data.table)

    arrow = to_dataset(cols, None, "bench").data.table
    hash_only = timed(lambda: hash_value(arrow))
    full = timed(ours, repeat=1)
    from_dict = timed(lambda: datasets.Dataset.from_dict(cols)._fingerprint, repeat=1)
    base = timed(lambda: joblib.hash(cols), repeat=1)
    size_mb = arrow.nbytes / 1e6
    table.append(
        (
            f"fingerprint a 1M-row dict ({size_mb:.0f} MB): to Arrow + hash",
            f"{full * 1000:.0f} ms",
            f"hashing the Arrow table alone: {hash_only * 1000:.1f} ms "
            f"({size_mb / hash_only / 1000:.1f} GB/s)",
        )
    )
    table.append(
        (
            "  datasets.Dataset.from_dict (+ its fingerprint)",
            f"{from_dict * 1000:.0f} ms",
            f"ours takes {full / from_dict:.2f}x its time",
        )
    )
    table.append(
        (
            "  joblib.hash of the same dict",
            f"{base * 1000:.0f} ms",
            f"ours is {base / full:.1f}x faster",
        )
    )


RELOAD_OURS = textwrap.dedent(
    """
    import sys
    from dreamer_lab.core.workspace import Workspace
    ds = Workspace(sys.argv[1]).steps.load(sys.argv[2]).dataset()
    print(ds.num_rows, ds[ds.num_rows - 1]["id"])
    """
)
RELOAD_PLAIN = textwrap.dedent(
    """
    import sys
    import datasets
    ds = datasets.load_from_disk(sys.argv[1])
    print(ds.num_rows, ds[ds.num_rows - 1]["id"])
    """
)


def _process_seconds(code: str, *args: str, repeat: int = 3) -> tuple[float, str]:
    """Best wall time of a whole new Python process (start-up and imports included)."""
    best, out = float("inf"), ""
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        ).stdout
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_reload(table: list, tmp: Path) -> None:
    """A cached step reloaded in a new process, against ``datasets.load_from_disk``.

    Both arms are whole processes (interpreter start-up, imports, open, read the last row),
    best of 3, on the same Arrow files. Ours also opens the workspace, reads and checks
    the entry's record, and checks the files' digests.
    """
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
        data_dir = ws / "steps" / src.fingerprint / "data"
        plain_s, plain_out = _process_seconds(RELOAD_PLAIN, str(data_dir))
        ours_s, ours_out = _process_seconds(RELOAD_OURS, str(ws), src.fingerprint)
        assert ours_out == plain_out == f"{n} {n - 1}\n", (ours_out, plain_out)
        table.append((f"first run, {n:,} rows (hash+store)", f"{first * 1000:.0f} ms", ""))
        table.append(
            (
                f"cache-hit reload, {n:,} rows, whole new process",
                f"{ours_s * 1000:.0f} ms",
                f"datasets.load_from_disk, whole process: {plain_s * 1000:.0f} ms "
                f"({ours_s / plain_s:.2f}x)",
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
    """``step.map`` against ``datasets.Dataset.map`` on a saved dataset, miss and hit.

    Both arms start from the same rows on disk and write the mapped result to disk
    (datasets: its cache file; ours: the content-addressed entry). The hit arm of
    datasets is the same ``map`` call again, answered from its cache file.
    """
    import datasets

    from dreamer_lab import DataDreamer
    from dreamer_lab.steps import DataSource

    n = 200_000
    cols = make_columns(n)

    def add_len(row):
        return {"len": len(row["text"])}

    datasets.disable_progress_bars()
    datasets.Dataset.from_dict(cols).save_to_disk(str(tmp / "plain"))
    plain = datasets.load_from_disk(str(tmp / "plain"))
    t = time.perf_counter()
    plain.map(add_len)
    base = time.perf_counter() - t
    t = time.perf_counter()
    plain.map(add_len)
    base_hit = time.perf_counter() - t
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
        (
            f"step.map, {n:,} rows (miss: map + store)",
            f"{ours * 1000:.0f} ms",
            f"datasets.map writing its cache file: {base * 1000:.0f} ms ({ours / base:.2f}x)",
        )
    )
    table.append(
        (
            f"step.map, {n:,} rows (cache hit)",
            f"{hit_s * 1000:.0f} ms",
            f"datasets.map from its cache file: {base_hit * 1000:.0f} ms ({hit_s / base_hit:.2f}x)",
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
