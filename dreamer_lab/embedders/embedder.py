"""``Embedder``: the interface every embedding backend implements (DataDreamer's)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

from dreamer_lab.core.run_options import RunOptions
from dreamer_lab.task_models.task_model import DEFAULT_BATCH_SIZE, TaskModel


def encode_vector(vector: Any) -> str:
    """A float32 vector as base64 text (compact, exact, JSON-safe) for the request cache."""
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> Any:
    import numpy as np

    return np.frombuffer(base64.b64decode(text), dtype="<f4").copy()


class Embedder(TaskModel):
    """Turns texts into vectors. Subclasses implement :meth:`_embed_batch`.

    ``run(texts)`` returns one float32 ``numpy`` vector per text, in order; every text
    goes through the request cache (key: the embedder's identity, ``instruction``,
    extra keyword arguments and the text).
    """

    backend_name = "embedder"

    def __init__(self, model_name: str, cache_folder_path: str | None = None):
        super().__init__(cache_folder_path=cache_folder_path)
        self.model_name = model_name

    # -- facts (subclasses) ----------------------------------------------------------
    def count_tokens(self, value: str) -> int:
        """Tokens in ``value``."""
        raise NotImplementedError

    @property
    def model_max_length(self) -> int | None:
        """The longest input in tokens (``None`` when unknown)."""
        raise NotImplementedError

    @property
    def dims(self) -> int:
        """Length of the vectors."""
        raise NotImplementedError

    def _embed_batch(self, texts: list[str], truncate: bool, **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def _truncate_to_limit(self, text: str) -> str:
        """Cut ``text`` to the model's input limit (used when the backend cannot)."""
        return text

    # -- running ---------------------------------------------------------------------
    _concurrency: int = 1

    def run(
        self,
        texts: Iterable[str],
        truncate: bool = False,
        instruction: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_scheduler_buffer_size: int | None = None,
        adaptive_batch_size: bool = True,
        progress_interval: int | None = 60,
        force: bool = False,
        cache_only: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        total_num_texts: int | None = None,
        return_generator: bool = False,
        _step: Any = None,
        _cache_folder_path: str | None = None,
        **kwargs: Any,
    ) -> list[Any] | Iterator[Any]:
        """Embed ``texts`` (``instruction`` is prefixed to each one).

        Texts longer than the model accepts raise a ``ValueError`` before any model call,
        unless ``truncate=True``. Extra keyword arguments go to the backend and into the
        cache key. Batching, progress and logging options: as ``LLM.run``'s (see
        :mod:`dreamer_lab.core.run_options`); ``total_num_texts`` must match the number
        of texts. ``_cache_folder_path`` (a retriever's) replaces the request cache's folder.
        """
        options = RunOptions(
            batch_size,
            batch_scheduler_buffer_size,
            adaptive_batch_size,
            progress_interval,
            verbose,
            log_level,
        ).checked(f"{self!r}.run()")
        items = self._as_text_list(texts, total=total_num_texts)
        if instruction is not None:
            items = [instruction + t for t in items]
        if not truncate:
            self._check_lengths(items, self.model_max_length)
        if truncate:
            items = [self._truncate_to_limit(t) for t in items]
        results = self._run_cached(
            items,
            {"task": "embed", "kwargs": kwargs},
            lambda batch: self._embed_batch(batch, truncate=truncate, **kwargs),
            options=options,
            what="texts",
            encode=encode_vector,
            decode=decode_vector,
            sort_key=len,
            concurrency=self._concurrency,
            force=force,
            cache_only=cache_only,
            step=_step,
            cache=None if _cache_folder_path is None else self._cache_in(_cache_folder_path),
            on_out_of_memory=self._free_memory,
        )
        return self._maybe_generator(results, return_generator)


__all__ = ["Embedder", "encode_vector", "decode_vector"]
