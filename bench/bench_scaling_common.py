"""What the scaling benches (``bench/bench_scaling_*.py``) share: the log-log slope between
two points of a curve (where it stops being linear), a Markdown table, and one plot style.

Not a benchmark itself. The plots need matplotlib (in the ``test`` extra); without it the
benches still print their tables and say that no plot was written.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def slope(x0: float, y0: float, x1: float, y1: float) -> float:
    """The log-log slope from (x0, y0) to (x1, y1): 1 is linear (cost per unit constant),
    0 is flat (a fixed cost dominates, or a throughput ceiling), > 1 grows faster than
    linear."""
    if min(x0, y0, x1, y1) <= 0 or x0 == x1:
        return math.nan
    return math.log(y1 / y0) / math.log(x1 / x0)


def slopes(xs: Sequence[float], ys: Sequence[float]) -> list[str]:
    """One cell per point: the slope from the previous point ("–" for the first)."""
    out = ["–"]
    for i in range(1, len(xs)):
        s = slope(xs[i - 1], ys[i - 1], xs[i], ys[i])
        out.append("–" if math.isnan(s) else f"{s:.2f}")
    return out


def waited() -> float:
    """Seconds this process's threads have spent runnable but waiting for a CPU (the kernel's
    run-queue delay, ``/proc/self/task/*/schedstat``): how starved of cores a measurement
    was. Threads that already ended are not counted."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def load_note(start: float) -> str:
    """The 1-minute load average at the start and the end of the measurements (other
    processes on the machine compete for its cores)."""
    import os

    return f"Load average (1 min) at the start / end: {start:.1f} / {os.getloadavg()[0]:.1f}."


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(v: float) -> str:
    """Seconds as the table shows them: ms below 1 s."""
    if math.isnan(v):
        return "–"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def pair(lo: float, mid: float, fmt=seconds) -> str:
    """``min / median`` in one cell."""
    return fmt(lo) if lo == mid else f"{fmt(lo)} / {fmt(mid)}"


def pyplot():
    """matplotlib's pyplot with a file-only backend, or None (said once) when missing."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[test]'): no plot written")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )
    return plt


def linear_guide(ax, xs: Sequence[float], anchor_x: float, anchor_y: float, label: str) -> None:
    """A dotted line of slope 1 through (anchor_x, anchor_y): where a linear curve would be."""
    lo, hi = min(xs), max(xs)
    ax.plot(
        [lo, hi],
        [anchor_y * lo / anchor_x, anchor_y * hi / anchor_x],
        ":",
        color="0.55",
        linewidth=1,
        label=label,
    )


OURS, PLAIN, FLOOR, OTHER = "C0", "C1", "C2", "C4"  # one colour per arm in every plot


def short(n: float) -> str:
    """10000 -> 10k, 1000000 -> 1M (axis labels)."""
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div:g}{suffix}"
    return f"{n:g}"


def ticks(ax, xs: Sequence[float]) -> None:
    """The measured x values as the x axis's ticks, labelled short."""
    from matplotlib.ticker import NullLocator

    ax.set_xticks(list(xs), [short(x) for x in xs])
    ax.xaxis.set_minor_locator(NullLocator())


def plain_y(ax) -> None:
    """Log-scale y tick labels as plain numbers (1,000 rather than 10^3)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def save(fig, name: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path
