"""The ``run()`` options every model backend shares (DataDreamer's names and effects).

``LLM.run``, the task models' ``run`` (``Embedder``, ``HFClassificationTaskModel``) and
``EmbeddingRetriever.run`` take the same controls; they get their effect here, once:

* ``batch_size`` / ``batch_scheduler_buffer_size``: :meth:`RunOptions.schedule` reads the
  inputs still to compute in buffers of ``batch_scheduler_buffer_size`` (default
  ``max(10 * batch_size, 1000)``, rounded up to a multiple of ``batch_size``) and sorts each
  buffer by length, so a batch holds inputs of similar length (less padding). A buffer of
  ``batch_size`` (or a negative value, as in DataDreamer) keeps the given order.
* ``adaptive_batch_size``: :func:`adaptive_batches` halves a batch that runs out of memory;
  with ``False`` the out-of-memory error is raised as :class:`BatchOutOfMemoryError`.
* ``progress_interval`` / ``verbose``: :class:`Progress` (a ``tqdm`` bar, the step's
  progress, and a ``dreamer_lab`` INFO log line at most every ``progress_interval`` s).
* ``log_level``: :func:`log_level_scope` sets the ``dreamer_lab`` logger for the call.
* ``total_num_*``: :func:`collect` checks it against the number of inputs.

``DataDreamer(verbose=, log_level=)`` sets the defaults of a session
(:func:`session_logging`): its logger level, and the ``verbose`` of runs that pass none.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from dreamer_lab.errors import BatchOutOfMemoryError  # noqa: F401

T = TypeVar("T")

logger = logging.getLogger("dreamer_lab")

_sessions: list[tuple[object, bool | None]] = []  # (token, verbose) per open session
_sessions_lock = threading.Lock()


def _bad(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def resolve_log_level(level: int | str | None, error: type[Exception] = ValueError) -> int | None:
    """``level`` as a logging level number (``"info"`` -> 20; ``None`` stays ``None``)."""
    if level is None:
        return None
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if isinstance(resolved, int):
            return resolved
    elif not _bad(level):
        return level
    raise error(
        f"log_level={level!r} is not a logging level; use logging.INFO, 'debug', 'warning' ..."
    )


@contextlib.contextmanager
def log_level_scope(level: int | str | None, error: type[Exception] = ValueError) -> Iterator[None]:
    """Set the ``dreamer_lab`` logger to ``level`` for the duration (``None``: unchanged).

    When logging is not configured at all, a stderr handler is added for the duration, so
    ``log_level=logging.INFO`` shows the INFO lines it enables.
    """
    resolved = resolve_log_level(level, error)
    if resolved is None:
        yield
        return
    before = logger.level
    handler = None
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[dreamer_lab] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(resolved)
    try:
        yield
    finally:
        logger.setLevel(before)
        if handler is not None:
            logger.removeHandler(handler)


def _check_verbose(verbose: Any, where: str, error: type[Exception]) -> None:
    if verbose is not None and not isinstance(verbose, bool):
        raise error(f"{where}: verbose must be True, False or None, got {verbose!r}.")


@contextlib.contextmanager
def session_logging(verbose: bool | None, log_level: int | str | None) -> Iterator[None]:
    """A session's logging: the logger at ``log_level`` (INFO when ``verbose`` and no
    level is given), and ``verbose`` as the default of the runs inside it."""
    _check_verbose(verbose, "DataDreamer()", ValueError)
    level = resolve_log_level(log_level)
    token = object()
    with _sessions_lock:
        _sessions.append((token, verbose))
    try:
        with log_level_scope(level if level is not None else logging.INFO if verbose else None):
            yield
    finally:
        with _sessions_lock:
            _sessions[:] = [s for s in _sessions if s[0] is not token]


def session_verbose() -> bool | None:
    """The ``verbose`` of the innermost open session that sets one (else ``None``)."""
    with _sessions_lock:
        return next((v for _, v in reversed(_sessions) if v is not None), None)


_executors: list[tuple[object, Any]] = []  # (token, executor) per open session


@contextlib.contextmanager
def executor_scope(executor: Any) -> Iterator[None]:
    """Model runs inside use ``executor`` (e.g. a Ray executor; ``None``: this process)."""
    token = object()
    with _sessions_lock:
        _executors.append((token, executor))
    try:
        yield
    finally:
        with _sessions_lock:
            _executors[:] = [e for e in _executors if e[0] is not token]


def session_executor() -> Any | None:
    """The executor of the innermost open session that sets one (else ``None``)."""
    with _sessions_lock:
        return next((e for _, e in reversed(_executors) if e is not None), None)


def collect(
    values: Iterable[T],
    total: int | None,
    name: str,
    what: str,
    where: str,
    error: type[Exception] = ValueError,
) -> list[T]:
    """``values`` as a list; ``total`` (a ``total_num_*`` argument) must match its length."""
    if total is not None and (_bad(total) or total < 0):
        raise error(f"{where}: {name} must be a number of {what} (an int >= 0), got {total!r}.")
    items = list(values)
    if total is not None and len(items) != total:
        raise error(
            f"{where}: {name}={total}, but {len(items)} {what} were given. Pass the actual "
            f"number, or omit {name} (it is the progress total of an iterable without len())."
        )
    return items


def is_out_of_memory(e: BaseException) -> bool:
    """A CUDA/MPS out-of-memory error (by type or message) or a ``MemoryError``."""
    names = {c.__name__ for c in type(e).__mro__}
    return (
        "OutOfMemoryError" in names or "MemoryError" in names or ("out of memory" in str(e).lower())
    )


def out_of_memory_error(where: str, batch: int, e: BaseException) -> BatchOutOfMemoryError:
    """The error raised for an out-of-memory batch when ``adaptive_batch_size=False``."""
    return BatchOutOfMemoryError(
        f"{where}: a batch of {batch} ran out of memory ({type(e).__name__}: {e}) and "
        "adaptive_batch_size=False, so it is not retried with smaller batches. Lower "
        "batch_size, or pass adaptive_batch_size=True to halve a batch that runs out of memory."
    )


def adaptive_batches(
    compute: Callable[[list[Any]], list[Any]],
    enabled: bool,
    where: str,
    on_out_of_memory: Callable[[], None] | None = None,
) -> Callable[[list[Any]], list[Any]]:
    """``compute`` that, on out-of-memory, computes each half of the batch (``enabled``)
    or raises :class:`BatchOutOfMemoryError` (not ``enabled``)."""

    def run(batch: list[Any]) -> list[Any]:
        try:
            return compute(batch)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            if not enabled:
                raise out_of_memory_error(where, len(batch), e) from e
            if len(batch) == 1:
                raise
            if on_out_of_memory is not None:
                on_out_of_memory()
            half = len(batch) // 2
            return run(batch[:half]) + run(batch[half:])

    return run


@dataclass(frozen=True)
class RunOptions:
    """The shared controls of a ``run()`` call (see the module docstring)."""

    batch_size: int = 10
    batch_scheduler_buffer_size: int | None = None
    adaptive_batch_size: bool = True
    progress_interval: float | None = 60
    verbose: bool | None = None
    log_level: int | str | None = None

    def checked(self, where: str, error: type[Exception] = ValueError) -> RunOptions:
        """``self``, or a clear ``error`` naming the first invalid option."""
        if _bad(self.batch_size) or self.batch_size < 1:
            raise error(f"{where}: batch_size must be a positive int, got {self.batch_size!r}.")
        buffer = self.batch_scheduler_buffer_size
        if buffer is not None and (_bad(buffer) or buffer == 0):
            raise error(
                f"{where}: batch_scheduler_buffer_size must be a positive int (inputs sorted "
                "by length together), a negative int (no sorting) or None (the default), "
                f"got {buffer!r}."
            )
        if not isinstance(self.adaptive_batch_size, bool):
            raise error(
                f"{where}: adaptive_batch_size must be True or False, got "
                f"{self.adaptive_batch_size!r}."
            )
        interval = self.progress_interval
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or not interval >= 0
        ):
            raise error(
                f"{where}: progress_interval must be a number of seconds >= 0, or None for no "
                f"progress lines, got {interval!r}."
            )
        _check_verbose(self.verbose, where, error)
        resolve_log_level(self.log_level, error)
        return self

    @property
    def buffer_size(self) -> int | None:
        """Inputs sorted together (a multiple of ``batch_size``); ``None``: no sorting."""
        size = self.batch_scheduler_buffer_size
        if size is None:
            size = max(10 * self.batch_size, 1000)
        elif size < 0:
            return None
        size = math.ceil(max(size, self.batch_size) / self.batch_size) * self.batch_size
        return None if size == self.batch_size else size

    def schedule(self, items: list[T], key: Callable[[T], Any]) -> list[T]:
        """``items`` in the order to batch them: each buffer sorted by ``key`` (stable)."""
        size = self.buffer_size
        if size is None:
            return list(items)
        out: list[T] = []
        for start in range(0, len(items), size):
            out += sorted(items[start : start + size], key=key)
        return out

    def effective_verbose(self) -> bool | None:
        """``verbose``, or the session's when ``None``."""
        return self.verbose if self.verbose is not None else session_verbose()

    def scope(self, error: type[Exception] = ValueError) -> contextlib.AbstractContextManager[None]:
        """The logger level of the call: ``log_level``, else INFO when verbose."""
        level = self.log_level
        if level is None and self.effective_verbose():
            level = logging.INFO
        return log_level_scope(level, error)

    def progress(
        self, total: int, desc: str, what: str, step: Any = None, done: int = 0
    ) -> Progress:
        return Progress(
            total,
            desc,
            what,
            verbose=self.effective_verbose(),
            interval=self.progress_interval,
            step=step,
            done=done,
        )


class Progress:
    """One run's progress: a ``tqdm`` bar (hidden when ``verbose=False``), the step's
    progress, and an INFO line on the ``dreamer_lab`` logger at most every ``interval``
    seconds (none when ``verbose=False`` or ``interval`` is ``None``)."""

    def __init__(
        self,
        total: int,
        desc: str,
        what: str,
        *,
        verbose: bool | None,
        interval: float | None,
        step: Any = None,
        done: int = 0,
    ):
        from tqdm.auto import tqdm

        self.total, self.desc, self.what, self.step = total, desc, what, step
        self.interval = None if verbose is False else interval
        self.done = self._start_done = done
        self._start = self._last = time.monotonic()
        # DREAMER_LAB_PROGRESS_BARS=0 (set by %load_ext dreamer_lab): the notebook view shows
        # the progress instead of a tqdm bar.
        hidden = os.environ.get("DREAMER_LAB_PROGRESS_BARS") == "0"
        self._bar = tqdm(
            total=total, desc=desc, disable=verbose is False or total == 0 or hidden, leave=False
        )
        self._bar.update(done)
        self._report_step()

    def update(self, n: int) -> None:
        """``n`` more inputs are done."""
        self.done += n
        self._bar.update(n)
        self._report_step()
        now = time.monotonic()
        if self.interval is not None and now - self._last >= self.interval:
            self._last = now
            logger.info(self._line(now))

    def _line(self, now: float) -> str:
        total = max(self.total, 1)
        line = (
            f"{self.desc}: {self.done}/{self.total} {self.what} "
            f"({100 * min(self.done, total) / total:.0f}%), {now - self._start:.1f}s elapsed"
        )
        new = self.done - self._start_done
        if new > 0 and self.done < self.total:
            eta = (now - self._start) / new * (self.total - self.done)
            line += f", about {eta:.0f}s left"
        return line

    def _report_step(self) -> None:
        if self.step is not None and self.total:
            with contextlib.suppress(Exception):  # progress is best effort
                self.step.progress = min(self.done, self.total) / self.total

    def close(self) -> None:
        self._bar.close()


__all__ = [
    "BatchOutOfMemoryError",
    "Progress",
    "RunOptions",
    "adaptive_batches",
    "collect",
    "executor_scope",
    "is_out_of_memory",
    "log_level_scope",
    "out_of_memory_error",
    "resolve_log_level",
    "session_executor",
    "session_logging",
    "session_verbose",
]
