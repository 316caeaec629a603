"""API throughput against concurrency (1, 2, 4, ..., 256): dreamer_lab's ``OpenAI`` LLM
against plain ``openai.AsyncOpenAI`` under an ``asyncio.Semaphore``, same requests.

The server is ``tests/openai_server.py`` in a process of its own, with a fixed latency
(200 ms by default) and a listen backlog like a production server's (``--backlog``, 1024 by
default: nginx uses 511, uvicorn and gunicorn 2048; the kernel caps it at
``net.core.somaxconn``, printed with the results). Each arm runs in a fresh process (a new
client, new connections), the two arms take turns at every concurrency, and each sends
``max(40, 8 × concurrency)`` distinct chat requests (``max_tokens`` 16), so every run has
at least eight waves. Ours renders the prompts, looks each one up in the request cache,
writes every answer to it and counts cost, in a fresh workspace; the plain arm does none of
that (``bench/plain_clients.py``, no retries).

Besides requests/s, it reports the CPU each side used per request (the client process, and
the server process read from ``/proc``): when a single-threaded asyncio client (or the
server) nears 100 % of one core, throughput stops following ``concurrency / latency``.
Plot: ``docs/images/scaling_api.png``.

Run: ``python bench/bench_scaling_api.py [--latency 0.2] [--backlog 1024] [--reps 3]
[--max-conc 256]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scaling_common import (  # noqa: E402
    IMAGES,
    OURS,
    PLAIN,
    REPO,
    markdown,
    med,
    plain_y,
    pyplot,
    save,
    slopes,
    ticks,
    waited,
)
from plain_clients import plain_chat_seconds  # noqa: E402

TESTS = REPO / "tests"
ARMS = ("ours", "plain")


def cpu_self() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server, in its own process ----------------------------------------------------------
def serve(latency: float, backlog: int, key: str) -> None:
    sys.path.insert(0, str(TESTS))
    import http_test_server
    from openai_server import FakeOpenAIServer

    # The listen(2) backlog is read when the socket is bound, in the server's constructor.
    http_test_server._Server.request_queue_size = backlog
    srv = FakeOpenAIServer(latency=latency, idle_timeout=300, api_key=key).start()
    print(f"PORT {srv.port}", flush=True)
    for _ in sys.stdin:  # each line asks how many generation requests arrived so far
        print(f"COUNT {srv.requests}", flush=True)
    srv.stop()  # stdin closed: the bench is over


# -- one client run, in its own process ------------------------------------------------------
def client(arm: str, url: str, n: int, conc: int) -> dict[str, Any]:
    key = os.environ["BENCH_API_KEY"]
    prompts = [f"{arm} c{conc} prompt {i} {time.time_ns()}" for i in range(n)]
    import openai  # noqa: F401 - imported before any timing, for both arms

    cpu0, w0 = cpu_self(), waited()
    if arm == "plain":
        seconds = plain_chat_seconds(url, key, prompts, conc, max_retries=2)  # library defaults
    else:
        from dreamer_lab import DataDreamer
        from dreamer_lab.llms import OpenAI

        with tempfile.TemporaryDirectory() as d, DataDreamer(d):
            llm = OpenAI("gpt-4o-mini", base_url=url, api_key=key, max_concurrency=conc)
            cpu0, w0 = cpu_self(), waited()
            t = time.perf_counter()
            out = llm.run(prompts, max_new_tokens=16, verbose=False)
            seconds = time.perf_counter() - t
            assert len(out) == n
    return {"seconds": seconds, "cpu": cpu_self() - cpu0, "waited": waited() - w0}


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen backlog was full
    (TcpExt ListenOverflows, all sockets of the machine)."""
    with open("/proc/net/netstat") as f:
        lines = [ln.split() for ln in f if ln.startswith("TcpExt:")]
    return int(dict(zip(lines[0], lines[1], strict=True))["ListenOverflows"])


class Server:
    """The server process: its URL, pid, and how many requests it has received."""

    def __init__(self, latency: float, backlog: int, key: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(latency), str(backlog), key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # reset connections are printed there
            text=True,
        )
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[1])}/v1"
        self.pid = self.proc.pid

    def received(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().split()[1])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_client(arm: str, server: Server, n: int, conc: int) -> dict[str, Any]:
    srv0, got0, drops0 = cpu_of(server.pid), server.received(), listen_overflows()
    proc = subprocess.run(
        [sys.executable, __file__, "--client", arm, server.url, str(n), str(conc)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=900,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CLIENT ")), None)
    extra = {"sent": server.received() - got0, "overflows": listen_overflows() - drops0}
    if proc.returncode or line is None:
        error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no result"
        print(f"  c={conc:<4} {arm:<5} FAILED: {error}", file=sys.stderr)
        return {"failed": error[:200], **extra}
    res = json.loads(line.removeprefix("CLIENT ")) | extra
    res["server_cpu"] = cpu_of(server.pid) - srv0
    res["rps"] = n / res["seconds"]
    print(
        f"  c={conc:<4} {arm:<5} {n:5d} requests {res['rps']:7.1f} req/s  client CPU "
        f"{res['cpu'] / res['seconds']:.0%} (waited for a core {res['waited'] / res['seconds']:.0%})"
        f"  server CPU {res['server_cpu'] / res['seconds']:.0%}  sent {res['sent']}"
        f"  listen overflows {res['overflows']}",
        file=sys.stderr,
    )
    return res


def requests_for(conc: int) -> int:
    return max(40, 8 * conc)


def measure(latency: float, backlog: int, reps: int, levels: list[int]) -> dict[int, dict]:
    sys.path.insert(0, str(TESTS))
    from fake_keys import fake_key

    key = fake_key("bench")
    os.environ["BENCH_API_KEY"] = key
    server = Server(latency, backlog, key)
    results: dict[int, dict[str, list[dict]]] = {c: {a: [] for a in ARMS} for c in levels}
    try:
        run_client("plain", server, 8, 4)  # warm the server up (threads, imports)
        for rep in range(reps):
            for conc in levels:
                order = ARMS if (rep + conc.bit_length()) % 2 == 0 else ARMS[::-1]
                for arm in order:
                    results[conc][arm].append(run_client(arm, server, requests_for(conc), conc))
    finally:
        server.close()
    return results


def ok(runs: list[dict]) -> list[dict]:
    return [r for r in runs if "failed" not in r]


def report(results: dict[int, dict], latency: float, backlog: int) -> str:
    levels = sorted(results)

    def rps(c: int, arm: str) -> list[float]:
        return [r["rps"] for r in ok(results[c][arm])]

    def best(c: int, arm: str) -> float:
        return max(rps(c, arm), default=float("nan"))

    def share(c: int, arm: str, key: str) -> str:
        runs = ok(results[c][arm])
        return f"{med([r[key] / r['seconds'] for r in runs]):.0%}" if runs else "–"

    def cpu_ms(c: int, arm: str) -> str:
        runs = ok(results[c][arm])
        return f"{1000 * med([r['cpu'] for r in runs]) / requests_for(c):.1f}" if runs else "–"

    def cell(c: int, arm: str) -> str:
        values = rps(c, arm)
        failed = [r["failed"] for r in results[c][arm] if "failed" in r]
        text = f"{max(values):,.1f} / {med(values):,.1f}" if values else ""
        if failed:
            text += f" ({len(failed)} of {len(results[c][arm])} runs failed: {failed[0][:60]})"
        return text.strip()

    def extra_sent(c: int, arm: str) -> str:
        return str(max(r["sent"] - requests_for(c) for r in results[c][arm]))

    s_ours = slopes(levels, [best(c, "ours") for c in levels])
    s_plain = slopes(levels, [best(c, "plain") for c in levels])
    rows = []
    for i, c in enumerate(levels):
        ratio = med(rps(c, "ours")) / med(rps(c, "plain")) if rps(c, "plain") else float("nan")
        rows.append(
            [
                c,
                requests_for(c),
                f"{c / latency:,.0f}",
                cell(c, "ours"),
                cell(c, "plain"),
                f"{ratio:.2f}",
                f"{s_ours[i]} / {s_plain[i]}",
                f"{cpu_ms(c, 'ours')} / {cpu_ms(c, 'plain')}",
                f"{share(c, 'ours', 'cpu')} / {share(c, 'plain', 'cpu')}",
                f"{share(c, 'ours', 'waited')} / {share(c, 'plain', 'waited')}",
                f"{share(c, 'ours', 'server_cpu')} / {share(c, 'plain', 'server_cpu')}",
                f"{extra_sent(c, 'ours')} / {extra_sent(c, 'plain')}",
                max(r["overflows"] for a in ARMS for r in results[c][a]),
            ]
        )
    reps = len(results[levels[0]]["ours"])
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = f.read().strip()
    return (
        f"### Chat requests/s against concurrency ({latency * 1000:.0f} ms server latency, "
        f"listen backlog {backlog}, net.core.somaxconn {somaxconn}; best / median of {reps})\n\n"
        + markdown(
            [
                "concurrency",
                "requests",
                "ideal (conc ÷ latency)",
                "dreamer_lab `OpenAI`",
                "plain `AsyncOpenAI` + semaphore",
                "ours ÷ plain (median)",
                "slope: ours / plain",
                "client CPU ms per request: ours / plain",
                "client CPU, % of the wall time: ours / plain",
                "client waited for a core: ours / plain",
                "server CPU: during ours / plain",
                "requests sent again (retries): ours / plain",
                "listen overflows",
            ],
            rows,
        )
        + "\n"
    )


def plot(results: dict[int, dict], latency: float, backlog: int, out_dir: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    levels = sorted(results)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    a.plot(levels, [c / latency for c in levels], ":", color="0.55", label="ideal: conc ÷ latency")
    for arm, colour, style, label in (
        ("ours", OURS, "o-", "dreamer_lab OpenAI"),
        ("plain", PLAIN, "s-", "plain AsyncOpenAI + semaphore"),
    ):
        rps = [med([r["rps"] for r in ok(results[c][arm])]) for c in levels]
        a.plot(levels, rps, style, color=colour, label=label)
    a.set(xscale="log", yscale="log", xlabel="concurrency", ylabel="requests/s (median)")
    ticks(a, levels)
    plain_y(a)
    a.set_title(f"Throughput ({latency * 1000:.0f} ms latency, listen backlog {backlog})")
    a.legend(fontsize=8)
    for arm, key, colour, style, label in (
        ("ours", "cpu", OURS, "o-", "client process: dreamer_lab"),
        ("plain", "cpu", PLAIN, "s-", "client process: plain"),
        ("ours", "waited", OURS, "o--", "dreamer_lab client waiting for a core"),
        ("plain", "waited", PLAIN, "s--", "plain client waiting for a core"),
        ("plain", "server_cpu", "0.35", "x:", "server (while plain ran)"),
    ):
        load = [100 * med([r[key] / r["seconds"] for r in ok(results[c][arm])]) for c in levels]
        b.plot(levels, load, style, color=colour, label=label)
    b.axhline(100, color="0.55", linestyle=":", linewidth=1, label="one core")
    b.set(xscale="log", xlabel="concurrency", ylabel="% of the wall time (median)")
    ticks(b, levels)
    b.set_title("Client and server: running vs waiting for a CPU")
    b.legend(fontsize=8, loc="upper left")
    save(fig, "scaling_api.png", out_dir)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--backlog", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-conc", type=int, default=256)
    ap.add_argument("--plot-dir", type=Path, default=IMAGES)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the raw measurements here")
    ap.add_argument("--replot", type=Path, help="report and plot a --json file, measure nothing")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(float(args.serve[0]), int(args.serve[1]), args.serve[2])
        return
    if args.client:
        arm, url, n, conc = args.client
        print("CLIENT " + json.dumps(client(arm, url, int(n), int(conc))), flush=True)
        return
    levels = [2**i for i in range(args.max_conc.bit_length()) if 2**i <= args.max_conc]
    if args.replot:  # the table and the plot again from a --json file, measuring nothing
        results = {int(k): v for k, v in json.loads(args.replot.read_text()).items()}
    else:
        results = measure(args.latency, args.backlog, args.reps, levels)
    if args.json and not args.replot:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    print(report(results, args.latency, args.backlog))
    if not args.no_plot:
        plot(results, args.latency, args.backlog, args.plot_dir)


if __name__ == "__main__":
    main()
