"""The checks DataDreamer makes while a step class is defined and a step is constructed.

- a ``Step`` subclass may not define ``__init__`` (``AttributeError`` when the class is
  created): a step's arguments are registered in ``setup()`` and passed as ``args=``;
- the name may not be empty (``ValueError``);
- a step must implement ``setup()`` (``NotImplementedError``) and register at least one
  output (``ValueError``);
- ``register_input/arg/output`` take a name (``TypeError``) and only while ``setup()``
  runs (``RuntimeError`` afterwards); ``register_data_card`` takes a card type (a string,
  ``TypeError``) and works at any time.

dreamer_lab's own steps whose columns come from their data (data sources, operations) or
that take their own constructor arguments (data sources, ``SuperStep``) are exempt: the
rules are for steps users write.
"""

from __future__ import annotations

from typing import Any

# The package whose step classes may define __init__ (their arguments are not registered).
_OWN_PACKAGE = "dreamer_lab."


def check_subclass(cls: type) -> None:
    """``__init_subclass__`` of ``Step``: a user's step may not override ``__init__``."""
    if "__init__" in vars(cls) and not cls.__module__.startswith(_OWN_PACKAGE):
        raise AttributeError(
            f"Step class {cls.__qualname__} overrides __init__, which steps may not do: "
            "construction runs (or loads) the step. Register what it takes in setup() "
            "(self.register_input/register_arg/register_output) and read it in run() from "
            "self.inputs / self.args; callers pass them as inputs={...}, args={...}."
        )


def check_name(name: Any, cls: type) -> None:
    """A step's ``name``: None (the class name is used) or a non-empty string."""
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(
            f"{cls.__name__}: name must be a string, got {type(name).__name__} {name!r}."
        )
    if not name.strip():
        raise ValueError(
            f"{cls.__name__}: the step's name is empty. Pass a name such as "
            f"{cls.__name__}('my-step', ...), or omit it to use {cls.__name__!r}."
        )


def outputs_from_data(step: Any) -> bool:
    """Steps whose columns are those of their data: sources and operations."""
    return bool(step._is_source or getattr(step, "_outputs_from_data", False))


def check_setup_defined(step: Any, base: type) -> None:
    """``setup()`` must be implemented (``base`` is ``Step``)."""
    if type(step).setup is base.setup and not outputs_from_data(step):
        raise NotImplementedError(
            f"{type(step).__name__} does not implement setup(). Define setup(self) and "
            "register the step's outputs there (self.register_output('column')), and its "
            "inputs and arguments if it takes any."
        )


def check_outputs_registered(step: Any) -> None:
    """After ``setup()``: at least one output is registered."""
    if not step._output_specs and not outputs_from_data(step):
        raise ValueError(
            f"{step._where()}: setup() registered no outputs. Register each column run() "
            "returns with self.register_output('column')."
        )


def check_register(step: Any, what: str, name: Any) -> None:
    """``register_input/arg/output(name)``: a string name, and only inside ``setup()``."""
    if not isinstance(name, str):
        raise TypeError(
            f"{type(step).__name__}.{what}() takes the name as a string, got "
            f"{type(name).__name__} {name!r}."
        )
    if getattr(step, "_setup_done", False):
        raise RuntimeError(
            f"{type(step).__name__}.{what}({name!r}) was called after the step was "
            "constructed. Inputs, arguments and outputs are registered in setup() only."
        )


def check_data_card_type(step: Any, data_card_type: Any) -> None:
    """``register_data_card(type, value)``: ``type`` is a ``DataCardType`` (a string)."""
    if not isinstance(data_card_type, str):
        raise TypeError(
            f"{type(step).__name__}.register_data_card() takes a DataCardType (such as "
            f"DataCardType.CITATION) as its first argument, got {type(data_card_type).__name__} "
            f"{data_card_type!r}."
        )


__all__ = [
    "check_subclass",
    "check_name",
    "check_setup_defined",
    "check_outputs_registered",
    "check_register",
    "check_data_card_type",
    "outputs_from_data",
]
