"""DataDreamer's smaller ``Step`` members: ``pickle()`` / ``unpickle()`` for arbitrary values
in rows, ``help``, ``dataset_path``, ``data_card()``, and the hook that records a step run
inside a :class:`~dreamer_lab.steps.super_step.SuperStep` as one of its inner steps.

A mixin of ``Step`` (it uses the step's ``fingerprint``, ``workspace``, ``parents``,
``output`` and registered specs); import ``Step`` from :mod:`dreamer_lab.steps.step`.

Pickled values are signed like every pickle in a workspace (:mod:`dreamer_lab.core.signing`):
``step.pickle(value)`` returns bytes that carry the fingerprint of the step that made them
and an HMAC (``v2:``) under the user's key over that fingerprint, a fixed name and the
payload's digest. ``unpickle()`` checks the signature before unpickling anything and
accepts values made by the step itself or one of its ancestors (a value copied by
``map``/``select`` stays readable downstream); anything else is refused with
:class:`~dreamer_lab.errors.UntrustedObjectError`, never executed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.hooks import render_data_card
from dreamer_lab.datasets.pickled import VALUE_MAGIC
from dreamer_lab.errors import StepInputError, UntrustedObjectError

if TYPE_CHECKING:
    from dreamer_lab.steps.step import Step

# The SuperStep whose run() is executing in this thread (or in the threads it started
# with ``concurrent()``, which copy the context).
ACTIVE_SUPER_STEP: ContextVar[Any] = ContextVar("dreamer_lab_super_step", default=None)
# The step whose run() is executing in this thread (any kind of step).
ACTIVE_RUN: ContextVar[Any] = ContextVar("dreamer_lab_running_step", default=None)

VALUE_NAME = "row value"
_FIX = (
    "Recompute the step that pickled it (force=True), or, if you trust this workspace, "
    "open it with DataDreamer(path, trust=True)."
)


class _Help:
    """``Step.help`` on the class (DataDreamer's ``MyStep.help``) and on an instance."""

    def __get__(self, obj: Any, owner: type) -> str:
        return step_help(owner if obj is None else obj)


class StepExtras:
    """``pickle``/``unpickle``, ``help``, ``dataset_path`` and ``data_card`` (mixed into
    ``Step``)."""

    help = _Help()

    # -- pickled values ------------------------------------------------------------------
    def pickle(self: Step, value: Any, *args: Any, **kwargs: Any) -> bytes:
        """``value`` as signed bytes to store in a row of this step's output; read it back
        with :meth:`unpickle`. ``args``/``kwargs`` go to ``cloudpickle.dumps``."""
        import cloudpickle

        from dreamer_lab.core.signing import sign

        payload = cloudpickle.dumps(value, *args, **kwargs)
        origin = self.fingerprint
        self._pickled = True
        signature = sign(payload, entry=origin, name=VALUE_NAME)
        return b"".join(
            [VALUE_MAGIC, origin.encode(), b"\x00", signature.encode(), b"\x00", payload]
        )

    def unpickle(self: Step, value: bytes) -> Any:
        """The value :meth:`pickle` stored, after checking its signature and origin."""
        import hmac
        import pickle

        from dreamer_lab.core.signing import SIG_VERSION, sign

        origin, signature, payload = _parse_value(value, self._where())
        ws = self.workspace
        if ws is None or not ws.trust:
            if not signature.startswith(SIG_VERSION + ":") or not hmac.compare_digest(
                sign(payload, entry=origin, name=VALUE_NAME), signature
            ):
                raise UntrustedObjectError(
                    f"{self._where()}: refusing to unpickle a value: its signature does not "
                    "match your key (the bytes were modified, or another user pickled them). "
                    + _FIX
                )
            if origin != self.fingerprint and origin not in self._value_lineage():
                raise UntrustedObjectError(
                    f"{self._where()}: refusing to unpickle a value pickled by step "
                    f"{origin[:12]}, which is neither this step nor one of its ancestors "
                    "(it was copied in from elsewhere). Unpickle it with the step that made "
                    "it or one downstream of it. " + _FIX
                )
        return pickle.loads(payload)

    def _unpickled_export(self: Step, result: Any, to: str, features: Any, splits: bool) -> Any:
        """``export_to_dict/list()``'s result with signed values unpickled (DataDreamer's)."""
        from dreamer_lab.datasets.pickled import unpickle_export

        return unpickle_export(self, result, to, features, splits)

    def _check_no_pickled_values(self: Step, what: str) -> None:
        """Refuse a text export of columns holding ``step.pickle()`` values (JSON cannot
        hold their bytes), naming the column and the exports that give the values."""
        from dreamer_lab.datasets.pickled import Unpickler, is_signed_value

        source = self._export_source()
        unpickler = Unpickler(self, source.features)
        for column in sorted(unpickler.columns or []):
            first = next((v for v in source[column] if v is not None), None)
            if is_signed_value(first):
                raise StepInputError(
                    f"{self._where()}: {what} cannot write column {column!r}: it holds "
                    "values stored with step.pickle() (bytes, not text). Use "
                    "export_to_dict()/export_to_list()/export_to_hf_dataset() to get the "
                    f"values, or drop it first: step.remove_columns([{column!r}])."
                )

    def _unpickled_dataset(self: Step, dataset: Any) -> Any:
        """``export_to_hf_dataset()``'s Dataset (or DatasetDict) reading signed values back
        as objects (a ``set_transform``; the folder keeps the signed bytes)."""
        import datasets

        from dreamer_lab.datasets.pickled import Unpickler

        parts = dataset.values() if isinstance(dataset, datasets.DatasetDict) else [dataset]
        for part in parts:
            unpickler = Unpickler(self, part.features)
            if unpickler.active:
                part.set_transform(unpickler)
        return dataset

    def _value_lineage(self: Step) -> set[str]:
        """The ancestors whose values this step may unpickle (kept once it has a result:
        reading a column checks every value)."""
        cached: set[str] | None = getattr(self, "_lineage_cache", None)
        if cached is not None:
            return cached
        found = _lineage(self)
        if self._entry is not None or self._output is not None:
            self._lineage_cache = found
        return found

    @property
    def output_names(self: Step) -> tuple[str, ...]:
        """The outputs ``setup()`` registered, in order (DataDreamer's ``output_names``;
        the output's columns are these after ``outputs=`` renaming)."""
        return tuple(self._output_specs)

    # -- where the rows are --------------------------------------------------------------
    @property
    def dataset_path(self: Step) -> str:
        """The folder of this step's output on disk (``datasets.load_from_disk`` reads it)."""
        self.wait()
        if self._entry is None:
            raise RuntimeError(
                f"{self._where()}: this step's output is lazy and has not been saved to disk "
                "yet. Use .save() on the step to first save it to disk."
            )
        return str(self._entry.path / "data")

    def data_card(self: Step) -> None:
        """Print this step's data card (lineage, models, licenses, citations; Markdown with
        Hub front matter), as ``dreamer_lab.cards.data_card(step)`` renders it."""
        if self.is_lazy:
            raise RuntimeError(
                f"{self._where()}: the output is lazy (streamed, not stored), so the lineage "
                "has no entry for it yet. Use .save() on the step to first save it to disk, "
                "then call data_card() on the saved step."
            )
        markdown, _ = render_data_card(self, {}, False)  # synthetic or not: from the lineage
        print(markdown)

    # -- SuperStep membership ------------------------------------------------------------
    @contextlib.contextmanager
    def _running(self: Step) -> Iterator[None]:
        """Mark this step's ``run()`` as executing (see :meth:`_join_super_step`)."""
        token = ACTIVE_RUN.set(self)
        try:
            yield
        finally:
            ACTIVE_RUN.reset(token)

    def _join_super_step(self: Step) -> None:
        """Record this step as an inner step of the running SuperStep, if any (and inherit
        its ``force``, as in DataDreamer). A step made inside the ``run()`` of a step that
        is not a SuperStep is a ``RuntimeError``, as there."""
        parent = ACTIVE_SUPER_STEP.get()
        running = ACTIVE_RUN.get()
        if running is not None and running is not parent and running is not self:
            raise RuntimeError(
                f"{self._where()} was created inside the run() of {running._where()}, which "
                "is not a SuperStep. Only a SuperStep's run() may run other steps: make "
                f"{type(running).__name__} a subclass of SuperStep "
                "(from dreamer_lab.steps import SuperStep), or create this step outside it."
            )
        if parent is None or parent is self:
            return
        parent._inner_steps.append(self)
        if parent.force:
            self.force = True


def _parse_value(value: Any, where: str) -> tuple[str, str, bytes]:
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise TypeError(
            f"{where}: unpickle() takes the bytes that step.pickle() returned, not a "
            f"{type(value).__name__}. Values read through step.output are already unpickled; "
            "the stored bytes are in step.output.dataset."
        )
    if not value.startswith(VALUE_MAGIC):
        raise UntrustedObjectError(
            f"{where}: refusing to unpickle bytes that step.pickle() did not make (they carry "
            "no signature); unpickling runs code. Store values with step.pickle(value)."
        )
    parts = value[len(VALUE_MAGIC) :].split(b"\x00", 2)
    if len(parts) != 3:
        raise UntrustedObjectError(f"{where}: refusing to unpickle a damaged value. {_FIX}")
    try:
        return parts[0].decode("ascii"), parts[1].decode("ascii"), parts[2]
    except UnicodeDecodeError:
        raise UntrustedObjectError(
            f"{where}: refusing to unpickle a damaged value. {_FIX}"
        ) from None


def _lineage(step: Step) -> set[str]:
    """Fingerprints of every ancestor of ``step`` (in memory, then through the records)."""
    ws = step.workspace
    todo = [p.fingerprint for p in step.parents]
    todo += [s.fingerprint for s in getattr(step, "_inner_steps", [])]
    if step._entry is not None:
        todo += list(step._entry.record.get("parents") or [])
    seen: set[str] = set()
    while todo:
        fp = todo.pop()
        if fp in seen:
            continue
        seen.add(fp)
        if ws is None:
            continue
        try:
            record = ws.steps.read_record(fp)
        except (OSError, ValueError, KeyError):
            continue
        todo += list(record.get("parents") or [])
    return seen


# -- help --------------------------------------------------------------------------------
def step_help(target: Any) -> str:
    """A readable description of a step's inputs, arguments and outputs (DataDreamer's
    ``Step.help`` layout)."""
    specs = target if not isinstance(target, type) else _registered(target)
    if specs is None:
        return "No help string available."
    cls = target if isinstance(target, type) else type(target)
    inputs = {k: _optional(s, is_arg=False) for k, s in specs._input_specs.items()}
    args = {k: _optional(s, is_arg=True) for k, s in specs._arg_specs.items()}
    outputs = {k: s.get("help") for k, s in specs._output_specs.items()}
    lines = [f"{cls.__name__}(", f"\tname = {'The name of the step.'!r},"]
    for label, values in (("inputs", inputs), ("args", args), ("outputs", outputs)):
        if not values:
            if label == "outputs":
                lines.append(f"\t{label} = {{}},")
            continue
        items = ",\n".join(f"\t\t{k!r}: {v!r}" for k, v in values.items())
        lines += [f"\t{label} = {{", items, "\t},"]
    lines.append(")")
    return "\n".join(lines)


def _registered(cls: type) -> Any:
    """A bare instance of ``cls`` with only ``setup()`` run (nothing executes)."""
    obj = cls.__new__(cls)
    obj._input_specs, obj._arg_specs, obj._output_specs, obj._card = {}, {}, {}, {}
    obj.name = cls.__name__
    try:
        obj.setup()
    except Exception:  # noqa: BLE001 - a setup() that needs constructor state: no help
        return None
    return obj


def _optional(spec: dict[str, Any], *, is_arg: bool) -> str | None:
    help_text = spec.get("help")
    if spec.get("required", True):
        return help_text
    default = spec.get("default")
    if is_arg and default is not None and "default" not in (help_text or ""):
        note = f"(optional, defaults to {default!r})"
    else:
        note = "(optional)"
    return f"{help_text} {note}" if help_text else note


__all__ = ["StepExtras", "step_help", "ACTIVE_SUPER_STEP"]
