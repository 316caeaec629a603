"""``with model:`` for every model object (LLMs, embedders, retrievers, task models,
trainers): the model is loaded on entering the block and unloaded on leaving it, even when
the block raises, so a notebook frees its memory as soon as the work is done."""

from __future__ import annotations

from typing import Any, ClassVar


class Loadable:
    """Mixin: ``__enter__`` calls :meth:`load_model`, ``__exit__`` calls ``unload_model()``.

    :meth:`load_model` reads the attributes named in ``_load_on_enter`` (lazily loaded
    properties such as ``model``), so loading happens now rather than on the first call.
    Backends without anything to load (API clients) enter and leave at no cost.
    """

    _load_on_enter: ClassVar[tuple[str, ...]] = ("model",)

    def load_model(self) -> None:
        """Load what the object loads lazily (its ``model``, an index ...) now."""
        for name in self._load_on_enter:
            if hasattr(type(self), name):  # a (cached) property of this backend
                getattr(self, name)

    def unload_model(self) -> None:
        """Free the loaded model (it is loaded again on next use)."""

    def __enter__(self) -> Any:
        self.load_model()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unload_model()


__all__ = ["Loadable"]
