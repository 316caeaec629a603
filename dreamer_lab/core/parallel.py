"""Spreading one model call over several replicas of the same model, in threads.

Shared by ``ParallelLLM``, ``ParallelTaskModel`` / ``ParallelEmbedder`` and
``ParallelRetriever`` (DataDreamer's names): the inputs are dealt round-robin over the
replicas (after ordering them by length, so every replica gets a similar mix of short and
long inputs), each replica works through its shard in its own thread, and the results are
put back in input order. An error in any replica is raised once all threads stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dreamer_lab.errors import StepInputError

T = TypeVar("T")
R = TypeVar("R")


def check_replicas(models: Sequence[Any], base: type, what: str) -> list[Any]:
    """``models`` as a list, or a clear error: at least one, all ``base`` instances of one
    class serving one model, no object twice (a replica runs one shard at a time)."""
    name = base.__name__
    if not models:
        raise StepInputError(f"{what}(*models) needs at least one {name}.")
    bad = [type(m).__name__ for m in models if not isinstance(m, base)]
    if bad:
        raise StepInputError(f"{what}() takes {name} objects only, got {bad}.")
    if len({id(m) for m in models}) != len(models):
        raise StepInputError(
            f"The same {name} object was passed to {what}() more than once; create one "
            f"object per replica (e.g. one per device or endpoint)."
        )
    classes = {type(m).__name__ for m in models}
    names = {str(getattr(m, "model_name", "")) for m in models}
    if len(classes) > 1 or len(names) > 1:
        raise StepInputError(
            f"All {name}s passed to {what}() must be replicas of the same model; got "
            f"classes {sorted(classes)} and models {sorted(names)}."
        )
    return list(models)


def stripes(
    items: Sequence[Any], n: int, key: Callable[[Any], Any] | None = None
) -> list[list[int]]:
    """Positions of ``items`` dealt round-robin into ``n`` shards (ordered by ``key`` first)."""
    order = list(range(len(items)))
    if key is not None:
        order.sort(key=lambda i: key(items[i]))
    return [order[i::n] for i in range(n)]


def run_on_replicas(
    replicas: Sequence[R], shards: Sequence[Sequence[T]], work: Callable[[R, list[T]], Any]
) -> list[Any]:
    """``work(replica, shard)`` for each non-empty shard, one thread per replica; the
    results per shard (``None`` for an empty one). The first error is re-raised."""
    results: list[Any] = [None] * len(shards)
    busy = [i for i, shard in enumerate(shards) if shard]
    if len(busy) == 1:  # one shard: no thread needed
        i = busy[0]
        results[i] = work(replicas[i], list(shards[i]))
        return results
    with ThreadPoolExecutor(max(1, len(busy))) as pool:
        futures = {i: pool.submit(work, replicas[i], list(shards[i])) for i in busy}
        error: BaseException | None = None
        for i, fut in futures.items():
            try:
                results[i] = fut.result()
            except BaseException as e:  # noqa: BLE001 - re-raised below, after all stopped
                error = error or e
    if error is not None:
        raise error
    return results


def run_sharded(
    replicas: Sequence[R],
    items: Sequence[T],
    run: Callable[[R, list[T]], Sequence[Any]],
    key: Callable[[T], Any] | None = len,
    progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """One result per item, in order: distinct items are striped over ``replicas`` and
    ``run(replica, shard)`` returns one result per shard item (as a model's ``run()``).
    ``progress(fraction)`` is told the share of distinct items done as each shard ends."""
    index: dict[Any, int] = {}
    unique: list[T] = []
    for x in items:
        if x not in index:
            index[x] = len(unique)
            unique.append(x)
    shards_pos = stripes(unique, len(replicas), key)
    shards = [[unique[i] for i in pos] for pos in shards_pos]

    lock = threading.Lock()
    done = [0]

    def checked(replica: R, shard: list[T]) -> list[Any]:
        out = list(run(replica, shard))
        if len(out) != len(shard):
            raise RuntimeError(f"{replica!r} returned {len(out)} results for {len(shard)} inputs.")
        if progress is not None:
            with lock:
                done[0] += len(shard)
                progress(done[0] / len(unique))
        return out

    per_shard = run_on_replicas(replicas, shards, checked)
    by_unique: list[Any] = [None] * len(unique)
    for pos, out in zip(shards_pos, per_shard, strict=True):
        for i, value in zip(pos, out or [], strict=False):
            by_unique[i] = value
    return [by_unique[index[x]] for x in items]


def step_progress(step: Any) -> Callable[[float], None] | None:
    """A ``progress`` callback that sets ``step.progress`` (None without a step)."""
    if step is None:
        return None

    def report(fraction: float) -> None:
        step.progress = fraction

    return report


class Replicas:
    """Mixin of the parallel models: card facts and identity from the first replica,
    unloading and unknown attributes over ``self.replicas`` (put it first in the bases)."""

    replicas: list[Any]

    def __dreamer_fingerprint__(self) -> str:
        # Replicas serve the same model: the first one's identity keys the step's cache.
        return str(self.replicas[0].__dreamer_fingerprint__())

    @property
    def model_card(self) -> str | None:
        return self.replicas[0].model_card

    @property
    def license(self) -> str | None:
        return self.replicas[0].license

    @property
    def citation(self) -> list[str] | None:
        return self.replicas[0].citation

    def load_model(self) -> None:
        """Load every replica (``with parallel_model:``)."""
        for replica in self.replicas:
            replica.load_model()

    def unload_model(self) -> None:
        """Unload every replica."""
        for replica in self.replicas:
            replica.unload_model()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the parallel object lacks (e.g. a backend's own facts).
        if name.startswith("_") or "replicas" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["replicas"][0], name)

    def __dreamer_repr__(self) -> str:
        inner = ", ".join(repr(r) for r in self.replicas)
        return f"{type(self).__name__}({inner})"

    def __repr__(self) -> str:
        return self.__dreamer_repr__()


__all__ = [
    "Replicas",
    "step_progress",
    "check_replicas",
    "stripes",
    "run_on_replicas",
    "run_sharded",
]
