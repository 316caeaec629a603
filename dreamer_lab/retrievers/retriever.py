"""``Retriever``: the interface of every retriever (DataDreamer's)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.loadable import Loadable


def texts_list(texts: Any) -> list[str]:
    """A step column (``step.output["text"]``), a list of str, or any iterable of str."""
    if hasattr(texts, "to_list") and hasattr(texts, "step"):
        items = texts.to_list()
    elif isinstance(texts, str):
        raise TypeError("texts must be a column or a list of texts, not one str.")
    else:
        items = list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is a {type(t).__name__}, not a str.")
    return items


def texts_fingerprint(texts: Any) -> str:
    hook = getattr(texts, "__dreamer_fingerprint__", None)
    if hook is not None:
        return str(hook())
    return hash_value(texts_list(texts), label="the retriever's texts")


class Retriever(Loadable):
    """Finds, for each query, the ``k`` most relevant of a fixed set of texts.

    ``run(queries, k)`` returns one dict per query::

        {"indices": [int, ...],   # positions in the indexed texts, best first
         "texts":   [str, ...],   # the texts at those positions
         "scores":  [float, ...]} # relevance, higher is better

    with ``min(k, len(texts))`` entries each. ``cache_folder_path``: where a retriever
    caches what it computes (default: the workspace).
    """

    version: str = "1"
    _load_on_enter = ("embeddings",)  # ``with retriever:`` builds the index

    def __init__(self, texts: Any, cache_folder_path: str | None = None):
        self._texts_source = texts
        self.cache_folder_path = cache_folder_path

    @property
    def texts(self) -> list[str]:
        """The indexed texts (``indices`` in results point into this list)."""
        cached = self.__dict__.get("_texts")
        if cached is None:
            cached = self.__dict__["_texts"] = texts_list(self._texts_source)
        return cached

    def run(
        self, queries: Iterable[Any], k: int = 5, **kwargs: Any
    ) -> list[dict[str, Any]] | Iterator[dict[str, Any]]:
        raise NotImplementedError

    @property
    def model_card(self) -> str | None:
        return None

    @property
    def license(self) -> str | None:
        return None

    @property
    def citation(self) -> list[str] | None:
        return None


__all__ = ["Retriever"]
