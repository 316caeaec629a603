"""Lazy vs materialized step chains: time and peak memory over 1M rows.

Both arms run the same chain in a fresh process and a fresh workspace:

* lazy: a step whose ``run()`` returns ``LazyRows(generator_function)`` -> ``map(lazy=True)``
  -> ``filter(lazy=True)``, then every row is read once and ``take(10, lazy=True)`` once;
* materialized: the same step returning the generator (read into a stored Arrow entry)
  -> ``map`` -> ``filter`` (each stored), then every row is read once and ``take(10)``.

Reported: wall time of the chain, the process's peak RSS (``ru_maxrss``) and the peak above
the floor both arms share (RSS after imports, including the torch import that datasets
makes for its first ``IterableDataset``). Arms are interleaved, each repeated; min and
median are shown.

Run: ``python bench/bench_lazy.py [rows] [repeats]`` (default 1,000,000 rows, 3 repeats;
several minutes on 2 cores).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    os.environ["DREAMER_LAB_WORKSPACE"] = sys.argv[3]
    import datasets
    datasets.disable_progress_bars()
    from dreamer_lab.steps import LazyRows, Step

    ROWS, ARM = int(sys.argv[1]), sys.argv[2]

    def kb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def rows():
        for i in range(ROWS):
            yield {"id": i, "text": f"synthetic row number {i}"}

    class Source(Step):
        def setup(self):
            self.register_output("id")
            self.register_output("text")

        def run(self):
            if ARM == "lazy":
                return LazyRows(rows, total_num_rows=ROWS)
            return rows()

    # Both arms pay the same fixed imports first: datasets imports torch with the first
    # IterableDataset (it subclasses torch's when torch is installed), ~200 MB.
    list(datasets.Dataset.from_dict({"x": [1]}).to_iterable_dataset())
    floor = kb()
    lazy = ARM == "lazy"
    t = time.perf_counter()
    src = Source("source")
    kw = {"lazy": True, "auto_progress": False} if lazy else {}
    chain = src.map(lambda r: {"n": len(r["text"])}, **kw).filter(lambda r: r["id"] % 3 == 0, **kw)
    kept = sum(1 for _ in chain.output)
    head = chain.take(10, lazy=True) if lazy else chain.take(10)
    assert [r["id"] for r in head.output] == list(range(0, 30, 3))
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_mb": kb() / 1024, "floor_mb": floor / 1024,
                      "kept": kept}))
    """
)


def run_arm(arm: str, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench_lazy-") as ws:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(rows), arm, ws],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    arms = ("lazy", "materialized")
    results: dict[str, list[dict[str, float]]] = {a: [] for a in arms}
    for _ in range(repeats):
        for arm in arms:  # interleaved, so drift on a shared machine hits both arms alike
            results[arm].append(run_arm(arm, rows))
    print(f"\n{rows:,} rows: source -> map -> filter (id % 3 == 0) -> read all + take(10)")
    print(
        f"{'arm':<14}{'time min':>10}{'time med':>10}{'peak RSS min':>14}{'peak RSS med':>14}"
        f"{'above floor (med)':>19}"
    )
    for arm in arms:
        runs = results[arm]
        secs = [r["seconds"] for r in runs]
        peaks = [r["peak_mb"] for r in runs]
        above = [r["peak_mb"] - r["floor_mb"] for r in runs]
        print(
            f"{arm:<14}{min(secs):>9.1f}s{statistics.median(secs):>9.1f}s"
            f"{min(peaks):>11.0f} MB{statistics.median(peaks):>11.0f} MB"
            f"{statistics.median(above):>16.0f} MB"
        )
    floors = [r["floor_mb"] for arm in arms for r in results[arm]]
    print(f"RSS after imports (both arms): {min(floors):.0f}-{max(floors):.0f} MB")
    kept = {r["kept"] for arm in arms for r in results[arm]}
    assert len(kept) == 1, f"the arms kept different row counts: {kept}"
    print(f"rows kept by the filter: {kept.pop():,} (same in both arms)")


if __name__ == "__main__":
    main()
