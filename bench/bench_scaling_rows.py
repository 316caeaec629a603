"""Cache-hit time and peak memory (RSS) against row count: 10k, 100k, 1M and 10M rows.

The workload is ``bench/compare.py``'s (``bench/arms.py rows``): an N-row in-memory dict (an
int id and a ~28-character text per row) as a ``DataSource``, then a batched ``map``
(uppercase the text, batches of 1,000) stored. Each measurement is a process of its own, and
the arms take turns in every repetition:

* **ours, first run**: a new workspace; the cell's time and the process's peak RSS;
* **ours, cache hit**: a new process runs the same cell on that workspace (the session opens,
  the input is checked, both steps are answered from the store); then, in the same process,
  the floor of any input check: the same dict to Arrow, the table hashed;
* **plain, first run**: ``datasets.Dataset.from_dict().map().save_to_disk()``;
* **plain, cache hit**: ``datasets.load_from_disk`` of that saved result, with no check that
  the input is the same (what a script without a cache layer does).

Every process first builds the N-row dict (the cell's input): its time and the RSS it takes
are shown apart, so that what each library adds on top is visible.

The table says, for each curve, the log-log slope from the previous size: 1 is linear, 0 is
a fixed cost. Plots go to ``docs/images/scaling_rows.png``.

Run: ``python bench/bench_scaling_rows.py [--sizes 10000,100000,1000000,10000000]
[--reps 3] [--big-reps 1]`` (10M rows: a peak of ~3.3 GB RSS in one process on the
development machine; a size is skipped, with a message, when ~800 bytes of RAM and ~300
bytes of disk per row are not free).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scaling_common import (  # noqa: E402
    FLOOR,
    IMAGES,
    OURS,
    PLAIN,
    REPO,
    linear_guide,
    load_note,
    markdown,
    med,
    pair,
    plain_y,
    pyplot,
    save,
    seconds,
    short,
    slopes,
    ticks,
    waited,
)

ARMS = ("ours", "plain")
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
# Bytes a row may need at the peak (measured: ~330 B of RSS a row at 10M rows in the largest
# process), with room to spare; a size is skipped when they are not free.
RAM_PER_ROW, DISK_PER_ROW = 800, 300


def cpu() -> float:
    """CPU seconds (user + system) this process has used."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def rss_mb() -> float:
    """The process's resident memory now (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- one measurement, in its own process ----------------------------------------------------
def child(arm: str, phase: str, ws: str, n: int) -> dict[str, Any]:
    from arms import columns, floor_seconds, peak_mb, rows_ours, rows_plain

    t = time.perf_counter()
    import datasets  # noqa: F401 - both arms' libraries, imported before the cell is timed
    import pyarrow  # noqa: F401

    if arm == "ours":
        import dreamer_lab.steps  # noqa: F401
    out: dict[str, Any] = {"imports": time.perf_counter() - t, "base_mb": rss_mb()}
    t = time.perf_counter()
    cols = columns(n)
    out |= {"build": time.perf_counter() - t, "input_mb": rss_mb()}
    run = rows_ours if arm == "ours" else rows_plain
    w, c, t = waited(), cpu(), time.perf_counter()
    assert run(Path(ws), cols) == n
    out["cell"] = time.perf_counter() - t
    out["cell_cpu"] = cpu() - c  # less sensitive than wall time to other processes' load
    out["cell_waited"] = waited() - w  # runnable, but no core free
    out["peak_mb"] = peak_mb()  # before the floor below, which is not the cell's work
    if arm == "ours" and phase == "hit":
        out["floor"] = floor_seconds(cols)
    return out


def run_child(arm: str, phase: str, ws: Path, n: int) -> tuple[float, dict[str, Any]]:
    """Whole-process wall seconds and the child's own measurements."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", arm, phase, str(ws), str(n)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    wall = time.perf_counter() - t
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CHILD ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{arm} {phase} {n:,} rows failed:\n{proc.stderr[-3000:]}")
    res = json.loads(line.removeprefix("CHILD "))
    res["wall"] = wall
    print(f"  {n:>10,} {arm:<5} {phase:<5} wall {wall:7.2f} s  {res}", file=sys.stderr)
    return wall, res


def fits(n: int, tmp: Path) -> str | None:
    """Why ``n`` rows do not fit in the free memory or disk now, or None."""
    with open("/proc/meminfo") as f:
        info = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f}
    need_ram, need_disk = n * RAM_PER_ROW, n * DISK_PER_ROW
    if info["MemAvailable"] < need_ram:
        return f"needs ~{need_ram / 2**30:.1f} GiB of RAM, {info['MemAvailable'] / 2**30:.1f} free"
    free = shutil.disk_usage(tmp).free
    if free < need_disk:
        return f"needs ~{need_disk / 2**30:.1f} GiB of disk in {tmp}, {free / 2**30:.1f} free"
    return None


# -- the whole bench -----------------------------------------------------------------------
def measure(sizes: list[int], reps: int, big_reps: int, tmp: Path) -> dict[int, dict]:
    """Every size in every repetition (sizes above 1M only in the first ``big_reps``), the
    arms in turn, so that load from other processes spreads over all of them."""
    results: dict[int, dict[str, list[float]]] = {}
    for n in sizes:
        why = fits(n, tmp)
        if why:
            print(f"{n:,} rows skipped: {why}")
        else:
            results[n] = {}
    for rep in range(max(reps, big_reps)):
        for n, got in results.items():
            if rep >= (reps if n <= 1_000_000 else big_reps):
                continue
            order = ARMS if rep % 2 == 0 else ARMS[::-1]
            for arm in order:
                ws = tmp / f"{arm}-{n}-{rep}"
                try:
                    _, first = run_child(arm, "first", ws, n)
                    _, hit = run_child(arm, "hit", ws, n)
                finally:
                    shutil.rmtree(ws, ignore_errors=True)
                for key, value in (
                    ("first cell", first["cell"]),
                    ("first peak", first["peak_mb"]),
                    ("hit cell", hit["cell"]),
                    ("hit waited", hit["cell_waited"]),
                    ("hit cpu", hit["cell_cpu"]),
                    ("hit wall", hit["wall"]),
                    ("hit peak", hit["peak_mb"]),
                    ("input", hit["input_mb"]),
                    ("dict", hit["input_mb"] - hit["base_mb"]),
                    ("base", hit["base_mb"]),
                    ("imports", hit["imports"]),
                    ("build", hit["build"]),
                ):
                    got.setdefault(f"{arm} {key}", []).append(value)
                if "floor" in hit:
                    got.setdefault("floor", []).append(hit["floor"])
    return results


def report(results: dict[int, dict[str, list[float]]]) -> str:
    sizes = sorted(results)
    r = results

    def lo(n: int, key: str) -> float:
        return min(values(r[n], key))

    time_rows = []
    s_ours = slopes(sizes, [lo(n, "ours hit cell") for n in sizes])
    s_plain = slopes(sizes, [lo(n, "plain hit cell") for n in sizes])
    s_floor = slopes(sizes, [lo(n, "floor") for n in sizes])
    for i, n in enumerate(sizes):
        floor_total = lo(n, "floor") + lo(n, "plain hit cell")
        time_rows.append(
            [
                f"{n:,}",
                pair(lo(n, "ours hit cell"), med(r[n]["ours hit cell"])),
                pair(lo(n, "plain hit cell"), med(r[n]["plain hit cell"])),
                pair(lo(n, "floor"), med(r[n]["floor"])),
                f"{lo(n, 'ours hit cell') / floor_total:.2f}×",
                pair(lo(n, "ours hit wall"), med(r[n]["ours hit wall"])),
                pair(lo(n, "plain hit wall"), med(r[n]["plain hit wall"])),
                pair(lo(n, "build"), med(values(r[n], "build"))),
                f"{seconds(lo(n, 'ours imports'))} / {seconds(lo(n, 'plain imports'))}",
                f"{s_ours[i]} / {s_plain[i]} / {s_floor[i]}",
                f"{seconds(lo(n, 'ours hit cpu'))} / {seconds(lo(n, 'plain hit cpu'))}",
                waiting(r[n]),
            ]
        )
    mem_rows = []

    def over(n: int, arm: str) -> float:  # the peak over the imports and the input dict
        return lo(n, f"{arm} hit peak") - lo(n, f"{arm} input")

    s_mem = slopes(sizes, [over(n, "ours") for n in sizes])
    for i, n in enumerate(sizes):
        mem_rows.append(
            [
                f"{n:,}",
                f"{lo(n, 'ours base'):,.0f} / {lo(n, 'plain base'):,.0f}",
                f"{lo(n, 'dict'):,.0f}",
                f"{lo(n, 'ours first peak'):,.0f}",
                f"{lo(n, 'plain first peak'):,.0f}",
                f"{lo(n, 'ours hit peak'):,.0f}",
                f"{lo(n, 'plain hit peak'):,.0f}",
                f"{over(n, 'ours'):,.0f}",
                f"{over(n, 'plain'):,.0f}",
                s_mem[i],
            ]
        )
    reps = ", ".join(f"{n:,}: {len(r[n]['ours hit cell'])}" for n in sizes)
    return (
        "### Cache hit against rows (min / median; repetitions per size: "
        + reps
        + ")\n\n"
        + markdown(
            [
                "rows",
                "dreamer_lab cache hit (cell)",
                "plain `load_from_disk` (no input check)",
                "floor of an input check: dict to Arrow + hash",
                "ours ÷ (load + hash)",
                "dreamer_lab, whole process",
                "plain, whole process",
                "building the input dict (in both)",
                "imports before the cell: ours / plain",
                "slope: ours / load / hash",
                "CPU time of the hit: ours / plain load",
                "ours cell: waiting for a core (median)",
            ],
            time_rows,
        )
        + "\n\n### Peak RSS against rows (MB, min over repetitions)\n\n"
        + markdown(
            [
                "rows",
                "after imports: ours / plain",
                "the input dict adds",
                "dreamer_lab first run",
                "plain first run",
                "dreamer_lab cache hit",
                "plain cache hit",
                "ours hit over imports + dict",
                "plain hit over imports + dict",
                "slope of ours hit over imports + dict",
            ],
            mem_rows,
        )
        + "\n"
    )


def waiting(got: dict[str, list[float]]) -> str:
    """The median share of the cache-hit cell that was spent runnable without a core."""
    if "ours hit waited" not in got:
        return "–"
    pairs = zip(got["ours hit waited"], got["ours hit cell"], strict=True)
    return f"{med([w / c for w, c in pairs]):.0%}"


def values(got: dict[str, list[float]], key: str) -> list[float]:
    """The measurements of ``key``; the input's (the same work in both arms) from both."""
    if key in ("build", "dict"):
        return got["ours " + key] + got["plain " + key]
    return got[key]


def plot(results: dict[int, dict[str, list[float]]], out_dir: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    sizes = sorted(results)

    def curve(key: str) -> list[float]:
        return [min(values(results[n], key)) for n in sizes]

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    ours = curve("ours hit cell")
    a.plot(sizes, ours, "o-", color=OURS, label="dreamer_lab cache hit (cell)")
    a.plot(sizes, curve("plain hit cell"), "s-", color=PLAIN,
           label="plain load_from_disk (no input check)")  # fmt: skip
    a.plot(sizes, curve("floor"), "^-", color=FLOOR, label="input-check floor: dict → Arrow + hash")
    a.plot(sizes, curve("ours hit wall"), "o--", color=OURS, alpha=0.45,
           label="dreamer_lab, whole process")  # fmt: skip
    a.plot(sizes, curve("plain hit wall"), "s--", color=PLAIN, alpha=0.45,
           label="plain, whole process")  # fmt: skip
    # Slope 1 through the largest size measured with all repetitions (1M by default).
    k = max(i for i, n in enumerate(sizes) if n <= 1_000_000 or i == 0)
    linear_guide(a, sizes, sizes[k], ours[k], f"slope 1 (linear) through {short(sizes[k])}")
    a.set(xscale="log", yscale="log", xlabel="rows", ylabel="seconds (min)")
    ticks(a, sizes)
    plain_y(a)
    a.set_title("Cache hit time (new process)")
    a.legend(fontsize=8)
    b.plot(
        sizes, curve("ours input"), ":", color="k", label="imports + input dict, before the cell"
    )
    b.plot(sizes, curve("ours first peak"), "o-", color=OURS, label="dreamer_lab first run")
    b.plot(sizes, curve("plain first peak"), "s-", color=PLAIN, label="plain first run")
    b.plot(sizes, curve("ours hit peak"), "o--", color=OURS, label="dreamer_lab cache hit")
    b.plot(sizes, curve("plain hit peak"), "s--", color=PLAIN, label="plain cache hit")
    b.set(xscale="log", yscale="log", xlabel="rows", ylabel="peak RSS (MB)")
    ticks(b, sizes)
    plain_y(b)
    b.set_title("Peak memory (RSS)")
    b.legend(fontsize=8)
    save(fig, "scaling_rows.png", out_dir)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--reps", type=int, default=3, help="repetitions up to 1M rows")
    ap.add_argument("--big-reps", type=int, default=1, help="repetitions above 1M rows")
    ap.add_argument("--plot-dir", type=Path, default=IMAGES)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--replot", type=Path, help="report and plot a --json file, measure nothing")
    ap.add_argument("--child", nargs=4, metavar=("ARM", "PHASE", "WS", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import logging

        logging.disable(logging.WARNING)
        arm, phase, ws, n = args.child
        print("CHILD " + json.dumps(child(arm, phase, ws, int(n))), flush=True)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    load0 = os.getloadavg()[0]
    if args.replot:  # the tables and the plot again from a --json file, measuring nothing
        results = {int(k): v for k, v in json.loads(args.replot.read_text()).items()}
    else:
        with tempfile.TemporaryDirectory(prefix="bench_scaling_rows_") as d:
            results = measure(sizes, args.reps, args.big_reps, Path(d))
    if not results:
        sys.exit("no size fitted")
    if args.json and not args.replot:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    print(report(results))
    if not args.replot:
        print(load_note(load0) + "\n")
    if not args.no_plot:
        plot(results, args.plot_dir)


if __name__ == "__main__":
    main()
