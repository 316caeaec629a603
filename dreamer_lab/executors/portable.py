"""A model object as bytes that another process (a Ray actor) turns into its own replica.

The copy carries the object's configuration only: loaded weights, tokenizers, configs and
compiled grammars (objects of the model libraries) are left out and reload lazily on the
replica, locks are created afresh, and API keys stay out as every backend's
``__getstate__`` already arranges (the replica reads its key from its own environment).
"""

from __future__ import annotations

import copyreg
import io
import pickle
import threading
from typing import Any

# Objects of these libraries are loaded state (a model, a tokenizer, a compiled grammar):
# they are rebuilt from the configuration on the replica, never shipped.
_LOADED_STATE_MODULES = ("torch", "transformers", "tokenizers", "xgrammar", "vllm", "peft")
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class _Dropped:
    """Stands for a loaded object left out of the copy."""

    def __reduce__(self) -> Any:
        return (_Dropped, ())


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


class _ReplicaPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return (_new_lock, (isinstance(obj, type(threading.RLock())),))
        root = type(obj).__module__.split(".")[0]
        if root in _LOADED_STATE_MODULES and not isinstance(obj, type):
            return (_Dropped, ())
        return NotImplemented


_ReplicaPickler.dispatch_table = copyreg.dispatch_table.copy()  # type: ignore[attr-defined]


def to_bytes(model: Any) -> bytes:
    """``model``'s configuration as bytes (see the module docstring)."""
    buf = io.BytesIO()
    _ReplicaPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(model)
    return buf.getvalue()


def from_bytes(data: bytes) -> Any:
    """The replica: :func:`to_bytes`'s object with every left-out attribute unloaded."""
    model = pickle.loads(data)  # noqa: S301 - bytes made by this package's driver
    state = getattr(model, "__dict__", {})
    for name, value in list(state.items()):
        if isinstance(value, _Dropped):
            state[name] = None
        elif isinstance(value, dict) and any(isinstance(v, _Dropped) for v in value.values()):
            state[name] = {}
    return model


__all__ = ["from_bytes", "to_bytes"]
