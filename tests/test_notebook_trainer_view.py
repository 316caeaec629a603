"""The live trainer view: step/epoch progress, ETA, train and validation loss, learning rate,
read from the progress file and history a training run writes."""

from __future__ import annotations

import json

import pytest
import traitlets

from dreamer_lab.notebook.running import _eta
from dreamer_lab.notebook.views import trainer_live


def test_live_view_reads_the_run_history(workspace):
    from dreamer_lab.core.workspace import current_workspace

    ws = current_workspace()
    fp = "ab" * 16
    folder = ws.path / "checkpoints" / fp
    folder.mkdir(parents=True)
    entries = [
        {"step": 1, "loss": 2.5, "learning_rate": 2e-4, "epoch": 0.5},
        {"step": 2, "loss": 2.1, "learning_rate": 1e-4, "epoch": 1.0},
        {"step": 2, "eval_loss": 2.3, "epoch": 1.0},
    ]
    (folder / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    live = trainer_live(ws, {"fingerprint": fp, "step": 2, "max_steps": 4, "eta_seconds": 12.34})
    assert live["training"] == {
        "step": 2,
        "max_steps": 4,
        "eta_seconds": 12.34,
        "learning_rate": 1e-4,
        "epoch": 1.0,
    }
    assert live["plots"] == {
        "loss": [[1, 2.5], [2, 2.1]],
        "eval_loss": [[2, 2.3]],
        "lr": [[1, 2e-4], [2, 1e-4]],
    }


def test_eta_from_the_rate_since_progress_began():
    assert _eta(None, 10.0, 0.5, None) is None  # no rate yet
    assert _eta((0.0, 0.1), 10.0, 0.5, None) == 12.5  # 0.4 in 10 s, 0.5 left
    assert _eta((0.0, 0.1), 10.0, 0.5, 3.0) == 3.0  # the trainer's own estimate wins


# -- a plain ``trainer.train(...)`` cell --------------------------------------------------------

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402
from trainer_fixtures import tiny_bert  # noqa: E402, F401

TRAIN_CELL = """\
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers import TrainHFClassifier
rows = DataSource("rows", {{"text": ["good day", "bad day"] * 8, "label": ["pos", "neg"] * 8}})
t = TrainHFClassifier("clf", model_name={model!r})
t.train(train_input=rows.output["text"], train_output=rows.output["label"],
        validation_input=rows.output["text"], validation_output=rows.output["label"],
        epochs={epochs}, batch_size=4, learning_rate=1e-2, early_stopping_patience=None)
"""


@pytest.fixture
def shell(workspace, monkeypatch):
    """A real IPython shell with ``%load_ext dreamer_lab``; every step view's summaries recorded."""
    from dreamer_lab.notebook import step_widget

    seen: list[dict] = []

    class RecordingView(step_widget.StepView):
        @traitlets.observe("summary")
        def _record(self, change: dict) -> None:
            seen.append(change["new"])

    monkeypatch.setattr(step_widget, "StepView", RecordingView)
    ip = InteractiveShell.instance()
    before = set(ip.user_ns)
    ip.run_line_magic("load_ext", "dreamer_lab")
    yield ip, seen
    ip.run_line_magic("unload_ext", "dreamer_lab")
    for name in set(ip.user_ns) - before:
        ip.user_ns.pop(name, None)


def _views(outputs: list, kind: str = "TrainHFClassifier") -> list:
    """The trainer's views (a step of the same cell shows its own if it runs for a second)."""
    return [o for o in outputs if (o.metadata or {}).get("dreamer_lab", {}).get("kind") == kind]


def test_a_plain_train_cell_shows_one_live_view_that_ends_in_the_final_view(shell, tiny_bert):  # noqa: F811
    ip, seen = shell
    with capture_output() as cap:
        result = ip.run_cell(TRAIN_CELL.format(model=str(tiny_bert), epochs=12))
    result.raise_error()
    views = _views(cap.outputs)
    # One view shown running (none again from the cell ending in ``t.train(...)``; the
    # plain shell prints only its ``Out[0]:`` prompt, a kernel sends nothing)...
    assert [v.update for v in views] == [False, True] and "clf" not in cap.stdout
    assert views[0].metadata["dreamer_lab"]["status"] == "running"
    assert views[0].metadata["dreamer_lab"]["step"] == "clf"
    assert views[1].metadata["dreamer_lab"]["status"] == "computed"
    # ... whose widget got the loss curve and learning rate while the model trained ...
    live = [s for s in seen if s.get("status") == "running" and (s.get("plots") or {}).get("loss")]
    assert live, "no loss points reached the view while training"
    assert live[-1]["training"]["max_steps"] == 48 and live[-1]["plots"]["lr"]
    # ... and ends in the final view with the run's metrics.
    final = seen[-1]
    assert final["status"] == "computed" and final["name"] == "clf"
    t = ip.user_ns["t"]
    assert final["metrics"].keys() == t.metrics.keys()
    assert final["metrics"]["eval_loss"] == pytest.approx(t.metrics["eval_loss"], rel=1e-3)
    # A later cell ending in ``t`` shows its view again (the plain shell prints its text).
    assert "_ipython_display_" not in vars(t)
    with capture_output() as again:
        ip.run_cell("t")
    assert "clf" in again.stdout and "TrainHFClassifier(" not in again.stdout


def test_a_dream_trainer_line_shows_one_view(shell, tiny_bert):  # noqa: F811
    ip, _ = shell
    ip.run_cell(
        'from dreamer_lab.steps import DataSource\nrows = DataSource("rows", {"text": ["a", "b"] * 4, "label": ["x", "y"] * 4})'
    )
    cell = (
        f"t2 = TrainHFClassifier(model_name={str(tiny_bert)!r}, "
        "train_input=rows.output['text'], train_output=rows.output['label'], epochs=1)"
    )
    with capture_output() as cap:
        ip.run_cell(f"%dream {cell}").raise_error()
    assert [v.update for v in _views(cap.outputs)] == [False, True]
    assert ip.user_ns["t2"].metrics


def test_no_view_outside_a_notebook_cell(shell, tiny_bert, monkeypatch):  # noqa: F811
    """Called from Python, not from a running cell (as in a script or a test): no display,
    even with a shell that loaded the extension."""
    import IPython.display

    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFClassifier

    shown: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    rows = DataSource("rows", {"text": ["good", "bad"] * 4, "label": ["pos", "neg"] * 4})
    t = TrainHFClassifier("clf", model_name=str(tiny_bert))
    t.train(train_input=rows.output["text"], train_output=rows.output["label"], epochs=1)
    assert shown == [] and t.metrics is not None
    assert "_ipython_display_" not in vars(t)
