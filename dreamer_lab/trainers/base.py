"""The trainer base class: a run's fingerprint, its training or loading, and its record.

A training run is addressed like a step. Its fingerprint combines the trainer kind and
version, the fingerprints of the data columns (train and validation), the base model's
identity, the PEFT/quantization configuration and the hyperparameters. A finished run is
an entry of the workspace's ``models/`` store (``models/<fingerprint>/model`` plus
``record.json``) and loads instead of training again. A run in progress checkpoints (see
:mod:`~dreamer_lab.trainers.checkpoints`) and reports its progress and loss history (see
:mod:`~dreamer_lab.trainers.progress`); several processes train one run together as
:mod:`~dreamer_lab.trainers.distributed` describes.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from dreamer_lab.core.context import library_versions, notebook_context
from dreamer_lab.core.fingerprint import combine, hash_value
from dreamer_lab.core.hooks import render_model_card, run_viewed
from dreamer_lab.core.loadable import Loadable
from dreamer_lab.core.memo import Computed, get_or_compute
from dreamer_lab.core.secrets import is_secret_name, redact, scrub_text
from dreamer_lab.core.store import Entry
from dreamer_lab.core.workspace import Workspace, current_workspace
from dreamer_lab.errors import DreamerError, StepFailedError, StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.steps.step import DataCardType, log_level_scope
from dreamer_lab.trainers.calls import TrainCall, TrainContext, TrainResult, check_columns, trains
from dreamer_lab.trainers.checkpoints import (
    checkpoint_dir,
    checkpoint_mirror,
    checkpoint_step,
    discard_checkpoints,
    resume_point,
    uploading,
)
from dreamer_lab.trainers.distributed import (
    devices_to_spawn,
    distributed_rank,
    fit_distributed,
    fit_spawned,
    is_spawned_worker,
    records_call,
)
from dreamer_lab.trainers.progress import HISTORY, ProgressReporter, read_history

__all__ = [
    "HISTORY",
    "ModelCardType",
    "TrainCall",
    "TrainContext",
    "TrainResult",
    "Trainer",
    "read_history",
    "trains",
]

logger = logging.getLogger("dreamer_lab")

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


class ModelCardType(DataCardType):
    """Kinds of model-card fragments a trainer records (DataDreamer's names; the same
    strings as the steps' data cards)."""


class Trainer(Loadable):
    """Base class of trainers (DataDreamer's ``Trainer``).

    Subclasses declare their ``train...()`` methods with :func:`.calls.trains` (DataDreamer's
    signature, the function that trains), check a call in :meth:`_prepare` and say which
    hyperparameters their training function consumes (``consumes``; the rest go to the
    library's training arguments). :meth:`_fit` is the step below: data columns,
    hyperparameters and a function that trains and saves the model.

    ``verbose=True`` logs every training log entry (step, loss, eval metrics) through the
    ``dreamer_lab`` logger; ``log_level`` is that logger's level while training (INFO when
    ``verbose`` and no level is given; a stderr handler is added if logging is not set up).
    """

    kind: ClassVar[str | None] = None
    version: ClassVar[str] = "1"
    # Under a distributed launch, whether every process runs the training function (local
    # training with collectives) or only the main one (a remote job).
    trains_in_every_process: ClassVar[bool] = True
    # Hyperparameters the training functions read themselves (not passed on).
    consumes: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr, fn in list(cls.__dict__.items()):
            if callable(fn) and (attr == "train" or attr.startswith("train_with")):
                setattr(cls, attr, records_call(fn))

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

    def _configs(self) -> dict[str, Any]:
        """Configuration objects fingerprinted beside the hyperparameters (PEFT ...)."""
        return {}

    # -- the run ----------------------------------------------------------------------------
    def _prepare(self, call: TrainCall) -> TrainCall:
        """Check what the column checks cannot (labels, scores, settings) before anything is
        fingerprinted or loaded; may describe arguments otherwise in ``call.hyperparams``."""
        return call

    def _train(
        self, call: TrainCall, run: Callable[[TrainContext, TrainCall], TrainResult]
    ) -> None:
        """Check one ``train...()`` call, then load its model or train it with ``run``."""
        check_columns(self._where(), call.split("train"), call.split("validation"))
        call = self._prepare(call)
        fit = functools.partial(
            self._fit,
            data=call.data,
            hyperparams=call.hyperparams,
            train_fn=lambda ctx: run(ctx, call),
            configs=self._configs(),
        )
        run_viewed(self, fit)  # a notebook cell shows its live view (see core.hooks)

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
        self._components = components = self._fingerprint_components(data, hyperparams, configs)
        self._fingerprint = fp = combine(json.dumps(components, sort_keys=True))
        parents = sorted({c.step.fingerprint for c in data.values() if c is not None})
        add_run = functools.partial(
            ws.lineage.add_run,
            name=self.name,
            kind=self.kind_name(),
            fingerprint=fp,
            components=components,
            parents=parents,
            **notebook_context(),
        )

        def compute() -> Computed:
            return self._compute(ws, fp, data, hyperparams, configs or {}, train_fn, parents)

        rank, world = distributed_rank()
        devices = devices_to_spawn(self)
        level = (
            self.log_level
            if self.log_level is not None
            else (logging.INFO if self.verbose else None)
        )
        try:
            with log_level_scope(level):
                entry, hit = self._train_or_load(ws, fp, compute, train_fn, rank, world, devices)
        except BaseException as e:
            add_run(status="failed", error=scrub_text(f"{type(e).__name__}: {e}"))
            if self._reporter is not None:
                self._reporter.write(force=True, status="failed")
            if isinstance(e, DreamerError | KeyboardInterrupt | SystemExit):
                raise
            raise StepFailedError(
                f"{self._where()} failed while training: {type(e).__name__}: {scrub_text(str(e))}"
            ) from e
        self._entry, self.cache_hit = entry, hit
        if rank != 0 or is_spawned_worker():
            return  # the main process (the caller, for spawned workers) records and cleans up
        ws.lineage.add_step(entry.record, area="models")
        add_run(status="hit" if hit else "done")
        ws.progress_file(fp).unlink(missing_ok=True)
        if not hit:
            discard_checkpoints(ws, fp)
        with log_level_scope(level):
            logger.info(
                "Trainer %r %s (%s)", self.name, "loaded from cache" if hit else "trained", fp[:12]
            )

    def _fingerprint_components(
        self,
        data: dict[str, OutputColumn | None],
        hyperparams: dict[str, Any],
        configs: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """What the run's fingerprint combines (kind, model, configs, hyperparameters, data)."""
        where = self._where()
        return {
            "kind": f"{type(self).__module__}.{type(self).__qualname__}",
            "version": self.version,
            "model": self._identity(),
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
            return fit_distributed(self, ws, fp, compute, train_fn, rank)
        if devices:
            return fit_spawned(self, ws, fp, devices)
        return get_or_compute(ws, ws.models, fp, compute, force=self.force)

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
        ckpt = checkpoint_dir(ws, fp)
        ckpt.mkdir(parents=True, exist_ok=True)
        mirror = checkpoint_mirror(ws, fp)
        resume = resume_point(mirror, ckpt, world=distributed_rank()[1])
        final = ckpt / "final"
        shutil.rmtree(final, ignore_errors=True)
        reporter = ProgressReporter(self, ws, fp, ckpt)
        self._reporter = reporter
        reporter.write(force=True)
        if resume is not None:
            logger.info("Trainer %r resumes from %s", self.name, resume.name)
        started = time.time()
        with uploading(self, mirror):
            result = train_fn(TrainContext.of_run(reporter, resume, final))
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
            "resumed_from_step": checkpoint_step(resume) if resume is not None else None,
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
    def load_model(self) -> None:
        """Load the trained model now, if trained (``with trainer:`` unloads it on exit)."""
        if self._entry is not None:
            super().load_model()

    def model_card(self, is_synthetic: bool = True) -> None:
        """Print the trained model's card (DataDreamer's ``model_card()``): the one
        ``publish_to_hf_hub`` uploads (``dreamer_lab.cards.model_card`` renders it)."""
        self._require_trained()
        print(render_model_card(self, is_synthetic))

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
            return read_history(checkpoint_dir(self.workspace, self._fingerprint) / HISTORY)
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
