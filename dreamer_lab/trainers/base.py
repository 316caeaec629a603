"""What every trainer shares: fingerprint, storage, checkpoints, progress and the record.

A training run is addressed like a step. Its fingerprint combines the trainer kind and
version, the fingerprints of the data columns (train and validation), the base model's
identity, the PEFT/quantization configuration and the hyperparameters. A finished run is
an entry of the workspace's ``models/`` store (``models/<fingerprint>/model`` plus
``record.json``) and loads instead of training again.

While a run is in progress its checkpoints live in ``<workspace>/checkpoints/<fingerprint>/``
(outside ``tmp/``, which is cleaned on start). A killed run (even ``kill -9``) resumes from
the last complete checkpoint the next time the same training is requested; the folder is
removed once the model is committed. Progress (step, loss, ETA) is written to the
workspace's progress file for the notebook layer and the loss history is kept in the record.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dreamer_lab.core.context import library_versions, notebook_context
from dreamer_lab.core.fingerprint import combine, hash_value
from dreamer_lab.core.memo import Computed, get_or_compute
from dreamer_lab.core.secrets import is_secret_name, redact, scrub_text
from dreamer_lab.core.store import Entry
from dreamer_lab.core.workspace import Workspace, current_workspace
from dreamer_lab.errors import DreamerError, StepFailedError, StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.steps.step import log_level_scope

logger = logging.getLogger("dreamer_lab")

HISTORY = "history.jsonl"

# Arguments that change how a run is observed or saved, not what it learns.
NON_FINGERPRINT_ARGS = frozenset(
    {
        "callbacks",
        "report_to",
        "logging_steps",
        "logging_strategy",
        "save_strategy",
        "save_steps",
        "save_total_limit",
        "disable_tqdm",
        "dataloader_num_workers",
        "eval_accumulation_steps",
        "poll_interval",
    }
)


class ModelCardType:
    """Kinds of model-card fragments a trainer records (DataDreamer's names)."""

    DATETIME = "Date & Time"
    MODEL_NAME = "Model Name"
    DATASET_NAME = "Dataset Name"
    LICENSE = "License Information"
    CITATION = "Citation Information"
    DATASET_CARD = "Dataset Card"
    MODEL_CARD = "Model Card"
    URL = "URL"


@dataclass
class TrainContext:
    """What a training function gets: where to checkpoint, whether to resume, a reporter."""

    trainer: Trainer
    fingerprint: str
    workspace: Workspace
    checkpoint_dir: Path
    resume_from: Path | None
    final_dir: Path
    reporter: ProgressReporter


@dataclass
class TrainResult:
    """What a training function returns (the model is already saved in ``final_dir``)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ProgressReporter:
    """Writes live progress (step, loss, ETA) and the loss history of one run.

    The history is a JSON-lines file in the checkpoint folder, so a resumed run keeps the
    history of the steps done before the kill. The progress file is the one steps use
    (``ws.progress_file(fingerprint)``), so the notebook layer reads both the same way.
    """

    def __init__(self, trainer: Trainer, workspace: Workspace, fingerprint: str, folder: Path):
        self.trainer = trainer
        self.workspace = workspace
        self.fingerprint = fingerprint
        self.history_path = folder / HISTORY
        self.started = time.time()
        self.first_step: int | None = None
        self._written = 0.0
        self.state: dict[str, Any] = {"status": "running", "step": 0, "max_steps": None}

    def log(self, entry: dict[str, Any]) -> None:
        """Append one log entry (loss, eval metrics, learning rate ...) to the history."""
        entry = {k: _jsonable(v) for k, v in entry.items()}
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
        now = time.monotonic()
        if status:
            self.state["status"] = status
        if not force and now - self._written < 0.5:
            return
        self._written = now
        total = self.state.get("max_steps")
        progress = (self.state["step"] / total) if total else None
        data = {
            "name": self.trainer.name,
            "kind": self.trainer.kind_name(),
            "fingerprint": self.fingerprint,
            "progress": progress,
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


class _SilentReporter(ProgressReporter):
    """The reporter of a non-main process in a distributed run: the main one reports."""

    def log(self, entry: dict[str, Any]) -> None:
        pass

    def write(self, *, force: bool = False, status: str | None = None) -> None:
        pass


def distributed_rank() -> tuple[int, int]:
    """``(rank, world size)`` under ``accelerate launch`` / ``torchrun``; ``(0, 1)`` otherwise."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


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


def _jsonable(v: Any) -> Any:
    if isinstance(v, bool | int | str) or v is None:
        return v
    if isinstance(v, float):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


class Trainer:
    """Base class of trainers (DataDreamer's ``Trainer``).

    Subclasses call :meth:`_fit` from their ``train...()`` methods with the data columns,
    the hyperparameters and a function that trains and saves the model.

    ``verbose=True`` logs every training log entry (step, loss, eval metrics) through the
    ``dreamer_lab`` logger; ``log_level`` is that logger's level while training (INFO when
    ``verbose`` and no level is given; a stderr handler is added if logging is not set up).
    """

    kind: ClassVar[str | None] = None
    version: ClassVar[str] = "1"
    # Under a distributed launch, whether every process runs the training function (local
    # training with collectives) or only the main one (a remote job).
    trains_in_every_process: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr, fn in list(cls.__dict__.items()):
            if callable(fn) and (attr == "train" or attr.startswith("train_with")):
                setattr(cls, attr, _records_call(fn))

    def __init__(
        self,
        name: str,
        force: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
    ):
        if not isinstance(name, str) or not name.strip():
            raise StepInputError("A trainer needs a name, e.g. TrainHFFineTune('my model', ...).")
        self.name = name
        self.force = force
        self.verbose = verbose
        self.log_level = log_level
        self.workspace: Workspace | None = None
        self._entry: Entry | None = None
        self._fingerprint: str | None = None
        self._components: dict[str, Any] | None = None
        self.cache_hit: bool | None = None
        self._reporter: ProgressReporter | None = None
        self._train_call: tuple[str, tuple, dict] | None = None  # set while train...() runs

    def _devices_to_spawn(self) -> list[str] | None:
        """Devices to start one training process each on (``device=[...]`` outside a
        distributed launch); ``None`` to train in this process."""
        from dreamer_lab.trainers.spawn import parse_devices

        devices = parse_devices(getattr(self, "device", None), self._where())
        return devices if devices and len(devices) > 1 and distributed_rank()[1] == 1 else None

    @classmethod
    def kind_name(cls) -> str:
        return cls.kind or cls.__name__

    def _where(self) -> str:
        return f"Trainer {self.name!r} ({self.kind_name()})"

    # -- identity (subclasses add the model) ----------------------------------------------
    def _identity(self) -> dict[str, Any]:
        """Fingerprint components describing the model being trained."""
        return {}

    def _card(self) -> dict[str, list[Any]]:
        """Model-card fragments of the base model (name, license, citations)."""
        return {}

    # -- data validation ----------------------------------------------------------------
    def _check_columns(
        self,
        train: dict[str, Any],
        validation: dict[str, Any] | None = None,
        *,
        optional: tuple[str, ...] = (),
    ) -> None:
        """Columns must be step columns of equal, non-zero length; validation is complete."""
        where = self._where()
        for group_name, group in (("training", train), ("validation", validation or {})):
            for arg, col in group.items():
                if col is None:
                    if group_name == "training" and arg not in optional:
                        raise StepInputError(
                            f"{where}: {arg} is missing. Pass a step column, e.g. "
                            f"{arg}=my_step.output['column']."
                        )
                    continue
                if not isinstance(col, OutputColumn):
                    hint = (
                        "a whole step: pick one of its columns, e.g. step.output['text']"
                        if hasattr(col, "output")
                        else f"a {type(col).__name__}: wrap plain data in a DataSource and pass "
                        "DataSource(...).output['column']"
                    )
                    raise StepInputError(f"{where}: {arg} must be a step column, not {hint}.")
        train_cols = {k: v for k, v in train.items() if v is not None}
        _same_length(where, "training", train_cols)
        if train_cols and len(next(iter(train_cols.values()))) == 0:
            raise StepInputError(
                f"{where}: the training data is empty (0 rows in "
                f"{', '.join(_col_name(c) for c in train_cols.values())}). Check the step that "
                "produced it (a filter that removed every row?) before training."
            )
        if validation:
            given = {k: v for k, v in validation.items() if v is not None}
            missing = [
                k for k, v in validation.items() if v is None and k not in optional and given
            ]
            if missing:
                raise StepInputError(
                    f"{where}: a validation set was given without {', '.join(missing)} (the "
                    "labels/targets to evaluate against). Pass "
                    + ", ".join(f"{m}=step.output['...']" for m in missing)
                    + ", or leave out every validation_* argument to train without one."
                )
            _same_length(where, "validation", given)
            if given and len(next(iter(given.values()))) == 0:
                raise StepInputError(
                    f"{where}: the validation data is empty (0 rows). Pass validation rows or "
                    "leave out the validation_* arguments."
                )

    # -- the run ----------------------------------------------------------------------------
    def _fit(
        self,
        *,
        data: dict[str, OutputColumn | None],
        hyperparams: dict[str, Any],
        train_fn: Callable[[TrainContext], TrainResult],
        configs: dict[str, Any] | None = None,
    ) -> None:
        """Fingerprint, then load the stored model or train (resuming) and commit it."""
        ws = current_workspace()
        self.workspace = ws
        where = self._where()
        identity = self._identity()
        components: dict[str, Any] = {
            "kind": f"{type(self).__module__}.{type(self).__qualname__}",
            "version": self.version,
            "model": identity,
            "configs": {
                k: hash_value(v, label=f"{k} of {where}") for k, v in (configs or {}).items()
            },
            "hyperparams": {
                k: hash_value(v, label=f"argument {k!r} of {where}")
                for k, v in sorted(hyperparams.items())
                if k not in NON_FINGERPRINT_ARGS and not is_secret_name(k)
            },
            "data": {k: v.__dreamer_fingerprint__() for k, v in data.items() if v is not None},
        }
        self._components = components
        self._fingerprint = fp = combine(json.dumps(components, sort_keys=True))
        parents = sorted({c.step.fingerprint for c in data.values() if c is not None})
        ctx_nb = notebook_context()

        def compute() -> Computed:
            return self._compute(ws, fp, data, hyperparams, configs or {}, train_fn, parents)

        rank, world = distributed_rank()
        devices = self._devices_to_spawn()
        level = (
            self.log_level
            if self.log_level is not None
            else (logging.INFO if self.verbose else None)
        )
        try:
            with log_level_scope(level):
                entry, hit = self._train_or_load(ws, fp, compute, train_fn, rank, world, devices)
        except BaseException as e:
            ws.lineage.add_run(
                name=self.name,
                kind=self.kind_name(),
                fingerprint=fp,
                status="failed",
                components=components,
                parents=parents,
                error=scrub_text(f"{type(e).__name__}: {e}"),
                **ctx_nb,
            )
            if self._reporter is not None:
                self._reporter.write(force=True, status="failed")
            if isinstance(e, DreamerError | KeyboardInterrupt | SystemExit):
                raise
            raise StepFailedError(
                f"{where} failed while training: {type(e).__name__}: {scrub_text(str(e))}"
            ) from e
        self._entry, self.cache_hit = entry, hit
        if rank != 0 or os.environ.get(_SPAWNED_ENV):
            return  # the main process (the caller, for spawned workers) records and cleans up
        ws.lineage.add_step(entry.record, area="models")
        ws.lineage.add_run(
            name=self.name,
            kind=self.kind_name(),
            fingerprint=fp,
            status="hit" if hit else "done",
            components=components,
            parents=parents,
            **ctx_nb,
        )
        ws.progress_file(fp).unlink(missing_ok=True)
        if not hit:
            shutil.rmtree(self.checkpoint_dir(ws, fp), ignore_errors=True)
        with log_level_scope(level):
            logger.info(
                "Trainer %r %s (%s)", self.name, "loaded from cache" if hit else "trained", fp[:12]
            )

    def _train_or_load(
        self,
        ws: Workspace,
        fp: str,
        compute: Callable[[], Computed],
        train_fn: Callable[[TrainContext], TrainResult],
        rank: int,
        world: int,
        devices: list[str] | None,
    ) -> tuple[Entry, bool]:
        if world > 1:
            return self._fit_distributed(ws, fp, compute, train_fn, rank)
        if devices:
            return self._fit_spawned(ws, fp, devices)
        return get_or_compute(ws, ws.models, fp, compute, force=self.force)

    def _fit_spawned(self, ws: Workspace, fp: str, devices: list[str]) -> tuple[Entry, bool]:
        """``device=[...]`` in one process: train in one process per device (see
        :mod:`dreamer_lab.trainers.spawn`), then load the model they committed."""
        from dreamer_lab.trainers.spawn import train_on_devices

        entry = None if self.force else ws.models.load(fp)
        if entry is not None:
            return entry, True
        if self._train_call is None:
            raise StepFailedError(f"{self._where()}: device lists need a train...() call.")
        train_on_devices(self, self._train_call, ws, fp, devices, env={_SPAWNED_ENV: "1"})
        entry = ws.models.load(fp)
        if entry is None:
            raise StepFailedError(f"{self._where()}: the training processes committed no model.")
        return entry, False

    def _fit_distributed(
        self,
        ws: Workspace,
        fp: str,
        compute: Callable[[], Computed],
        train_fn: Callable[[TrainContext], TrainResult],
        rank: int,
    ) -> tuple[Entry, bool]:
        """One run over several processes (``accelerate launch`` / ``torchrun``).

        The main process decides (cached or not, which checkpoint to resume) and commits;
        the others train alongside it (the collectives need every rank) and then load
        the committed entry.
        """
        import torch
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list

        state = PartialState(cpu=not torch.cuda.is_available())
        ckpt = self.checkpoint_dir(ws, fp)
        decision: list[Any] = [None]
        if rank == 0:
            hit = not self.force and ws.models.load(fp) is not None
            resume = None if hit else last_checkpoint(ckpt)
            decision = [(hit, str(resume) if resume else None)]
        hit, resume = broadcast_object_list(decision)[0]
        if hit:
            entry = ws.models.load(fp)
        elif rank == 0:
            entry, hit = get_or_compute(ws, ws.models, fp, compute, force=True)
        elif self.trains_in_every_process:
            own = ckpt / f"final.rank{rank}"
            train_fn(
                TrainContext(
                    trainer=self,
                    fingerprint=fp,
                    workspace=ws,
                    checkpoint_dir=ckpt,
                    resume_from=Path(resume) if resume else None,
                    final_dir=own,
                    reporter=_SilentReporter(self, ws, fp, ckpt),
                )
            )
            shutil.rmtree(own, ignore_errors=True)
        state.wait_for_everyone()  # the main process has committed
        if rank != 0:
            entry = ws.models.load(fp)
        if entry is None:
            raise StepFailedError(f"{self._where()}: the main process did not commit the model.")
        return entry, hit

    @staticmethod
    def checkpoint_dir(ws: Workspace, fingerprint: str) -> Path:
        return ws.path / "checkpoints" / fingerprint

    def _compute(
        self,
        ws: Workspace,
        fp: str,
        data: dict[str, OutputColumn | None],
        hyperparams: dict[str, Any],
        configs: dict[str, Any],
        train_fn: Callable[[TrainContext], TrainResult],
        parents: list[str],
    ) -> Computed:
        ckpt = self.checkpoint_dir(ws, fp)
        ckpt.mkdir(parents=True, exist_ok=True)
        resume = last_checkpoint(ckpt)
        final = ckpt / "final"
        shutil.rmtree(final, ignore_errors=True)
        reporter = ProgressReporter(self, ws, fp, ckpt)
        self._reporter = reporter
        reporter.write(force=True)
        if resume is not None:
            logger.info("Trainer %r resumes from %s", self.name, resume.name)
        started = time.time()
        result = train_fn(
            TrainContext(
                trainer=self,
                fingerprint=fp,
                workspace=ws,
                checkpoint_dir=ckpt,
                resume_from=resume,
                final_dir=final,
                reporter=reporter,
            )
        )
        finished = time.time()
        history = read_history(ckpt / HISTORY)
        reporter.write(force=True, status="saving")

        def write(folder: Path) -> None:
            shutil.move(str(final), str(folder / "model"))

        card = self._card()
        lineage = {
            k: {"step": v.step.fingerprint, "name": v.step.name, "column": v.column_name}
            for k, v in data.items()
            if v is not None
        }
        card.setdefault(ModelCardType.DATASET_NAME, []).extend(
            sorted({v.step.name for v in data.values() if v is not None})
        )
        record = {
            "kind": self.kind_name(),
            "name": self.name,
            "parents": parents,
            "inputs": lineage,
            "lineage": {
                "train": {k: v for k, v in lineage.items() if not k.startswith("validation")},
                "validation": {k: v for k, v in lineage.items() if k.startswith("validation")},
            },
            "base_model": self._identity(),
            "hyperparams": {k: redact(_describe(v), k) for k, v in hyperparams.items()},
            "configs": {k: redact(_describe(v), k) for k, v in configs.items()},
            "components": self._components,
            "metrics": result.metrics,
            "history": history,
            "resumed_from_step": _checkpoint_step(resume) if resume is not None else None,
            "world_size": distributed_rank()[1],
            "timings": {"started": started, "finished": finished, "seconds": finished - started},
            "created": finished,
            "versions": library_versions(),
            "card": card,
            **result.extra,
            **notebook_context(),
        }
        return Computed(write=write, record=record)

    # -- results ------------------------------------------------------------------------
    def _require_trained(self) -> Entry:
        if self._entry is None:
            raise StepInputError(
                f"{self._where()} has not been trained yet. Call .train(...) first."
            )
        return self._entry

    @property
    def fingerprint(self) -> str | None:
        """The training run's content address (None before ``train()``)."""
        return self._fingerprint

    def __dreamer_fingerprint__(self) -> str:
        self._require_trained()
        assert self._fingerprint is not None
        return self._fingerprint

    @property
    def record(self) -> dict[str, Any]:
        return self._require_trained().record

    @property
    def model_path(self) -> Path:
        """Folder of the trained model (or adapter), loadable with ``from_pretrained``."""
        return self._require_trained().path / "model"

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.record.get("metrics") or {})

    @property
    def loss_history(self) -> list[dict[str, Any]]:
        """Logged training/eval entries (step, loss, eval_*); live while training."""
        if self._entry is not None:
            return list(self._entry.record.get("history") or [])
        if self.workspace is not None and self._fingerprint is not None:
            return read_history(self.checkpoint_dir(self.workspace, self._fingerprint) / HISTORY)
        return []

    @property
    def progress(self) -> dict[str, Any] | None:
        """Live progress (step, max_steps, loss, eta_seconds) while training."""
        if self._entry is not None:
            return {"status": "done", "progress": 1.0}
        if self.workspace is None or self._fingerprint is None:
            return None
        try:
            return json.loads(self.workspace.progress_file(self._fingerprint).read_text())
        except (OSError, ValueError):
            return None

    def __repr__(self) -> str:
        state = "untrained" if self._entry is None else ("cached" if self.cache_hit else "trained")
        fp = (self._fingerprint or "")[:12]
        return f"<{type(self).__name__} {self.name!r} fingerprint={fp or '-'} {state}>"


_CKPT = re.compile(r"^checkpoint-(\d+)$")


_SPAWNED_ENV = "DREAMER_LAB_SPAWNED_TRAINER"  # set in workers started for device=[...]


def _records_call(train: Callable[..., Any]) -> Callable[..., Any]:
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


def _checkpoint_step(path: Path) -> int:
    m = _CKPT.match(path.name)
    return int(m.group(1)) if m else -1


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder; incomplete ones (a kill mid-save) go."""
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.iterdir() if p.is_dir() and _CKPT.match(p.name)),
        key=_checkpoint_step,
        reverse=True,
    )
    for p in candidates:
        try:
            json.loads((p / "trainer_state.json").read_text())
            return p
        except (OSError, ValueError):
            shutil.rmtree(p, ignore_errors=True)
    return None


def _same_length(where: str, group: str, cols: dict[str, Any]) -> None:
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise StepInputError(
            f"{where}: the {group} columns have different lengths ({detail}); each row of one "
            "must match a row of the others. Pass columns of the same step, or align them with "
            ".select()/.take()."
        )


def _col_name(col: OutputColumn) -> str:
    return f"{col.step.name!r}.output[{col.column_name!r}]"


def _describe(value: Any) -> Any:
    """A JSON-friendly description of a hyperparameter or config for the record."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_describe(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return _describe(to_dict())
        except Exception:  # noqa: BLE001
            pass
    if callable(value) and hasattr(value, "__qualname__"):
        return f"<function {value.__qualname__}>"
    return repr(value)
