"""Where a run in progress keeps its checkpoints, and which one it resumes from.

A run's checkpoints live in ``<workspace>/checkpoints/<fingerprint>/`` (outside ``tmp/``,
which is cleaned on start), as the ``checkpoint-N`` folders the Hugging Face trainers
write. A killed run (even ``kill -9``) resumes from the last complete one the next time
the same training is requested; the folder is removed once the model is committed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from dreamer_lab.core.workspace import Workspace

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dir(ws: Workspace, fingerprint: str) -> Path:
    """The checkpoint folder of the run ``fingerprint`` in ``ws``."""
    return ws.path / "checkpoints" / fingerprint


def checkpoint_step(path: Path) -> int:
    """The optimizer step of a ``checkpoint-N`` folder (-1 for any other name)."""
    m = _CHECKPOINT.match(path.name)
    return int(m.group(1)) if m else -1


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder; incomplete ones (a kill mid-save) go."""
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)),
        key=checkpoint_step,
        reverse=True,
    )
    for p in candidates:
        try:
            json.loads((p / "trainer_state.json").read_text())
            return p
        except (OSError, ValueError):
            shutil.rmtree(p, ignore_errors=True)
    return None
