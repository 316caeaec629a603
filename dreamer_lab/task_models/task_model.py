"""``TaskModel``: the base of every non-generative model (classifiers, embedders).

A task model maps one input (a text) to one JSON-storable result. Every call goes
through the workspace's request cache (:mod:`dreamer_lab.core.request_cache`): the key is
the model's identity (``__dreamer_fingerprint__``) + the call's parameters + the input,
results are committed after every batch, so an interrupted run resumes where it stopped
and a step whose inputs changed only computes the changed rows.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dreamer_lab.core.loadable import Loadable
from dreamer_lab.core.request_cache import RequestCache, request_cache_for, request_key
from dreamer_lab.core.run_options import RunOptions, adaptive_batches, collect
from dreamer_lab.errors import CacheOnlyMissError  # noqa: F401

logger = logging.getLogger("dreamer_lab")

DEFAULT_BATCH_SIZE = 10


class TaskModel(Loadable):
    """Base class: subclasses implement ``run()`` on top of :meth:`_run_cached`.

    Attributes:
        computed_count: inputs actually sent to the model by this object (cache misses).
        cached_count: inputs answered from the request cache by this object.
    """

    backend_name: str = "task_model"
    version: str = "1"

    def __init__(self, cache_folder_path: str | None = None):
        self.cache_folder_path = cache_folder_path
        self.computed_count = 0
        self.cached_count = 0

    # -- identity --------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        """What makes this model's outputs what they are (subclasses override)."""
        raise NotImplementedError

    def __dreamer_fingerprint__(self) -> str:
        """The model's identity, computed once (weights are hashed when first asked)."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            from dreamer_lab.core.fingerprint import hash_value

            ident = {"class": type(self).__qualname__, "version": self.version, **self._identity()}
            fp = hash_value(ident, label=f"the identity of {type(self).__name__}")
            self.__dict__["_fingerprint"] = fp
        return fp

    def __dreamer_repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self, 'model_name', '')!r})"

    def __repr__(self) -> str:
        return self.__dreamer_repr__()

    # -- card information ------------------------------------------------------------
    @property
    def model_card(self) -> str | None:
        return None

    @property
    def license(self) -> str | None:
        return None

    @property
    def citation(self) -> list[str] | None:
        return None

    # -- request cache -------------------------------------------------------------
    @property
    def request_cache(self) -> RequestCache:
        """The request cache this model reads and writes: per backend, in
        ``cache_folder_path`` when given, else in the workspace."""
        return self._cache_in(self.cache_folder_path)

    def _cache_in(self, folder: str | None) -> RequestCache:
        """This backend's request cache in ``folder`` (``None``: the workspace's)."""
        return request_cache_for(self.backend_name, folder=folder)

    def _free_memory(self) -> None:
        """Release cached accelerator memory (after a batch ran out of memory)."""
        import gc
        import sys

        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _run_cached(
        self,
        inputs: list[Any],
        params: dict[str, Any],
        compute: Callable[[list[Any]], list[Any]],
        *,
        options: RunOptions,
        what: str = "inputs",
        encode: Callable[[Any], Any] = lambda v: v,
        decode: Callable[[Any], Any] = lambda v: v,
        sort_key: Callable[[Any], Any] | None = None,
        concurrency: int = 1,
        force: bool = False,
        cache_only: bool = False,
        step: Any = None,
        cache: RequestCache | None = None,
        on_out_of_memory: Callable[[], None] | None = None,
    ) -> list[Any]:
        """Results for ``inputs`` in order, computing only the ones not in the cache.

        ``compute(batch)`` returns one result per input; ``encode``/``decode`` convert a
        result to/from JSON. Missing inputs are deduplicated, ordered by ``sort_key`` within
        each ``batch_scheduler_buffer_size`` (less padding), cut into batches of
        ``batch_size`` (halved on out-of-memory with ``adaptive_batch_size``) and run with up
        to ``concurrency`` batches in flight; each finished batch is committed at once, so
        an error or a kill loses at most the batches still running. ``cache`` replaces
        :attr:`request_cache`.
        """
        where = f"{self!r}.run()"
        options.checked(where)
        batch_size = options.batch_size
        identity = self.__dreamer_fingerprint__()
        keys = [request_key(identity, params, x) for x in inputs]
        cache = cache if cache is not None else self.request_cache
        found = {} if force else cache.get_many(keys)
        results: dict[str, Any] = {k: decode(v) for k, v in found.items()}
        missing: dict[str, Any] = {}
        for k, x in zip(keys, inputs, strict=True):
            if k not in results and k not in missing:
                missing[k] = x
        self.cached_count += len(inputs) - len(missing)
        if missing and cache_only:
            raise CacheOnlyMissError(
                f"{type(self).__name__}: {len(missing)} of {len(inputs)} inputs are not in "
                "the request cache and cache_only=True. Run without cache_only to compute them."
            )
        todo = list(missing.items())
        if sort_key is not None:
            todo = options.schedule(todo, lambda kv: sort_key(kv[1]))
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        compute = adaptive_batches(compute, options.adaptive_batch_size, where, on_out_of_memory)
        progress = options.progress(len(inputs), repr(self), what, step, len(inputs) - len(todo))

        def finish(batch: list[tuple[str, Any]], outputs: list[Any]) -> None:
            if len(outputs) != len(batch):
                raise RuntimeError(
                    f"{type(self).__name__} returned {len(outputs)} results for a batch of "
                    f"{len(batch)} inputs."
                )
            encoded = {k: encode(o) for (k, _), o in zip(batch, outputs, strict=True)}
            cache.put_many(encoded)
            for k, v in encoded.items():
                results[k] = decode(v)
            self.computed_count += len(batch)
            progress.update(len(batch))

        try:
            with options.scope():
                if concurrency <= 1 or len(batches) <= 1:
                    for batch in batches:
                        finish(batch, compute([x for _, x in batch]))
                else:
                    self._run_concurrently(batches, compute, finish, concurrency)
        finally:
            progress.close()
        return [results[k] for k in keys]

    @staticmethod
    def _run_concurrently(
        batches: list[list[tuple[str, Any]]],
        compute: Callable[[list[Any]], list[Any]],
        finish: Callable[[list[tuple[str, Any]], list[Any]], None],
        concurrency: int,
    ) -> None:
        """Run batches on a thread pool; commit each as it completes (in this thread)."""
        pending = iter(batches)
        error: BaseException | None = None
        with cf.ThreadPoolExecutor(max_workers=concurrency) as pool:
            running: dict[cf.Future, list[tuple[str, Any]]] = {}

            def submit_next() -> None:
                batch = next(pending, None)
                if batch is not None:
                    running[pool.submit(compute, [x for _, x in batch])] = batch

            for _ in range(concurrency):
                submit_next()
            while running:
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    batch = running.pop(fut)
                    try:
                        outputs = fut.result()
                    except BaseException as e:  # noqa: BLE001 - re-raised below
                        error = error or e
                        continue
                    try:
                        finish(batch, outputs)
                    except BaseException as e:  # noqa: BLE001
                        error = error or e
                    if error is None:
                        submit_next()
        if error is not None:
            raise error

    # -- helpers for subclasses ------------------------------------------------------
    def _as_text_list(
        self,
        texts: Iterable[Any],
        what: str = "texts",
        total: int | None = None,
        total_name: str = "total_num_texts",
    ) -> list[str]:
        """``texts`` as a list of str; ``total`` (``total_name=``) must match its length."""
        items = collect(texts, total, total_name, what, f"{self!r}.run()")
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise TypeError(
                    f"{what}[{i}] is a {type(t).__name__}, not a str. Pass a column of texts "
                    "(convert other values with .map() first)."
                )
        return items

    def count_tokens_many(self, values: list[str]) -> list[int]:
        """Token counts of many texts (subclasses batch this through their tokenizer)."""
        return [self.count_tokens(v) for v in values]  # type: ignore[attr-defined]

    def _check_lengths(self, texts: list[str], max_length: int | None) -> None:
        """Raise before any model call if a text is longer than the model accepts."""
        if not max_length or not texts:
            return
        for i, n in enumerate(self.count_tokens_many(texts)):
            if n > max_length:
                raise ValueError(
                    f"{self!r}: text {i} is {n} tokens long but the model accepts at most "
                    f"{max_length}. Pass truncate=True to cut long texts, or shorten them "
                    f"(it starts with {texts[i][:40]!r})."
                )

    @staticmethod
    def _maybe_generator(results: list[Any], return_generator: bool) -> list[Any] | Iterator[Any]:
        return iter(results) if return_generator else results

    def unload_model(self) -> None:
        """Free the loaded model (it is loaded again on the next call)."""
        for name in ("model", "tokenizer"):
            self.__dict__.pop(name, None)


__all__ = ["TaskModel", "CacheOnlyMissError", "DEFAULT_BATCH_SIZE"]
