"""dreamer_lab | DataDreamer 0.46 | the plain libraries, on the same work, as one table.

Every arm runs in its own process (``bench/arms.py``), the three arms interleaved in each
repetition so that load from other processes hits them alike; each cell is ``min / median``
of the repetitions. DataDreamer runs in its own venv (``bench/dd_venv.sh`` makes it; set
``DD_VENV`` to use another); without one its column says so.

Run: ``python bench/compare.py [--reps 3] [--rows 1000000] [--skip train,api,gen] [--out F]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ARMS = ("ours", "dd", "plain")


def dd_python() -> str | None:
    venv = Path(os.environ.get("DD_VENV", ROOT / ".bench-dd-venv"))
    py = venv / "bin" / "python"
    return str(py) if py.is_file() else None


def python_for(arm: str) -> str | None:
    return dd_python() if arm == "dd" else sys.executable


def run_arm(arm: str, *args: str) -> tuple[float, dict]:
    """Whole-process wall seconds and the arm's own JSON result."""
    py = python_for(arm)
    assert py is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.run(
        [py, str(HERE / "arms.py"), arm, *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("ARM-RESULT ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"{arm} {args[0]} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(line.removeprefix("ARM-RESULT "))
    print(f"  {arm:<5} {args[0]:<5} wall {wall:8.2f} s  {result}", file=sys.stderr, flush=True)
    return wall, result


def import_seconds(arm: str) -> float | None:
    code = {"ours": "import dreamer_lab", "dd": "import datadreamer", "plain": None}[arm]
    py = python_for(arm)
    if code is None or py is None:
        return None
    t = time.perf_counter()
    subprocess.run([py, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t


class Table:
    """Rows of measurements per arm, shown as ``min / median``."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[float]]] = {}
        self.notes: dict[str, dict[str, str]] = {}

    def add(self, row: str, arm: str, value: float | None) -> None:
        if value is not None:
            self.rows.setdefault(row, {}).setdefault(arm, []).append(value)

    def note(self, row: str, arm: str, text: str) -> None:
        self.notes.setdefault(row, {})[arm] = text

    def cell(self, row: str, arm: str, unit: str) -> str:
        vals = self.rows.get(row, {}).get(arm)
        note = self.notes.get(row, {}).get(arm, "")
        if not vals:
            return note or "–"
        lo, med = min(vals), statistics.median(vals)
        if unit == "MB":
            text = f"{lo:,.0f} MB"
        elif unit == "x":  # a ratio: min / median
            text = f"{lo:.3f} / {med:.3f}"
        elif unit == "req/s":  # higher is better: best / median
            text = f"{max(vals):.0f} / {med:.0f} req/s"
        elif lo < 1:
            text = f"{lo * 1000:.0f} / {med * 1000:.0f} ms"
        else:
            text = f"{lo:.2f} / {med:.2f} s"
        return f"{text} {note}".strip()

    def markdown(self, units: dict[str, str]) -> str:
        head = "| work | dreamer_lab | DataDreamer 0.46 | plain library |\n|---|---|---|---|\n"
        body = "".join(
            f"| {row} | "
            + " | ".join(self.cell(row, a, units.get(row, "s")) for a in ARMS)
            + " |\n"
            for row in self.rows.keys() | self.notes.keys()
            if row in units
        )
        order = list(units)
        lines = sorted(body.splitlines(), key=lambda ln: order.index(ln.split(" | ")[0][2:]))
        return head + "\n".join(lines) + "\n"


def bench_rows(table: Table, arms: list[str], n: int, reps: int, units: dict) -> None:
    first, hit, again, rss = (
        f"{n:,}-row in-memory source + batched map, first run, whole process",
        "same, cache hit, whole process",
        f"same cell again in one process ({n:,} rows)",
        f"peak RSS, {n:,} rows, first run",
    )
    units.update({first: "s", hit: "s", again: "s", rss: "MB"})
    floor = f"floor of any input check: {n:,}-row dict to Arrow + hash"
    units[floor] = "s"
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            for arm in arms:
                ws = Path(tmp) / f"{arm}{rep}"
                wall, res = run_arm(arm, "rows", str(ws), str(n))
                table.add(first, arm, wall)
                table.add(rss, arm, res["peak_mb"])
                wall, res = run_arm(arm, "rows", str(ws), str(n), "again")
                table.add(hit, arm, wall - res["again_total"] - res.get("floor_total", 0))
                table.add(again, arm, res["again"])
                if "floor" in res:
                    table.add(floor, "ours", res["floor"])
                shutil.rmtree(ws, ignore_errors=True)
    table.note(first, "plain", "(`from_dict().map().save_to_disk()`)")
    table.note(hit, "plain", "(`load_from_disk`, no input check)")
    table.note(again, "plain", "(`load_from_disk`, no input check)")


def bench_api(table: Table, arms: list[str], reps: int, units: dict) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_keys import fake_key

    key = fake_key("bench")
    n, conc, latency = 512, 64, 0.2
    row = f"{n} chat requests, {latency * 1000:.0f} ms latency, concurrency {conc}"
    units[row] = "req/s"
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--latency", str(latency)]
        + ["--idle-timeout", "600", "--api-key", key],
        stdout=subprocess.PIPE,
        text=True,
    )
    os.environ["BENCH_API_KEY"] = key
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}/v1"
        for _ in range(reps):
            for arm in arms:
                _, res = run_arm(arm, "api", url, str(n), str(conc))
                table.add(row, arm, n / res["seconds"])
    finally:
        server.terminate()
        server.wait()
    table.note(row, "dd", "(tiktoken patched: ~4 chars a token, offline)")
    table.note(row, "plain", "(`AsyncOpenAI` + semaphore)")


def bench_train(table: Table, arms: list[str], reps: int, units: dict) -> None:
    from dreamer_lab.llms.embedded import embedded_model_path

    model = str(embedded_model_path())
    row = "SFT + LoRA on SmolLM2-135M, 64 rows + 16 validation: `train()` incl. model load"
    hit = (
        "same trainer again in a new process, cache hit: `train()` (peft import, base-model digest)"
    )
    cpu = "same first `train()`, CPU seconds of the process (less sensitive to load)"
    outside = (
        "same first `train()`, outside the training loop all arms share "
        "(`Trainer.train`): load, data, fingerprint, save, commit"
    )
    units.update({row: "s", cpu: "s", outside: "s", hit: "s"})
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            for arm in arms[rep % len(arms) :] + arms[: rep % len(arms)]:  # rotate who starts
                ws = Path(tmp) / f"{arm}{rep}"
                _, res = run_arm(arm, "train", str(ws), model)
                table.add(row, arm, res["seconds"])
                table.add(cpu, arm, res["cpu_seconds"])
                table.add(outside, arm, res.get("outside_seconds"))
                if arm != "plain":
                    _, res = run_arm(arm, "train", str(ws), model)
                    table.add(hit, arm, res["seconds"])
                shutil.rmtree(ws, ignore_errors=True)
    table.note(row, "plain", "(trl + peft, same eval/checkpoint/best-model settings)")


def bench_gen(table: Table, arms: list[str], reps: int, units: dict) -> None:
    """Ours and plain ``generate`` interleaved in one process (same model object, the
    order alternating), ``2 * reps + 1`` pairs; the DataDreamer arm in its own venv's
    process, as many runs."""
    sys.path.insert(0, str(HERE))
    from arms import GEN_BATCH, GEN_NEW_TOKENS, GEN_PROMPTS

    from dreamer_lab.llms.embedded import embedded_model_path

    model = str(embedded_model_path())
    row = (
        f"SmolLM2-135M, {GEN_PROMPTS} mixed-length prompts, batch {GEN_BATCH}, greedy, "
        f"{GEN_NEW_TOKENS} new tokens: `run()` (model loaded; cache lookups + commits)"
    )
    ratio = "same: dreamer_lab time / plain `generate` time (pairs in one process)"
    outside = (
        "same, time outside `model.generate` (templates, tokens, padding, cache lookups "
        "and commits, decoding)"
    )
    cpu = "same, CPU seconds of the run (less sensitive to load)"
    units.update({row: "s", ratio: "x", outside: "s", cpu: "s"})
    pairs = 2 * reps + 1  # repetitions inside one process each (the model loads once)
    with tempfile.TemporaryDirectory() as tmp:
        for arm in (a for a in arms if a != "plain"):
            try:
                _, res = run_arm(arm, "gen", str(Path(tmp) / arm), model, str(pairs))
            except RuntimeError as e:
                if arm == "ours":
                    raise
                print(e, file=sys.stderr)
                table.note(row, arm, "(failed; see the log)")
                continue
            for name in ("ours", "plain", "dd"):
                for v in res.get(name, []):
                    table.add(row, name, v)
            if arm == "ours":
                for a, b in zip(res["ours"], res["plain"], strict=True):
                    table.add(ratio, "ours", a / b)
                for name in ("ours", "plain"):
                    for v in res[f"{name}_outside"]:
                        table.add(outside, name, v)
                    for v in res[f"{name}_cpu"]:
                        table.add(cpu, name, v)
    table.note(
        row,
        "plain",
        "(`generate`, token-length-sorted batches; same process as dreamer_lab, interleaved)",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated: import,rows,api,train,gen")
    ap.add_argument("--arms", default=",".join(ARMS), help="comma-separated: ours,dd,plain")
    ap.add_argument("--out", type=Path, default=HERE / "results.md")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    arms = [a for a in args.arms.split(",") if a in ARMS and python_for(a)]
    table, units = Table(), {}
    if "dd" in args.arms.split(",") and "dd" not in arms:
        print("DataDreamer venv not found (bash bench/dd_venv.sh, or DD_VENV=...)")
    if "import" not in skip:
        units["`import`"] = "s"
        for _ in range(args.reps):
            for arm in arms:
                table.add("`import`", arm, import_seconds(arm))
    if "rows" not in skip:
        bench_rows(table, arms, args.rows, args.reps, units)
    if "api" not in skip:
        bench_api(table, arms, args.reps, units)
    if "train" not in skip:
        bench_train(table, arms, args.reps, units)
    if "gen" not in skip:
        bench_gen(table, arms, args.reps, units)
    load = os.getloadavg()
    text = (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}, "
        f"Python {platform.python_version()}; load average at the end {load[0]:.1f} "
        f"(other processes shared the CPUs: absolute times are pessimistic, arms were "
        f"interleaved). Each cell: min / median of {args.reps} runs (throughput: best / "
        f"median).\n\n" + table.markdown(units)
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
