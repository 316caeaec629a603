"""The ``Step`` base class: DataDreamer's authoring model over a content-addressed store.

A step declares inputs, arguments and outputs in ``setup()`` and computes rows in
``run()``. Constructing a step fingerprints it (kind, implementation version, arguments,
input columns' fingerprints, the code of user-defined steps) and then either loads the
stored result for that fingerprint or runs, commits atomically and indexes it.
Caching, storage and lineage live in :mod:`dreamer_lab.core`; this module only wires a
step's declarations to them.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

from dreamer_lab.core.context import library_versions, notebook_context
from dreamer_lab.core.fingerprint import combine, hash_value, is_user_module
from dreamer_lab.core.hooks import run_viewed
from dreamer_lab.core.memo import Computed, get_or_compute
from dreamer_lab.core.secrets import is_secret_name, redact, scrub_text
from dreamer_lab.core.store import Entry
from dreamer_lab.core.workspace import Workspace, current_workspace
from dreamer_lab.errors import DreamerError, StepFailedError, StepInputError, StepInputTypeError
from dreamer_lab.steps.data_card_type import DataCardType as DataCardType
from dreamer_lab.steps.exports import ready_for_worker_processes
from dreamer_lab.steps.lazy import LazyOutput, saved_or_lazy, serve_lazy
from dreamer_lab.steps.operations import StepOperations
from dreamer_lab.steps.output import OutputColumn, OutputDataset, OutputIterableDatasetColumn
from dreamer_lab.steps.publishing import Publishing
from dreamer_lab.steps.step_checks import (
    check_data_card_type,
    check_name,
    check_outputs_registered,
    check_register,
    check_setup_defined,
    check_subclass,
)
from dreamer_lab.steps.step_extras import StepExtras
from dreamer_lab.steps.step_runtime import StepRuntime, log_level_scope
from dreamer_lab.steps.test_hook import _INTERNAL_TEST_KEY as _INTERNAL_TEST_KEY  # noqa: F401
from dreamer_lab.steps.test_hook import StepTestHook

logger = logging.getLogger("dreamer_lab")

_REQUIRED = object()


class Step(StepTestHook, StepOperations, StepRuntime, Publishing, StepExtras):
    """Base class of every step. Subclasses implement ``setup()`` and ``run()``.

    Args:
        name: label of the step in the lineage (steps are addressed by fingerprint,
            so renaming finds the earlier result).
        inputs: ``{input_name: step.output["column"]}`` for the registered inputs.
        args: values for the registered arguments.
        outputs: ``{registered_output: new_column_name}`` to rename output columns.
        progress_interval: seconds between progress reports of the models a step runs.
        force: recompute even if a stored result exists.
        verbose: show the progress of the models a step runs.
        log_level: level of the ``dreamer_lab`` logger while the step runs (e.g.
            ``logging.INFO`` to see "computed"/"loaded from cache"; see :func:`log_level_scope`).
        save_num_proc: processes that write the output (``save_to_disk(num_proc=...)``).
        save_num_shards: Arrow files the output is written as.
        background: run in another process; ``wait()`` (or reading ``.output``) joins it.
    """

    kind: ClassVar[str | None] = None
    version: ClassVar[str] = "1"
    _is_source: ClassVar[bool] = False
    # Rows the step says it produces (``total_num_rows=``, set by subclasses before
    # ``Step.__init__``); checked once it has run.
    _expected_rows: int | None = None

    def __init__(
        self,
        name: str | None = None,
        inputs: dict[str, Any] | None = None,
        args: dict[str, Any] | None = None,
        outputs: dict[str, str] | None = None,
        progress_interval: float | None = 60,
        force: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        save_num_proc: int | None = None,
        save_num_shards: int | None = None,
        background: bool = False,
    ):
        check_name(name, type(self))
        check_setup_defined(self, Step)
        self.name = name or self.kind_name()
        self.force = force
        self.background = background
        self.progress_interval = progress_interval
        self.verbose = verbose
        self.log_level = log_level
        self.save_num_proc = save_num_proc
        self.save_num_shards = save_num_shards
        self._input_specs: dict[str, dict[str, Any]] = {}
        self._arg_specs: dict[str, dict[str, Any]] = {}
        self._output_specs: dict[str, dict[str, Any]] = {}
        self._card: dict[str, list[Any]] = {}
        self._extra_parents: list[Step] = []
        self.objects: dict[str, Any] = {}
        self._entry: Entry | None = None
        self._output: OutputDataset | None = None
        self._progress: float | None = None
        self._progress_written = 0.0
        self._proc: Any = None
        self._conn: Any = None
        self.cache_hit: bool | None = None
        self._run_id: int | None = None
        self.workspace: Workspace | None = None
        self.setup()
        self._setup_done = True  # register_input/arg/output only in setup()
        check_outputs_registered(self)
        self.inputs = self._bind_inputs(inputs or {})
        self.args = self._bind_args(args or {})
        self._rename = self._bind_outputs(outputs or {})
        self._fingerprint: str | None = None
        self._components: dict[str, Any] | None = None
        if self._defer_for_test():  # DataDreamer's test hook: the test sets the output
            return
        self._execute()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_subclass(cls)  # no __init__ in a user's step (DataDreamer's rule)

    # -- authoring API (DataDreamer's) --------------------------------------------------
    def setup(self) -> None:
        """Register inputs, arguments and outputs (at least one). Subclasses must define it."""

    def run(self) -> Any:
        """Compute the output rows. Override in subclasses."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement run(). Define run(self) returning "
            "the rows of its registered outputs (e.g. {'column': [...]})."
        )

    def register_input(
        self, input_column_name: str, required: bool = True, help: str | None = None
    ) -> None:
        check_register(self, "register_input", input_column_name)
        self._input_specs[input_column_name] = {"required": required, "help": help}

    def register_arg(
        self,
        arg_name: str,
        required: bool = True,
        default: Any = None,
        help: str | None = None,
        default_help: str | None = None,
    ) -> None:
        check_register(self, "register_arg", arg_name)
        if default_help:  # DataDreamer's description of the default joins the help text
            help = f"{help} (default: {default_help})" if help else f"default: {default_help}"
        self._arg_specs[arg_name] = {
            "required": required and default is None,
            "default": default,
            "help": help,
        }

    def register_output(self, output_column_name: str, help: str | None = None) -> None:
        check_register(self, "register_output", output_column_name)
        self._output_specs[output_column_name] = {"help": help}

    def register_data_card(self, data_card_type: str, data_card: Any) -> None:
        """Add a card fragment (model name, license, citation, prompt ...) to the record."""
        check_data_card_type(self, data_card_type)
        values = self._card.setdefault(data_card_type, [])
        if data_card not in values:
            values.append(data_card)

    @classmethod
    def kind_name(cls) -> str:
        return cls.kind or cls.__name__

    # -- binding and validation --------------------------------------------------------
    def _where(self) -> str:
        return f"Step {self.name!r} ({self.kind_name()})"

    def _bind_inputs(self, inputs: dict[str, Any]) -> dict[str, OutputColumn]:
        unknown = [k for k in inputs if k not in self._input_specs]
        if unknown:
            raise StepInputError(
                f"{self._where()}: unknown input(s) {unknown}. This step's inputs are "
                f"{list(self._input_specs) or 'none'}."
            )
        missing = [k for k, s in self._input_specs.items() if s["required"] and k not in inputs]
        if missing:
            raise StepInputError(
                f"{self._where()}: missing required input(s) {missing}. Pass them as "
                f"inputs={{{', '.join(repr(m) + ': other_step.output[...]' for m in missing)}}}."
            )
        bound = {}
        for k, v in inputs.items():
            if isinstance(v, Step):
                raise StepInputError(
                    f"{self._where()}: input {k!r} is a whole step; pass one of its columns, "
                    f"e.g. {v.name!r}.output[{(v.output.column_names or ['column'])[0]!r}]."
                )
            if not isinstance(v, OutputColumn | OutputIterableDatasetColumn):
                raise StepInputTypeError(
                    f"{self._where()}: input {k!r} must be a step column such as "
                    f"`other.output['text']`, not a {type(v).__name__}. Wrap plain data in a "
                    "DataSource first."
                )
            bound[k] = v
        lengths = {k: v.num_rows for k, v in bound.items() if v.num_rows is not None}
        if len(set(lengths.values())) > 1:
            raise StepInputError(
                f"{self._where()}: input columns have different lengths {lengths}; they must "
                "describe the same rows. Use .take()/.select() to align them."
            )
        return bound

    def _bind_args(self, args: dict[str, Any]) -> dict[str, Any]:
        # DataDreamer's steps register "**kwargs" to accept extra arguments (forwarded to a
        # model's run()); they land in self.args next to the registered ones.
        takes_kwargs = "**kwargs" in self._arg_specs
        unknown = [k for k in args if k not in self._arg_specs]
        if unknown and not takes_kwargs:
            raise StepInputError(
                f"{self._where()}: unknown argument(s) {unknown}. Valid arguments: "
                f"{list(self._arg_specs) or 'none'}."
            )
        bound = {k: args[k] for k in unknown}
        for k, spec in self._arg_specs.items():
            if k == "**kwargs":
                continue
            if k in args:
                bound[k] = args[k]
            elif spec["required"]:
                raise StepInputError(
                    f"{self._where()}: missing required argument {k!r}"
                    + (f" ({spec['help']})" if spec["help"] else "")
                    + f". Pass args={{{k!r}: ...}}."
                )
            else:
                bound[k] = spec["default"]
        return bound

    def _bind_outputs(self, outputs: dict[str, str]) -> dict[str, str]:
        """DataDreamer's ``outputs=`` renaming: any subset of the registered outputs (any
        input column for a ``"*columns"`` step); see :func:`check_renames`."""
        from dreamer_lab.steps.output_names import check_renames

        return check_renames(self, outputs)

    # -- fingerprint ---------------------------------------------------------------------
    def _fingerprint_extra(self) -> dict[str, str]:
        """Extra fingerprint components (subclasses: data digests, model identity)."""
        return {}

    def _fingerprint_components(self) -> dict[str, Any]:
        cls = type(self)
        where = self._where()
        components: dict[str, Any] = {
            "kind": f"{cls.__module__}.{cls.__qualname__}",
            "version": cls.version,
        }
        if is_user_module(cls.__module__):
            components["code"] = hash_value(cls, label=f"the code of step class {cls.__qualname__}")
        components["args"] = {
            k: hash_value(v, label=f"argument {k!r} of {where}")
            for k, v in sorted(self.args.items())
            if not is_secret_name(k)
        }
        components["inputs"] = {
            k: v.__dreamer_fingerprint__() for k, v in sorted(self.inputs.items())
        }
        components["outputs"] = {
            **{k: self._rename.get(k, k) for k in self._output_specs},
            **self._rename,
        }
        components["parents"] = [p.fingerprint for p in self._extra_parents]
        components.update(self._fingerprint_extra())
        return components

    @property
    def fingerprint(self) -> str:
        """The step's content address (32 hex digits)."""
        if self._fingerprint is None:
            self._components = self._fingerprint_components()
            self._fingerprint = combine(json.dumps(self._components, sort_keys=True))
        return self._fingerprint

    def __dreamer_fingerprint__(self) -> str:
        return self.fingerprint

    def _parent_fingerprints(self) -> list[str]:
        """Parent steps, plus trained models used through arguments (``lineage_fingerprint``)."""
        fps = [p.fingerprint for p in self.parents]
        for value in self.args.values():
            fp = getattr(value, "lineage_fingerprint", None)
            if isinstance(fp, str) and fp not in fps:
                fps.append(fp)
        return fps

    @property
    def parents(self) -> list[Step]:
        seen: dict[str, Step] = {}
        for col in self.inputs.values():
            seen.setdefault(col.step.fingerprint, col.step)
        for p in self._extra_parents:
            seen.setdefault(p.fingerprint, p)
        return list(seen.values())

    # -- execution -----------------------------------------------------------------------
    def _execute(self) -> None:
        self._join_super_step()  # an inner step of a running SuperStep?
        for parent in self.parents:
            parent.wait()
        self.workspace = current_workspace()
        _ = self.fingerprint  # validate hashability before anything runs
        if self.background:
            self._start_background()
            return
        with log_level_scope(self.log_level):
            run_viewed(self, self._run_and_store)  # a notebook cell's live view (core.hooks)

    def _run_and_store(self) -> None:
        ws = self.workspace
        assert ws is not None
        ctx = notebook_context()
        t0 = time.time()
        try:
            entry, hit = get_or_compute(
                ws, ws.steps, self.fingerprint, self._compute, force=self.force
            )
        except LazyOutput as lazy:  # a lazy result: served, not stored
            serve_lazy(self, lazy)
            return
        except BaseException as e:
            ws.lineage.add_run(
                name=self.name,
                kind=self.kind_name(),
                fingerprint=self.fingerprint,
                status="failed",
                components=self._components,
                parents=self._parent_fingerprints(),
                error=scrub_text(f"{type(e).__name__}: {e}"),
                **ctx,
            )
            ws.progress_file(self.fingerprint).unlink(missing_ok=True)
            if isinstance(e, DreamerError | NotImplementedError | KeyboardInterrupt | SystemExit):
                raise  # NotImplementedError: a run() not written yet, as DataDreamer raises it
            raise StepFailedError(
                f"{self._where()} failed in run(): {type(e).__name__}: {scrub_text(str(e))}"
            ) from e
        finally:
            self._cleanup_scratch()
        if hit:
            self._check_row_count(entry.record.get("rows"))
        self._entry = entry
        self.cache_hit = hit
        ws.lineage.add_step(entry.record)
        self._run_id = ws.lineage.add_run(
            name=self.name,
            kind=self.kind_name(),
            fingerprint=self.fingerprint,
            status="hit" if hit else "done",
            components=self._components,
            parents=self._parent_fingerprints(),
            **ctx,
        )
        ws.progress_file(self.fingerprint).unlink(missing_ok=True)
        logger.info(
            "Step %r %s (%s) in %.2fs",
            self.name,
            "loaded from cache" if hit else "computed",
            self.fingerprint[:12],
            time.time() - t0,
        )

    def _output_names(self) -> list[str] | None:
        return list(self._output_specs) or None

    def _produce(self) -> Any:
        """Run and normalize: a ``datasets.Dataset``, or ``(IterableDataset, LazyRows)`` for
        a lazy result (overridden by operations)."""
        from dreamer_lab.steps.normalize import to_output

        self._progress = 0.0
        with self._running():  # steps made in run() must be a SuperStep's (step_extras)
            result = self.run()
        return to_output(result, self._output_names(), self._where())

    def _compute(self) -> Computed:
        import datasets

        started = time.time()
        self._write_progress("running")
        # Stored entries are immutable: with caching on, datasets would write cache files
        # next to the parents' Arrow files. With it off, it writes to a temp dir instead.
        caching = datasets.is_caching_enabled()
        datasets.disable_caching()
        try:
            dataset = saved_or_lazy(self, self._produce())
        finally:
            if caching:
                datasets.enable_caching()
        if self._rename:
            dataset = dataset.rename_columns(self._rename)
        if self._is_source and dataset.num_rows == 0:
            raise StepInputError(
                f"{self._where()}: the data source is empty (0 rows). Check the data or the "
                "file paths you passed."
            )
        self._check_row_count(dataset.num_rows)
        finished = time.time()
        ctx = notebook_context()

        def write(folder: Path) -> None:
            import datasets

            kwargs: dict[str, Any] = {}
            num_shards = getattr(self, "_lazy_save", {}).get("num_shards") or self.save_num_shards
            num_proc = getattr(self, "_lazy_save", {}).get("num_proc") or self.save_num_proc
            if num_shards:
                kwargs["num_shards"] = num_shards
            if num_proc and num_proc > 1:
                kwargs["num_proc"] = num_proc
                ready_for_worker_processes()
            if dataset.num_rows == 0:
                # datasets writes zero shards for an empty dataset, then cannot load it.
                kwargs = {"num_shards": 1}
            was_enabled = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()  # saving is fast; its bar is noise in cells
            try:
                dataset.save_to_disk(str(folder / "data"), **kwargs)
            finally:
                if was_enabled:
                    datasets.enable_progress_bars()

        record = {
            "kind": self.kind_name(),
            "name": self.name,
            "parents": self._parent_fingerprints(),
            "inputs": {
                k: {"step": v.step.fingerprint, "name": v.step.name, "column": v.column_name}
                for k, v in self.inputs.items()
            },
            "args": {k: redact(v, k) for k, v in self.args.items()},
            "components": self._components,
            "rows": dataset.num_rows,
            "columns": list(dataset.column_names),
            "features": {k: str(v) for k, v in dataset.features.items()},
            "timings": {"started": started, "finished": finished, "seconds": finished - started},
            "created": finished,
            "versions": library_versions(),
            "notebook": ctx["notebook"],
            "cell_id": ctx["cell_id"],
            "card": redact(self._card),
        }
        return Computed(write=write, record=record, objects=dict(self.objects))

    def _check_row_count(self, rows: int | None) -> None:
        """``total_num_rows=`` must match what the step produced (a wrong count is a bug in
        the caller's expectations, and a wrong progress total)."""
        if self._expected_rows is not None and rows is not None and rows != self._expected_rows:
            raise StepInputError(
                f"{self._where()}: total_num_rows={self._expected_rows}, but the step produced "
                f"{rows} rows. Pass the actual number of rows, or omit total_num_rows."
            )


def wait(*steps: Step, poll_interval: float = 1.0) -> None:
    """Wait for background steps to finish (each is joined; ``poll_interval`` is
    DataDreamer's and unused: nothing polls)."""
    for s in steps:
        if not isinstance(s, Step):
            raise TypeError(f"wait() takes steps, got {type(s).__name__}: {s!r}.")
        s.wait()


def __getattr__(name: str) -> Any:
    """DataDreamer's operation step classes (``MapStep``, ``SaveStep`` ...), importable from
    here as there; defined in :mod:`dreamer_lab.steps.operation_step`, which imports this
    module."""
    from dreamer_lab.steps import operation_step

    if name in operation_step.__all__:
        return getattr(operation_step, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
