"""Where a run in progress keeps its checkpoints, and which one it resumes from.

A run's checkpoints live in ``<workspace>/checkpoints/<fingerprint>/`` (outside ``tmp/``,
which is cleaned on start), as the ``checkpoint-N`` folders the Hugging Face trainers
write. A killed run (even ``kill -9``) resumes from the last complete one the next time
the same training is requested; the folder is removed once the model is committed.

In an object-storage workspace each complete checkpoint is also uploaded to the bucket (in
the background, see :mod:`dreamer_lab.core.remote_checkpoints`), so the run resumes on
another machine from the last one that reached it; a local workspace runs none of this.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dreamer_lab.core.remote_checkpoints import checkpoint_step
from dreamer_lab.core.workspace import Workspace
from dreamer_lab.trainers.progress import HISTORY


def checkpoint_dir(ws: Workspace, fingerprint: str) -> Path:
    """The checkpoint folder of the run ``fingerprint`` in ``ws``."""
    return ws.path / "checkpoints" / fingerprint


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder; incomplete ones (a kill mid-save) go."""
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.iterdir() if p.is_dir() and checkpoint_step(p) >= 0),
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


def checkpoint_mirror(ws: Workspace, fingerprint: str) -> Any:
    """The bucket's copy of the run's checkpoints (a ``CheckpointMirror``), or None for a
    local workspace."""
    make = getattr(ws, "checkpoint_mirror", None)
    if make is None:
        return None
    return make(fingerprint, (HISTORY,))  # the resumed run's record keeps the earlier losses


def resume_point(mirror: Any, folder: Path, *, world: int = 1) -> Path | None:
    """The checkpoint to resume from: the newest local one, or a newer one from the bucket
    (downloaded into ``folder``; single-process runs only, where no other rank decided)."""
    have = last_checkpoint(folder)
    if mirror is None or world > 1:
        return have
    return mirror.restore(folder, have)


@contextlib.contextmanager
def uploading(trainer: Any, mirror: Any) -> Iterator[None]:
    """While training, ``trainer._checkpoint_mirror`` is ``mirror`` (the trainer hands it
    checkpoints). After: a successful run drops a queued upload (its model is about to be
    committed), a failed one still uploads it, to resume elsewhere."""
    if mirror is None:
        yield
        return
    trainer._checkpoint_mirror = mirror
    ok = False
    try:
        yield
        ok = True
    finally:
        trainer._checkpoint_mirror = None
        mirror.finish(upload_queued=not ok)


def upload_callback(mirror: Any) -> Any:
    """A ``transformers.TrainerCallback`` handing each saved checkpoint to ``mirror``."""
    from transformers import TrainerCallback

    class _Upload(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                mirror.saved(folder)

    return _Upload()


def discard_checkpoints(ws: Workspace, fingerprint: str) -> None:
    """Remove the run's checkpoints (its model is committed), here and in the bucket."""
    shutil.rmtree(checkpoint_dir(ws, fingerprint), ignore_errors=True)
    mirror = checkpoint_mirror(ws, fingerprint)
    if mirror is not None:
        mirror.clear()
