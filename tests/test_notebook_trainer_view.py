"""The live trainer view: step/epoch progress, ETA, train and validation loss, learning rate,
read from the progress file and history a training run writes."""

from __future__ import annotations

import json

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
