"""Training over several processes: under a launcher, or one process per listed device.

Under ``accelerate launch`` / ``torchrun`` every process calls ``train...()``: the main
process decides (cached or not, which checkpoint to resume) and commits, the others train
alongside it (the collectives need every rank) and then load the committed entry.
``device=[...]`` outside a launcher starts one such process per device (see
:mod:`dreamer_lab.trainers.spawn`) and loads what they committed.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.memo import Computed, get_or_compute
from dreamer_lab.core.store import Entry
from dreamer_lab.core.workspace import Workspace
from dreamer_lab.errors import StepFailedError
from dreamer_lab.trainers.calls import TrainContext, TrainResult
from dreamer_lab.trainers.checkpoints import checkpoint_dir, last_checkpoint
from dreamer_lab.trainers.progress import SilentReporter

if TYPE_CHECKING:
    from dreamer_lab.trainers.base import Trainer

SPAWNED_ENV = "DREAMER_LAB_SPAWNED_TRAINER"  # set in workers started for device=[...]


def distributed_rank() -> tuple[int, int]:
    """``(rank, world size)`` under ``accelerate launch`` / ``torchrun``; ``(0, 1)`` otherwise."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def is_spawned_worker() -> bool:
    """Whether this process was started for ``device=[...]`` (its caller records the run)."""
    return bool(os.environ.get(SPAWNED_ENV))


def records_call(train: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``train...()`` method so the trainer knows the outermost call while it runs
    (``device=[...]`` repeats that call in each training process)."""

    @functools.wraps(train)
    def wrapper(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_train_call", None) is not None:  # a train...() calling another
            return train(self, *args, **kwargs)
        self._train_call = (train.__name__, args, kwargs)
        try:
            return train(self, *args, **kwargs)
        finally:
            self._train_call = None

    return wrapper


def devices_to_spawn(trainer: Trainer) -> list[str] | None:
    """Devices to start one training process each on (``device=[...]`` outside a
    distributed launch); ``None`` to train in this process."""
    from dreamer_lab.trainers.spawn import parse_devices

    devices = parse_devices(getattr(trainer, "device", None), trainer._where())
    return devices if devices and len(devices) > 1 and distributed_rank()[1] == 1 else None


def fit_spawned(trainer: Trainer, ws: Workspace, fp: str, devices: list[str]) -> tuple[Entry, bool]:
    """Train in one process per device, then load the model they committed."""
    from dreamer_lab.trainers.spawn import train_on_devices

    entry = None if trainer.force else ws.models.load(fp)
    if entry is not None:
        return entry, True
    if trainer._train_call is None:
        raise StepFailedError(f"{trainer._where()}: device lists need a train...() call.")
    train_on_devices(trainer, trainer._train_call, ws, fp, devices, env={SPAWNED_ENV: "1"})
    entry = ws.models.load(fp)
    if entry is None:
        raise StepFailedError(f"{trainer._where()}: the training processes committed no model.")
    return entry, False


def fit_distributed(
    trainer: Trainer,
    ws: Workspace,
    fp: str,
    compute: Callable[[], Computed],
    train_fn: Callable[[TrainContext], TrainResult],
    rank: int,
) -> tuple[Entry, bool]:
    """This process's part of one run over several processes (see the module docstring)."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    state = PartialState(cpu=not torch.cuda.is_available())
    ckpt = checkpoint_dir(ws, fp)
    decision: list[Any] = [None]
    if rank == 0:
        hit = not trainer.force and ws.models.load(fp) is not None
        resume = None if hit else last_checkpoint(ckpt)
        decision = [(hit, str(resume) if resume else None)]
    hit, resume = broadcast_object_list(decision)[0]
    if hit:
        entry = ws.models.load(fp)
    elif rank == 0:
        entry, hit = get_or_compute(ws, ws.models, fp, compute, force=True)
    elif trainer.trains_in_every_process:
        own = ckpt / f"final.rank{rank}"
        reporter = SilentReporter(trainer, ws, fp, ckpt)
        train_fn(TrainContext.of_run(reporter, Path(resume) if resume else None, own))
        shutil.rmtree(own, ignore_errors=True)
    state.wait_for_everyone()  # the main process has committed
    if rank != 0:
        entry = ws.models.load(fp)
    if entry is None:
        raise StepFailedError(f"{trainer._where()}: the main process did not commit the model.")
    return entry, hit
