"""``SuperStep``: a step whose ``run()`` runs other steps (DataDreamer's name).

A SuperStep is stored, fingerprinted and loaded like any step; what is particular:

* every step constructed while its ``run()`` executes (also in threads started with
  :func:`~dreamer_lab.steps.concurrent`) is recorded as an inner step: it is a parent of
  the SuperStep in the lineage, listed in the record's ``inner_steps``, and inherits the
  SuperStep's ``force``;
* its fingerprint covers the code of its own methods with the globals and helpers they
  read (followed recursively), so editing ``run()``, or a constant or function it uses to
  build its inner steps' arguments, is a miss; its arguments and inputs count as for
  every step;
* a rerun with the same fingerprint loads the stored output without running ``run()``,
  so its inner steps are not even constructed;
* it never runs in the background (``background=True`` is ignored, as in DataDreamer).
"""

from __future__ import annotations

import types
from typing import Any

from dreamer_lab.core.fingerprint import hash_value, is_user_module
from dreamer_lab.core.memo import Computed
from dreamer_lab.steps.step import Step
from dreamer_lab.steps.step_extras import ACTIVE_SUPER_STEP


class SuperStep(Step):
    """Subclass it (``setup()`` and ``run()`` as for any step) to compose other steps.

    ``run()`` may return an inner step's output (``inner.output``) or any value a step's
    ``run()`` may return. ``inner_steps`` lists the steps its last ``run()`` constructed.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self._inner_steps: list[Step] = []
        super().__init__(*args, **kwargs)

    def _execute(self) -> None:
        self.background = False  # inner steps run in this process, under this context
        super()._execute()

    @property
    def inner_steps(self) -> list[Step]:
        return list(self._inner_steps)

    def _fingerprint_extra(self) -> dict[str, Any]:
        extra = dict(super()._fingerprint_extra())
        code: dict[str, Any] = {}
        for klass in type(self).__mro__:
            if klass is SuperStep:
                break
            if not is_user_module(klass.__module__):
                continue
            for name, attr in sorted(vars(klass).items()):
                fn = attr.__func__ if isinstance(attr, staticmethod | classmethod) else attr
                if isinstance(fn, types.FunctionType):
                    code[f"{klass.__qualname__}.{name}"] = fn
        extra["super_step_code"] = hash_value(code, label=f"the code of {self._where()}")
        return extra

    def _produce(self) -> Any:
        self._inner_steps.clear()
        token = ACTIVE_SUPER_STEP.set(self)
        try:
            return super()._produce()
        finally:
            ACTIVE_SUPER_STEP.reset(token)

    def _inner_fingerprints(self) -> list[str]:
        if self._inner_steps:
            return list(dict.fromkeys(s.fingerprint for s in self._inner_steps))
        if self._entry is not None:
            return list(self._entry.record.get("inner_steps") or [])
        return []

    def _parent_fingerprints(self) -> list[str]:
        fps = super()._parent_fingerprints()
        return fps + [fp for fp in self._inner_fingerprints() if fp not in fps]

    def _compute(self) -> Computed:
        computed = super()._compute()
        computed.record["inner_steps"] = self._inner_fingerprints()
        return computed


__all__ = ["SuperStep"]
