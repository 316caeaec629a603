"""The running side of a :class:`~dreamer_lab.steps.step.Step`: progress reports, the
scratch folder, background runs in another process, and reading the stored result.

A lazy output (``LazyRows`` without ``save``) has no stored entry: ``head()`` streams its
first rows, ``record`` describes it from memory (``"lazy": True``), and ``path`` /
``load_object()`` raise ``RuntimeError`` saying to ``.save()`` it first (as DataDreamer's
``dataset_path`` does). With ``background=True`` the child process reports a lazy result
and ``wait()`` builds the lazy output in this process (``run()`` is called again here: it
only sets up the stream; the rows are produced as they are read).

A mixin of ``Step`` (it uses the step's ``workspace``, ``fingerprint``, ``_entry`` and
``_run_and_store``); import ``Step`` from :mod:`dreamer_lab.steps.step`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamer_lab.core import run_options
from dreamer_lab.core.secrets import redact, scrub_text
from dreamer_lab.errors import StepFailedError, StepInputError
from dreamer_lab.steps.output import OutputDataset, OutputIterableDataset

_SAVE_HINT = "Use .save() on the step to first save it to disk."
logger = logging.getLogger("dreamer_lab")

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step


class StepRuntime:
    """Progress, background runs and results of a step (mixed into ``Step``)."""

    # -- progress ------------------------------------------------------------------------
    @property
    def progress(self) -> float | None:
        """Fraction done (0..1) while running; 1.0 once complete."""
        if self._entry is not None:
            return 1.0
        if self._proc is not None and self.workspace is not None:
            try:
                data = json.loads(self.workspace.progress_file(self.fingerprint).read_text())
                return data.get("progress")
            except (OSError, ValueError):
                return None
        return self._progress

    @progress.setter
    def progress(self, value: float) -> None:
        self._advance_progress(value)

    def _advance_progress(self, value: float, persist: bool = True) -> None:
        """Move progress to ``value``; it never goes back (DataDreamer's) and is capped at 1.
        ``persist=False`` (a lazy output being read): no progress file is written."""
        before = self._progress
        self._progress = max(self._progress or 0.0, min(1.0, float(value)))
        if self._progress != before:
            self._log_progress(f"{int(self._progress * 100)}%", final=self._progress >= 1)
        now = time.monotonic()
        if not persist:
            return
        if self.workspace is not None and (now - self._progress_written > 0.5 or value >= 1):
            self._progress_written = now
            self._write_progress("running")

    def _log_progress(self, text: str, final: bool = False) -> None:
        """DataDreamer's progress line on the ``dreamer_lab`` logger (INFO: shown with
        ``verbose=True`` or ``log_level=logging.INFO``), at most every ``progress_interval``
        seconds (None: never), and when it completes."""
        interval = self.progress_interval
        if interval is None or not logger.isEnabledFor(logging.INFO):
            return
        now = time.monotonic()
        last = getattr(self, "_progress_logged", None)
        if final or last is None or now - last >= interval:
            self._progress_logged = now
            logger.info("Step %r progress: %s 🔄", self.name, text)

    def _write_progress(self, status: str) -> None:
        assert self.workspace is not None
        path = self.workspace.progress_file(self.fingerprint)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(
                json.dumps(
                    {
                        "name": self.name,
                        "kind": self.kind_name(),
                        "fingerprint": self.fingerprint,
                        "status": status,
                        "progress": self._progress,
                        "pid": os.getpid(),
                        "updated": time.time(),
                    }
                )
            )
            os.replace(tmp, path)
        except OSError:
            pass

    def get_run_output_folder_path(self) -> Path:
        """A scratch folder for run() (inside the workspace's tmp/)."""
        assert self.workspace is not None
        d = self.workspace.path / "tmp" / f"run.{self.fingerprint}.{os.getpid()}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _cleanup_scratch(self) -> None:
        if self.workspace is None:
            return
        import shutil

        d = self.workspace.path / "tmp" / f"run.{self.fingerprint}.{os.getpid()}"
        shutil.rmtree(d, ignore_errors=True)

    # -- background ----------------------------------------------------------------------
    def _start_background(self) -> None:
        ctx = multiprocessing.get_context("fork")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=self._background_main, args=(send,), daemon=False)
        proc.start()
        send.close()
        self._proc, self._conn = proc, recv

    def _background_main(self, conn: Any) -> None:  # runs in the child process
        code = 0
        try:
            with log_level_scope(self.log_level):
                self._run_and_store()
            # A lazy result is a stream, not rows: the parent builds it again (see wait()).
            conn.send(("ok" if self._entry is not None else "lazy", self.cache_hit, None))
        except BaseException as e:  # noqa: BLE001
            code = 1
            conn.send(("error", type(e).__name__, scrub_text(f"{e}\n{traceback.format_exc()}")))
        finally:
            conn.close()
            os._exit(code)

    def wait(self) -> Step:
        """Block until a background step has finished (no-op otherwise)."""
        if self._proc is None:
            return self
        try:
            status, a, b = self._conn.recv()
        except EOFError:
            status, a, b = "error", "ProcessDied", "the background process exited without a result"
        self._proc.join()
        self._proc, self._conn = None, None
        if status == "lazy":
            with log_level_scope(self.log_level):
                self._run_and_store()  # run() again here: it returns the stream
            return self
        if status != "ok":
            raise StepFailedError(f"{self._where()} failed in the background: {a}: {b}")
        assert self.workspace is not None
        entry = self.workspace.steps.load(self.fingerprint)
        if entry is None:
            raise StepFailedError(f"{self._where()}: the background run left no result.")
        self._entry, self.cache_hit = entry, a
        return self

    # -- results -------------------------------------------------------------------------
    @property
    def output(self) -> OutputDataset | OutputIterableDataset:
        """The output rows, memory-mapped from the workspace."""
        self.wait()
        if self._output is None:
            assert self._entry is not None
            self._output = OutputDataset(self, self._entry.dataset())
        return self._output

    @property
    def is_lazy(self) -> bool:
        """True when the output is streamed and was not saved (no stored entry)."""
        self.wait()
        return self._entry is None and isinstance(self._output, OutputIterableDataset)

    @property
    def record(self) -> dict[str, Any]:
        """The stored entry's record; for a lazy output, one built in memory (marked
        ``"lazy": True``; nothing is stored until ``.save()``)."""
        if self.is_lazy:
            return self._lazy_record()
        assert self._entry is not None
        return self._entry.record

    def _lazy_record(self) -> dict[str, Any]:
        out = self._output
        assert isinstance(out, OutputIterableDataset)
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind_name(),
            "name": self.name,
            "lazy": True,
            "parents": self._parent_fingerprints(),
            "inputs": {
                k: {"step": v.step.fingerprint, "name": v.step.name, "column": v.column_name}
                for k, v in self.inputs.items()
            },
            "args": {k: redact(v, k) for k, v in self.args.items()},
            "components": self._components,
            "rows": out.num_rows,
            "columns": out.column_names,
            "features": {k: str(v) for k, v in (out.dataset.features or {}).items()},
            "card": redact(self._card),
        }

    def _stored(self, what: str) -> Any:
        """The stored entry, or a RuntimeError naming ``what`` for a lazy output."""
        if self.is_lazy:
            raise RuntimeError(
                f"{self._where()}: the output is lazy (streamed, not stored), so it has no "
                f"{what} yet. {_SAVE_HINT} (step.save() returns a stored copy)."
            )
        assert self._entry is not None
        return self._entry

    @property
    def path(self) -> Path:
        """The folder of the stored entry (a lazy output has none until saved)."""
        return self._stored("folder on disk").path

    def load_object(self, name: str) -> Any:
        """A non-tabular result saved by run() in ``self.objects`` (signature-checked)."""
        return self._stored("saved objects").load_object(name)

    def head(
        self, n: int = 5, shuffle: bool = False, seed: int | None = None, buffer_size: int = 1000
    ) -> Any:
        """The first ``n`` rows as a pandas DataFrame (streamed: a lazy output produces only
        those rows; ``shuffle`` draws from a seeded buffer of ``buffer_size`` rows)."""
        return self.output.head(n=n, shuffle=shuffle, seed=seed, buffer_size=buffer_size)

    def explain(self) -> Any:
        """Why this step was (not) a cache hit, compared with the previous run of its name."""
        from dreamer_lab.core.explain import explain

        return explain(self)

    def __repr__(self) -> str:
        state = (
            "running" if self._proc is not None else ("cached" if self.cache_hit else "computed")
        )
        rows = self._entry.record.get("rows") if self._entry is not None else "?"
        if self._entry is None and isinstance(self._output, OutputIterableDataset):
            state, rows = "lazy", self._output.num_rows or "?"
        return (
            f"<{type(self).__name__} {self.name!r} fingerprint={self.fingerprint[:12]} "
            f"rows={rows} {state}>"
        )

    def __str__(self) -> str:
        """DataDreamer's description: name, inputs, arguments, output names, progress and
        output (``print(step)``; ``repr()`` is the one-line summary)."""

        def block(label: str, items: list[str]) -> list[str]:
            if not items:
                return [f"\t{label}={{}},"]
            return [f"\t{label}={{", ",\n".join(f"\t\t{i}" for i in items), "\t},"]

        lines = [f"{type(self).__name__}(", f"\tname={self.name!r},"]
        lines += block("inputs", [f"{k!r}: {v!r}" for k, v in self.inputs.items()])
        if self._arg_specs:
            lines += block("args", [f"{k!r}: {v!r}" for k, v in self.args.items()])
        renamed = [f"{k!r} => {self._rename.get(k, k)!r}" for k in self._output_specs]
        lines += block("outputs", renamed)
        done = self._entry is not None or self._output is not None
        progress = 1.0 if done else (self._progress or 0.0)
        lines.append(f"\tprogress='{int(progress * 100)}%',")
        lines += [f"\toutput={self.output if done else None!r},", ")"]
        return "\n".join(lines)


def log_level_scope(level: int | str | None) -> contextlib.AbstractContextManager[None]:
    """Set the ``dreamer_lab`` logger to ``level`` for the duration (``None``: unchanged).

    When logging is not configured at all, a stderr handler is added for the duration, so
    ``log_level=logging.INFO`` shows the INFO lines it enables.
    """
    return run_options.log_level_scope(level, StepInputError)
