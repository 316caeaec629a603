"""DataDreamer's step test hook: a step whose output a test sets instead of ``run()``.

A step class with the attribute ``_INTERNAL_TEST_KEY`` (any value, as in DataDreamer)
does not run when constructed. A test then calls ``step._set_output(value)``: ``value``
is normalized exactly as a ``run()`` result would be (:func:`~dreamer_lab.steps.normalize.
to_output`) and stored like any step output. The normalized value's digest joins the
step's fingerprint, so two test steps with the same name and arguments but different
values never share a stored entry. Until then ``step.progress`` is ``None`` (or what the
test sets) and ``step.output`` raises :class:`~dreamer_lab.errors.StepOutputError`.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.fingerprint import combine, hash_value
from dreamer_lab.core.workspace import current_workspace
from dreamer_lab.errors import StepOutputError

if TYPE_CHECKING:
    from dreamer_lab.steps.output import OutputDataset, OutputIterableDataset
    from dreamer_lab.steps.step import Step

_INTERNAL_TEST_KEY = "__DataDreamer__test__"


class StepTestHook:
    """``_set_output`` and the not-yet-run ``output`` error (mixed into ``Step``)."""

    _test_deferred: bool = False

    def _defer_for_test(self: Step) -> bool:
        """True (and nothing runs) when the step's class carries ``_INTERNAL_TEST_KEY``."""
        if not hasattr(type(self), _INTERNAL_TEST_KEY):
            return False
        self._test_deferred = True
        self._join_super_step()
        self.workspace = current_workspace()
        _ = self.fingerprint  # arguments must be hashable, as for a step that runs
        return True

    def _set_output(self: Step, value: Any) -> None:
        """Store ``value`` as this test step's output, as if ``run()`` had returned it."""
        from dreamer_lab.steps.normalize import to_output
        from dreamer_lab.steps.step_runtime import log_level_scope

        if not self._test_deferred:
            raise StepOutputError(
                f"{self._where()}: _set_output() is only for test steps (classes with "
                f"{_INTERNAL_TEST_KEY!r}); other steps get their output from run()."
            )
        if self._entry is not None or self._output is not None:
            raise StepOutputError(f"{self._where()}: the step has already been run.")
        for parent in self.parents:
            parent.wait()
        produced = to_output(value, self._output_names(), self._where())
        lazy = isinstance(produced, tuple)
        # A lazy output is served, never stored: nothing can share it, so any unique
        # component will do. A dataset is addressed by its content.
        digest = uuid.uuid4().hex if lazy else hash_value(produced.data.table)
        assert self.workspace is not None
        declared = self.fingerprint  # what values this step pickled so far are signed with
        self.workspace.progress_file(declared).unlink(missing_ok=True)
        assert self._components is not None
        self._components = {**self._components, "test_output": digest}
        self._fingerprint = combine(json.dumps(self._components, sort_keys=True))
        self._progress = 0.0

        def produce() -> Any:
            return produced

        self._produce = produce  # type: ignore[method-assign]
        with log_level_scope(self.log_level):
            self._run_and_store()
        if getattr(self, "_pickled", False):
            # Values the test pickled with this step before setting them are this step's own.
            self._lineage_cache = self._value_lineage() | {declared}

    @property
    def output(self: Step) -> OutputDataset | OutputIterableDataset:
        """The output rows; a test step raises ``StepOutputError`` until it has one."""
        if self._test_deferred and self._entry is None and self._output is None:
            if self._progress is None:
                raise StepOutputError(f"{self._where()} has not been run; no output yet.")
            raise StepOutputError(
                f"{self._where()} is still running ({int(self._progress * 100)}%); "
                "its output is not available yet."
            )
        return super().output  # type: ignore[misc]
