"""Live progress (step, loss, ETA) and the loss history of a training run.

The history is a JSON-lines file in the run's checkpoint folder, so a resumed run keeps the
history of the steps done before a kill. The progress file is the one steps use
(``ws.progress_file(fingerprint)``), so the notebook layer reads both the same way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.workspace import Workspace

if TYPE_CHECKING:
    from dreamer_lab.trainers.base import Trainer

logger = logging.getLogger("dreamer_lab")

HISTORY = "history.jsonl"


class ProgressReporter:
    """Writes live progress (step, loss, ETA) and the loss history of one run."""

    def __init__(self, trainer: Trainer, workspace: Workspace, fingerprint: str, folder: Path):
        self.trainer = trainer
        self.workspace = workspace
        self.fingerprint = fingerprint
        self.folder = folder  # the run's checkpoint folder
        self.history_path = folder / HISTORY
        self.started = time.time()
        self.first_step: int | None = None
        self._written = 0.0
        self.state: dict[str, Any] = {"status": "running", "step": 0, "max_steps": None}

    def log(self, entry: dict[str, Any]) -> None:
        """Append one log entry (loss, eval metrics, learning rate ...) to the history."""
        entry = {k: jsonable(v) for k, v in entry.items()}
        if self.trainer.verbose:
            shown = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()
            )
            logger.info("Trainer %r: %s", self.trainer.name, shown)
        entry.setdefault("time", time.time())
        entry.setdefault("pid", os.getpid())
        with open(self.history_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if "loss" in entry:
            self.state["loss"] = entry["loss"]
        for k, v in entry.items():
            if k.startswith("eval_"):
                self.state[k] = v
        self.write(force=True)

    def step(self, step: int, max_steps: int | None) -> None:
        """Report that optimizer step ``step`` of ``max_steps`` is done."""
        if self.first_step is None:
            self.first_step = step - 1
        self.state["step"] = step
        self.state["max_steps"] = max_steps
        self.write()

    def eta_seconds(self) -> float | None:
        step, total = self.state.get("step") or 0, self.state.get("max_steps")
        if not total or self.first_step is None or step <= self.first_step:
            return None
        rate = (time.time() - self.started) / (step - self.first_step)
        return max(0.0, rate * (total - step))

    def write(self, *, force: bool = False, status: str | None = None) -> None:
        """Write the progress file (at most every 0.5 s unless ``force``)."""
        now = time.monotonic()
        if status:
            self.state["status"] = status
        if not force and now - self._written < 0.5:
            return
        self._written = now
        total = self.state.get("max_steps")
        data = {
            "name": self.trainer.name,
            "kind": self.trainer.kind_name(),
            "fingerprint": self.fingerprint,
            "progress": (self.state["step"] / total) if total else None,
            "eta_seconds": self.eta_seconds(),
            "pid": os.getpid(),
            "updated": time.time(),
            **self.state,
        }
        path = self.workspace.progress_file(self.fingerprint)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, default=str))
            os.replace(tmp, path)
        except OSError:
            pass


class SilentReporter(ProgressReporter):
    """The reporter of a non-main process in a distributed run: the main one reports."""

    def log(self, entry: dict[str, Any]) -> None:
        pass

    def write(self, *, force: bool = False, status: str | None = None) -> None:
        pass


def read_history(path: Path) -> list[dict[str, Any]]:
    """The entries of a history file (a torn last line from a kill is skipped)."""
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def jsonable(v: Any) -> Any:
    """A logged or metric value as JSON: numbers (numpy, torch scalars) as floats, else text."""
    if isinstance(v, bool | int | str | float) or v is None:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)
