"""Errors users see. Each message names the problem and the fix."""

from __future__ import annotations

from dreamer_lab.core.fingerprint import UnhashableValueError
from dreamer_lab.core.signing import UntrustedObjectError
from dreamer_lab.core.workspace import WorkspaceError


class DreamerError(Exception):
    """Base class for dreamer_lab's user-facing errors."""


class StepInputError(DreamerError, ValueError):
    """A step was given inputs, arguments or data it cannot use."""


class StepFailedError(DreamerError, RuntimeError):
    """A step's ``run()`` raised; the message carries the original error."""


__all__ = [
    "DreamerError",
    "StepInputError",
    "StepFailedError",
    "UnhashableValueError",
    "UntrustedObjectError",
    "WorkspaceError",
]
