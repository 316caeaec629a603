"""The parameters of the ``train...()`` methods, each declared once.

DataDreamer's trainers share their hyperparameters (``epochs``, ``batch_size``, ``optim``,
``learning_rate`` ...): :class:`Hyperparameters` declares each one once, with its type and
DataDreamer's default. A trainer declares only its columns, the order of its
hyperparameters and those that are its own (:func:`own`); :func:`train_signature` builds
DataDreamer's explicit signature from that (``train_<column>`` parameters, then
``validation_<column>=None`` ones, then the hyperparameters, then ``**kwargs``).
:func:`~dreamer_lab.trainers.calls.trains` sets it as the method's ``__signature__``, so
``inspect.signature``, ``help()`` and Jupyter's completion show every parameter with its
default, and every call is bound to it (a wrong argument raises ``TypeError``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "BASIC",
    "HF_TRAINING",
    "Hyperparameters",
    "own",
    "signed",
    "subset_signature",
    "train_signature",
]

F = TypeVar("F", bound=Callable[..., Any])

_ARG = inspect.Parameter.POSITIONAL_OR_KEYWORD


@dataclass(frozen=True)
class Hyperparameters:
    """DataDreamer's shared training hyperparameters, in its order, with its defaults."""

    truncate: bool = True
    epochs: float = 3.0
    batch_size: int = 8
    optim: str = "adamw_torch"
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    lr_scheduler_type: str = "linear"
    warmup_steps: int = 0
    neftune_noise_alpha: float | None = None
    seed: int = 42


_SHARED = {
    f.name: inspect.Parameter(f.name, _ARG, default=f.default, annotation=f.type)
    for f in dataclasses.fields(Hyperparameters)
}
# The hyperparameters of DataDreamer's transformers trainers (``TrainHFFineTune`` ...).
HF_TRAINING: tuple[str, ...] = tuple(_SHARED)
# Those of the trainers whose other settings DataDreamer passes on as ``**kwargs``.
BASIC: tuple[str, ...] = ("truncate", "epochs", "batch_size", "learning_rate", "seed")


def own(name: str, annotation: str, default: Any) -> inspect.Parameter:
    """A parameter of one trainer (or its own default of a shared one); ``annotation`` is
    the type as written, e.g. ``"float | None"``."""
    return inspect.Parameter(name, _ARG, default=default, annotation=annotation)


def train_signature(
    columns: Sequence[str],
    hyperparameters: Sequence[str | inspect.Parameter],
    returns: Any,
) -> inspect.Signature:
    """DataDreamer's signature of a ``train...()`` method: ``self``, ``train_<column>`` for
    each column, the matching ``validation_<column>=None``, the ``hyperparameters`` (shared
    ones by name, a trainer's own as :func:`own` parameters) and ``**kwargs``."""
    params = [inspect.Parameter("self", _ARG)]
    params += [inspect.Parameter(f"train_{c}", _ARG, annotation="OutputColumn") for c in columns]
    params += [
        inspect.Parameter(f"validation_{c}", _ARG, default=None, annotation="OutputColumn | None")
        for c in columns
    ]
    for p in hyperparameters:
        params.append(_SHARED[p] if isinstance(p, str) else p)
    params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any"))
    return inspect.Signature(params, return_annotation=returns)


def subset_signature(
    sources: Callable[..., Any] | Sequence[Callable[..., Any]],
    names: Sequence[str | inspect.Parameter],
) -> inspect.Signature:
    """A signature of the parameters ``names``, in that order, each as the first of the
    ``sources`` declares it (an :func:`own` parameter there is added): a DataDreamer
    signature made of parameters other classes declare already."""
    fns = list(sources) if isinstance(sources, Sequence) else [sources]
    declared: dict[str, inspect.Parameter] = {}
    for fn in reversed(fns):
        declared.update(inspect.signature(fn).parameters)
    params = [declared[p] if isinstance(p, str) else p for p in names]
    return inspect.signature(fns[0]).replace(parameters=params)


def signed(signature: inspect.Signature) -> Callable[[F], F]:
    """Make ``signature`` the signature of ``fn``: each call is bound to it (a wrong
    argument raises ``TypeError``), defaults applied, and passed to ``fn`` by keyword with
    its ``**kwargs`` merged in."""
    var_kw = [p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD]

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            for name in var_kw:
                arguments.update(arguments.pop(name))
            return fn(**arguments)

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
