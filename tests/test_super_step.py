"""SuperStep (DataDreamer's): a step whose run() runs other steps. Its output is stored and
fingerprinted, its inner steps are recorded in the lineage, a rerun loads it without running
run(), and its fingerprint follows its code and what its code reads."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from dreamer_lab.errors import StepFailedError
from dreamer_lab.steps import DataSource, SuperStep, concurrent

SUFFIX = "!"


class Exclaim(SuperStep):
    def setup(self):
        self.register_input("text", help="The texts.")
        self.register_arg("times", required=False, default=1, help="How many marks.")
        self.register_output("text", help="The texts with marks.")

    def run(self):
        src = DataSource("copied texts", {"text": list(self.inputs["text"])})
        times = self.args["times"]
        marked = src.map(lambda row: {"text": row["text"] + SUFFIX * times})
        return marked.output


class Fanout(SuperStep):
    def setup(self):
        self.register_output("text")

    def run(self):
        a, b = concurrent(
            lambda: DataSource("left", {"text": ["l1", "l2"]}),
            lambda: DataSource("right", {"text": ["r1", "r2"]}),
        )
        return list(a.output["text"]) + list(b.output["text"])


class Broken(SuperStep):
    def setup(self):
        self.register_output("text")

    def run(self):
        src = DataSource("fine", {"text": ["a"]})
        return src.map(lambda row: {"text": row["text"] + 1}).output  # str + int fails


def _runs(ws, name: str) -> int:
    return len(ws.lineage.runs(name=name))


def test_super_step_stores_output_and_records_inner_steps(workspace):
    src = DataSource("texts", {"text": ["a", "b"]})
    step = Exclaim("exclaim", inputs={"text": src.output["text"]}, args={"times": 2})
    assert step.output["text"].to_list() == ["a!!", "b!!"]
    assert step.cache_hit is False
    inner = [s.name for s in step.inner_steps]
    assert inner[0] == "copied texts" and len(inner) == 2  # the source and its map
    rec = step.record
    inner_fps = [s.fingerprint for s in step.inner_steps]
    assert rec["inner_steps"] == inner_fps
    assert set(inner_fps) <= set(rec["parents"])  # inner steps are lineage parents
    edges = set(step.workspace.lineage.edges())
    assert (inner_fps[1], step.fingerprint) in edges or (step.fingerprint, inner_fps[1]) in edges


def test_rerun_loads_from_cache_without_running_inner_steps(workspace):
    src = DataSource("texts", {"text": ["a", "b"]})
    first = Exclaim("exclaim", inputs={"text": src.output["text"]})
    ws = first.workspace
    maps_before = _runs(ws, "copied texts / map")
    again = Exclaim("renamed", inputs={"text": src.output["text"]})
    assert again.cache_hit is True and again.fingerprint == first.fingerprint
    assert again.inner_steps == []  # run() did not execute
    assert _runs(ws, "copied texts / map") == maps_before
    assert again.output["text"].to_list() == ["a!", "b!"]
    assert again.record["inner_steps"] == first.record["inner_steps"]


def test_fingerprint_follows_args_and_globals_read_by_run(workspace, monkeypatch):
    src = DataSource("texts", {"text": ["a"]})
    base = Exclaim("e", inputs={"text": src.output["text"]})
    other_args = Exclaim("e", inputs={"text": src.output["text"]}, args={"times": 3})
    assert other_args.fingerprint != base.fingerprint
    assert other_args.output["text"].to_list() == ["a!!!"]
    monkeypatch.setitem(globals(), "SUFFIX", "?")  # a constant run() reads
    changed = Exclaim("e", inputs={"text": src.output["text"]})
    assert changed.fingerprint != base.fingerprint
    assert changed.output["text"].to_list() == ["a?"]


def test_fingerprint_follows_code_of_run_not_comments(workspace, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "user_pipeline.py"

    def load(body: str) -> type:
        run_body = textwrap.indent(body, " " * 8)
        module.write_text(
            "from dreamer_lab.steps import DataSource, SuperStep\n\n\n"
            "class Pipeline(SuperStep):\n"
            "    def setup(self):\n"
            '        self.register_output("n")\n\n'
            f"    def run(self):\n{run_body}\n"
        )
        sys.modules.pop("user_pipeline", None)
        importlib.invalidate_caches()
        return importlib.import_module("user_pipeline").Pipeline

    first = load('src = DataSource("inner", {"n": [1, 2]})\nreturn src.output')("p")
    commented = load('# a comment\nsrc = DataSource("inner", {"n": [1, 2]})\nreturn src.output')
    assert commented("p").fingerprint == first.fingerprint
    edited = load('src = DataSource("inner", {"n": [1, 2, 3]})\nreturn src.output')("p")
    assert edited.fingerprint != first.fingerprint
    assert edited.output["n"].to_list() == [1, 2, 3]


def test_force_reruns_inner_steps_and_concurrent_inner_steps_are_recorded(workspace):
    first = Fanout("fan")
    assert first.output["text"].to_list() == ["l1", "l2", "r1", "r2"]
    assert sorted(s.name for s in first.inner_steps) == ["left", "right"]
    forced = Fanout("fan", force=True)
    assert forced.cache_hit is False
    assert all(s.force and s.cache_hit is False for s in forced.inner_steps)


def test_inner_step_failure_fails_the_super_step(workspace):
    from dreamer_lab.core.workspace import current_workspace

    with pytest.raises(StepFailedError, match="TypeError"):
        Broken("broken")
    runs = current_workspace().lineage.runs(name="broken")
    assert [r["status"] for r in runs] == ["failed"]
    assert not current_workspace().steps.fingerprints() or all(
        current_workspace().steps.read_record(fp).get("name") != "broken"
        for fp in current_workspace().steps.fingerprints()
    )
