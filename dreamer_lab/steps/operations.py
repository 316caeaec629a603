"""DataDreamer's step operations (``select``, ``map``, ``splits`` ...) and exports.

Every operation is itself a step (:class:`~dreamer_lab.steps.operation_step.OperationStep`):
its fingerprint is the parent's fingerprint plus the operation and its arguments (functions
by their code, globals and helpers), so editing a ``map`` function misses while adding a
comment to it hits. The operations live by concern: :mod:`.row_operations`,
:mod:`.column_operations` and :mod:`.exports` (splits and exports), sharing
:mod:`.operation_base`; :class:`StepOperations` gathers them for :class:`Step`.
"""

from __future__ import annotations

from dreamer_lab.steps.column_operations import ColumnOperations, zipped
from dreamer_lab.steps.exports import ExportOperations, split_indices
from dreamer_lab.steps.operation_base import LAZY_UNSUPPORTED, check_total_num_rows, operation
from dreamer_lab.steps.row_operations import RowOperations, concat

__all__ = [
    "StepOperations",
    "RowOperations",
    "ColumnOperations",
    "ExportOperations",
    "operation",
    "check_total_num_rows",
    "split_indices",
    "concat",
    "zipped",
    "LAZY_UNSUPPORTED",
]


class StepOperations(RowOperations, ColumnOperations, ExportOperations):
    """Operations and exports available on every step."""
