"""A step built by plain Python in a notebook cell (not through ``%%dream``) shows the live
step view once it has run for a second: running with progress and ETA, then the final view,
once. Quick steps stay as quiet as before; an interrupt ends in one line (a real IPython
shell with ``%load_ext dreamer_lab``; the widget's state recorded as it changes)."""

from __future__ import annotations

import pytest
import traitlets
from IPython.core.interactiveshell import InteractiveShell

from tests.test_magics import ok, run

SLOW = """\
import time
from dreamer_lab.steps import Step

class Slow(Step):
    def setup(self):
        self.register_output("x")

    def run(self):
        for i in range(12):  # 3.6 s: the view shows at 1 s, then progress and time left
            time.sleep(0.3)
            self.progress = (i + 1) / 12
        return {"x": list(range(12))}
"""


@pytest.fixture
def shell(workspace, monkeypatch):
    """A real IPython shell with ``%load_ext dreamer_lab``; every widget state recorded."""
    import datasets  # noqa: F401 - imported once here, not inside the first step's run

    from dreamer_lab.notebook import step_widget

    states: list[dict] = []

    class RecordingView(step_widget.StepView):
        @traitlets.observe("summary", "progress", "eta")
        def _record(self, change: dict) -> None:
            states.append({"summary": self.summary, "progress": self.progress, "eta": self.eta})

    monkeypatch.setattr(step_widget, "StepView", RecordingView)
    ip = InteractiveShell.instance()
    before = set(ip.user_ns)
    ip.run_line_magic("load_ext", "dreamer_lab")
    yield ip, states
    ip.run_line_magic("unload_ext", "dreamer_lab")
    for name in set(ip.user_ns) - before:
        ip.user_ns.pop(name, None)


def views(cap) -> list:
    return [o for o in cap.outputs if "dreamer_lab" in (o.metadata or {})]


def test_a_long_plain_step_shows_one_live_view_that_ends_in_the_final_view(shell):
    ip, states = shell
    ok(ip, SLOW)
    cap = ok(ip, 's = Slow("slow one")')
    shown = views(cap)
    assert [v.update for v in shown] == [False, True]
    assert shown[0].metadata["dreamer_lab"]["status"] == "running"
    assert shown[0].metadata["dreamer_lab"]["step"] == "slow one"
    assert shown[1].metadata["dreamer_lab"]["status"] == "computed"
    # While it ran, the view got progress and an ETA from the step's progress file.
    live = [s for s in states if s["summary"].get("status") == "running"]
    assert any(0 < (s["progress"] or 0) < 1 and s["eta"] is not None for s in live), live
    assert states[-1]["summary"]["status"] == "computed" and states[-1]["progress"] == 1.0
    assert states[-1]["summary"]["rows"] == 12
    # The same cell again loads from cache at once: no view, as before.
    assert views(ok(ip, 's = Slow("slow one")')) == []
    assert ip.user_ns["s"].cache_hit


def test_a_cell_ending_in_a_long_step_shows_it_once(shell):
    ip, _ = shell
    ok(ip, SLOW)
    cap = ok(ip, 'Slow("shown once")')
    assert [v.update for v in views(cap)] == [False, True]
    assert "shown once" not in cap.stdout  # the cell's own display of the step: skipped
    again = ok(ip, 'Slow("shown once")')  # a later cell ending in the step shows it again
    assert "shown once" in again.stdout


def test_quick_plain_steps_show_no_view(shell):
    ip, _ = shell
    cap = ok(
        ip,
        """
        from dreamer_lab.steps import DataSource
        rows = DataSource("rows", {"text": ["a", "b", "c"]})
        longer = rows.map(lambda r: {"text": r["text"] * 2})
        """,
    )
    assert views(cap) == [] and cap.stdout == ""
    assert ip.user_ns["longer"].output["text"].to_list() == ["aa", "bb", "cc"]


def test_a_quick_step_that_prints_shows_its_output_in_the_views_details(shell):
    ip, states = shell
    ok(
        ip,
        """
        from dreamer_lab.steps import Step

        class Chatty(Step):
            def setup(self):
                self.register_output("x")

            def run(self):
                print("loading the thing")
                return {"x": [1]}
        """,
    )
    cap = ok(ip, 'c = Chatty("chatty")')
    assert [v.update for v in views(cap)] == [False]
    assert views(cap)[0].metadata["dreamer_lab"]["status"] == "computed"
    assert "loading the thing" not in cap.stdout
    assert "loading the thing" in states[-1]["summary"]["details"]


def test_an_interrupted_plain_step_ends_in_one_line_and_shows_interrupted(shell):
    ip, _ = shell
    ok(
        ip,
        """
        import time
        from dreamer_lab.steps import Step

        class Stops(Step):
            def setup(self):
                self.register_output("x")

            def run(self):
                time.sleep(1.6)  # long enough for the view to show
                raise KeyboardInterrupt
        """,
    )
    result, cap = run(ip, 'st = Stops("stops")')
    assert isinstance(result.error_in_exec, Exception)
    assert type(result.error_in_exec).__name__ == "StepInterrupted"
    text = cap.stdout + cap.stderr
    assert "run the cell again to resume" in text
    assert "Traceback" not in text and "dreamer_lab/" not in text
    assert [v.metadata["dreamer_lab"]["status"] for v in views(cap)] == ["running", "interrupted"]
    from dreamer_lab import lineage

    assert lineage().node("stops")["state"] == "interrupted"


def test_a_step_inside_a_dream_cell_or_a_running_step_shows_no_second_view(shell):
    ip, _ = shell
    ok(ip, SLOW)
    ok(
        ip,
        """
        from dreamer_lab.steps import SuperStep

        class Outer(SuperStep):
            def setup(self):
                self.register_output("x")

            def run(self):
                inner = Slow("inner")
                return {"x": inner.output["x"].to_list()}
        """,
    )
    cap = ok(ip, 'o = Outer("outer")')
    assert {v.metadata["dreamer_lab"]["step"] for v in views(cap)} == {"outer"}
    cap = ok(ip, "%dream s2 = Slow()")
    assert [v.update for v in views(cap)] == [False, True]
