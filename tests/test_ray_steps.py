"""Steps under ``DataDreamer(executor="ray")`` on a real local Ray cluster (2 CPUs):
``map``/``filter`` on shards of the rows, and a prompting step's progress in the sidebar.

The cluster is ``tests/test_ray_executor.py``'s fixture (``ray start --head`` in a
subprocess, stopped at the end of this module).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest

pytest.importorskip("ray", reason="the Ray executor needs ray: pip install 'dreamer-lab[ray]'")

from openai_server import API_KEY, FakeOpenAIServer  # noqa: E402
from test_ray_executor import cluster  # noqa: E402, F401 - the module's cluster fixture

from dreamer_lab import DataDreamer  # noqa: E402
from dreamer_lab.errors import StepFailedError, StepInputError  # noqa: E402
from dreamer_lab.steps import DataSource  # noqa: E402

ROWS = {
    "x": list(range(600)),
    "text": [f"row {i} " + "ab" * (i % 7) for i in range(600)],
}


def _chain() -> dict:
    """map/filter calls of every kind over ROWS; name -> step."""

    def batch_sum(batch):  # depends on which rows share a batch
        return {"s": [sum(batch["x"])] * len(batch["x"])}

    def regroup(batch):  # changes the number of rows
        return {"x": [v for v in batch["x"] for _ in range(v % 3)]}

    source = DataSource("rows", ROWS)
    return {
        "map": source.map(
            lambda row, i: {"y": row["x"] * 3 + i, "t": row["text"].upper()}, with_indices=True
        ),
        "map batched": source.map(batch_sum, batched=True, batch_size=64),
        "map regroup": source.map(regroup, batched=True, batch_size=50, remove_columns=["text"]),
        "filter": source.filter(
            lambda x, i: (x + i) % 3 != 0, input_columns="x", with_indices=True
        ),
        "filter batched": source.filter(
            lambda b: [len(t) % 2 == 0 for t in b["text"]], batched=True, batch_size=40
        ),
    }


def _outputs(steps: dict) -> dict:
    """name -> (fingerprint, rows, column types)."""
    return {
        k: (s.fingerprint, s.output.dataset.to_list(), s.output.dataset.features.to_dict())
        for k, s in steps.items()
    }


def test_map_and_filter_on_ray_equal_the_in_process_run(cluster, tmp_path):  # noqa: F811
    with DataDreamer(tmp_path / "local"):
        expected = _outputs(_chain())
    ray_ws = tmp_path / "ray"
    with DataDreamer(ray_ws, executor="ray", ray_address=cluster) as dd:
        dd.executor.map_min_rows = 0
        ran = []
        real = dd.executor.run_operation

        def counted(*args, **kwargs):
            out = real(*args, **kwargs)
            ran.append(dict(dd.executor.last_operation or {}) if out is not None else None)
            return out

        dd.executor.run_operation = counted
        got = _outputs(_chain())
    assert got == expected  # same fingerprints, rows in the same order, same column types
    assert len(ran) == 5 and None not in ran  # every call ran on the cluster ...
    assert all(r["shards"] > 1 for r in ran)  # ... over several shards
    assert os.getpid() not in {p for r in ran for p in r["worker_pids"]}
    # Committed through the store: a local session finds every result as a cache hit.
    with DataDreamer(ray_ws):
        again = _chain()
        assert all(s.cache_hit for s in again.values())
        assert _outputs(again) == expected


def test_map_runs_on_ray_only_when_asked(cluster, tmp_path):  # noqa: F811
    with DataDreamer(tmp_path / "a", executor="ray", ray_address=cluster) as dd:
        assert dd.executor.map_min_rows is None  # the default: every map/filter here
        DataSource("rows", ROWS).map(lambda row: {"y": row["x"] + 1})
        assert dd.executor.last_operation is None
        with pytest.raises(ValueError, match="map_min_rows must be a number of rows"):
            dd.executor.map_min_rows = -1
    with DataDreamer(tmp_path / "b", executor="ray", ray_address=cluster, map_min_rows=601) as dd:
        DataSource("rows", ROWS).map(lambda row: {"y": row["x"] + 2})  # 600 rows: here
        assert dd.executor.last_operation is None
        dd.executor.map_min_rows = 600
        DataSource("rows", ROWS).map(lambda row: {"y": row["x"] + 3})
        assert dd.executor.last_operation["rows"] == 600


def test_an_unpicklable_function_is_refused_with_the_fix(cluster, tmp_path):  # noqa: F811
    class Lookup:  # fingerprinted by its own method, but holds a connection
        def __init__(self):
            self.db = sqlite3.connect(":memory:")

        def __dreamer_fingerprint__(self) -> str:
            return "lookup-v1"

    lookup = Lookup()

    def locked(row):
        return {"y": lookup.db.execute("SELECT ?", (row["x"],)).fetchone()[0]}

    with DataDreamer(tmp_path, executor="ray", ray_address=cluster) as dd:
        dd.executor.map_min_rows = 0
        source = DataSource("rows", ROWS)
        with pytest.raises(StepInputError, match="needs its function to be picklable") as e:
            source.map(locked)
        assert "map_min_rows = None" in str(e.value) and "sqlite3.Connection" in str(e.value)
        # The function's own error is raised as it is in-process.
        with pytest.raises(StepFailedError, match="ZeroDivisionError"):
            source.map(lambda row: {"y": 1 // (row["x"] - 7)})


def test_a_killed_map_worker_loses_no_row(cluster, tmp_path):  # noqa: F811
    marks = tmp_path / "marks"
    marks.mkdir()
    where = str(marks)

    def slow(row):
        import os
        import time

        with open(os.path.join(where, str(os.getpid())), "a") as f:  # rows seen, per worker
            f.write(f"{row['x']}\n")
        time.sleep(0.01)
        return {"y": row["x"] * 2}

    with DataDreamer(tmp_path / "ws", executor="ray", ray_address=cluster) as dd:
        dd.executor.map_min_rows = 0
        source = DataSource("rows", ROWS)
        result: dict = {}

        def run() -> None:
            try:
                result["step"] = source.map(slow)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 60
        while not list(marks.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = int(next(marks.iterdir()).name)
        assert victim != os.getpid()
        os.kill(victim, signal.SIGKILL)  # a Ray worker in the middle of a shard
        worker.join(120)
        assert "error" not in result, result.get("error")
        rows = result["step"].output.dataset.to_list()
    expected = [{"x": x, "text": t, "y": 2 * x} for x, t in zip(*ROWS.values(), strict=True)]
    assert rows == expected  # no row lost, doubled or moved
    seen = [line for f in marks.iterdir() for line in f.read_text().splitlines()]
    assert len(seen) > len(expected)  # the killed worker's shard ran again elsewhere
    assert dd.executor.last_operation["shards"] > 1


def test_progress_in_the_sidebar_counts_every_replica(cluster, tmp_path, monkeypatch):  # noqa: F811
    """The sidebar (and the step view: both read the step's progress file) shows the rows
    every replica generated, as the driver commits them."""
    from dreamer_lab.llms import OpenAI
    from dreamer_lab.server.views import lineage_payload
    from dreamer_lab.steps import ProcessWithPrompt

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    n = 40
    ws = tmp_path / "ws"
    with (
        FakeOpenAIServer(latency=0.25, idle_timeout=120) as srv,
        DataDreamer(ws, executor="ray", ray_address=cluster, replicas=2) as dd,
    ):
        source = DataSource("questions", {"q": [f"question {i}" for i in range(n)]})
        llm = OpenAI("gpt-4o-mini", base_url=srv.base_url)
        result: dict = {}

        def run() -> None:
            try:
                result["step"] = ProcessWithPrompt(
                    "answers",
                    inputs={"inputs": source.output["q"]},
                    args={
                        "llm": llm,
                        "instruction": "Answer.",
                        "max_new_tokens": 5,
                        "batch_size": 2,
                    },
                )
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

        worker = threading.Thread(target=run)
        worker.start()
        seen = []  # (progress the sidebar shows, rows committed by then)
        while worker.is_alive():
            nodes = lineage_payload(ws, "ws")["nodes"]
            progress = [x["progress"] for x in nodes if x["status"] == "running"]
            committed = sum(dd.executor.committed_by_replica.values())
            if progress and progress[0] is not None:
                seen.append((progress[0], committed))
            time.sleep(0.02)
        worker.join()
        assert "error" not in result, result.get("error")
        assert len(result["step"].output.dataset) == n
        shares = dict(dd.executor.committed_by_replica)
    assert sorted(shares) == [0, 1] and sum(shares.values()) == n  # both replicas worked
    values = [p for p, _ in seen]
    assert values == sorted(values)  # never goes back
    assert any(0 < p < 1 for p in values)  # moved while running
    # Counts committed rows (the counter moves just after the commit: one batch of slack).
    assert all(p * n <= done + 2 for p, done in seen)
    # More than any one replica generated: the progress counts every replica's rows.
    assert max(values) * n > max(shares.values())


def test_an_executor_object_opens_the_session(tmp_path):
    from dreamer_lab.executors import RayExecutor, current_executor

    executor = RayExecutor(address="auto", replicas=3, map_min_rows=0)
    with DataDreamer(tmp_path, executor=executor) as dd:
        assert dd.executor is executor and current_executor() is executor
        assert "map_min_rows=0" in repr(executor)
    assert current_executor() is None
    with pytest.raises(ValueError, match=r"pass them to RayExecutor\(\.\.\.\) instead"):
        DataDreamer(tmp_path, executor=executor, replicas=2)
    with pytest.raises(ValueError, match="map_min_rows must be a number of rows"):
        RayExecutor(map_min_rows=True)
