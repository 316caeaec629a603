"""``OperationStep``: a step derived from other steps by a data operation (``map``, ``select`` ...).

Its fingerprint is the parents' fingerprints plus the operation's kind (``operation.<op>``)
and its hashed arguments. This module imports :mod:`dreamer_lab.steps.step`, which imports
the operations mixins, so the mixins reach this class through
:func:`dreamer_lab.steps.operation_base.operation` (a lazy import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamer_lab.core.memo import Computed
from dreamer_lab.steps.step import Step


class OperationStep(Step):
    """A step derived from other steps by a data operation."""

    def __init__(
        self,
        op: str,
        parents: list[Step],
        fn: Callable[..., Any],
        op_args: dict[str, Any],
        name: str | None = None,
        total_num_rows: int | None = None,
        **kwargs: Any,
    ):
        self._op = op
        self._op_fn = fn
        self._op_args = op_args
        self._op_parents = parents
        self._expected_rows = total_num_rows
        super().__init__(name=name or f"{parents[0].name} / {op}", **kwargs)

    def setup(self) -> None:
        # _extra_parents must exist before fingerprinting: Step.__init__ calls setup() first.
        self._extra_parents = list(self._op_parents)

    @property
    def op(self) -> str:
        """The operation's name (``"map"``, ``"select"`` ...)."""
        return self._op

    def kind_name(self) -> str:  # type: ignore[override]  # per instance, not per class
        return self._op

    def _fingerprint_extra(self) -> dict[str, Any]:
        from dreamer_lab.core.fingerprint import hash_value

        return {
            "op": self._op,
            "op_args": {
                k: hash_value(v, label=f"argument {k!r} of .{self._op}()")
                for k, v in sorted(self._op_args.items())
            },
        }

    def _fingerprint_components(self) -> dict[str, Any]:
        c = super()._fingerprint_components()
        c["kind"] = f"operation.{self._op}"
        return c

    def _produce(self) -> Any:
        return self._op_fn(*[p.output.dataset for p in self._op_parents])

    def _compute(self) -> Computed:
        from dreamer_lab.core.secrets import redact

        computed = super()._compute()
        computed.record["kind"] = self._op
        computed.record["args"] = {k: redact(v, k) for k, v in self._op_args.items()}
        return computed
