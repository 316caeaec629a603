"""``RayExecutor``: an LLM run's uncached requests, sharded over Ray actors.

Each actor holds one replica of the model, built from a copy of the LLM's configuration
(:mod:`dreamer_lab.executors.portable`: no weights and no API key cross the wire). The
driver (this process) keeps the request cache and the store: ``LLM.run`` looks requests
up and schedules the missing ones exactly as it does in-process, this executor sends the
batches (the same batches, in the same composition) to the actors, and commits each batch
to the request cache as soon as it arrives (``ray.wait``). Killing the driver or an actor
therefore loses at most the batches in flight: a batch whose actor dies is sent again to a
live (or restarted) actor, and a rerun sends only what is not cached.

With ``map_min_rows`` set, ``map``/``filter`` of a stored step with at least that many rows run
as Ray tasks over shards of the rows (:mod:`dreamer_lab.executors.ray_map`); the step commits
the result.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dreamer_lab.errors import DreamerError, LLMError

logger = logging.getLogger("dreamer_lab")

Item = tuple[str, str, Any]  # (request key, prompt, row seed)

_RESOURCE_KEYS = {"num_cpus", "num_gpus", "memory", "resources", "accelerator_type"}
_MAX_ATTEMPTS = 3  # a batch whose actor died this often is not sent again
_MAX_PROBES = 60  # a dead actor is asked this often (1 s apart) whether Ray restarted it


class ReplicaActor:
    """One model replica (a Ray actor class: ``ray.remote(ReplicaActor)``)."""

    def __init__(self, model_bytes: bytes):
        from dreamer_lab.executors.portable import from_bytes

        self.model = from_bytes(model_bytes)

    def ready(self) -> int:
        """Load the model now (fail fast); the actor's process id."""
        self.model.load_model()
        return os.getpid()

    def generate(
        self, items: list[Item], params: dict[str, Any], batch_size: int, adaptive: bool
    ) -> dict[str, Any]:
        """``{key: value}`` for one batch, as the backend generates it in-process."""
        out: dict[str, Any] = {}
        self.model._generate_missing(items, params, batch_size, out.update, adaptive)
        return out


def ray_module() -> Any:
    """``ray``, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise DreamerError(
            "executor='ray' needs the ray package, which is not installed. Install it with "
            "`pip install 'dreamer-lab[ray]'` (or `pip install ray`), or use the default "
            "executor."
        ) from e
    return ray


@dataclass
class _Pool:
    """The actors serving one model (reused by every run of that model in the session)."""

    actors: list[Any]
    model_refs: list[Any]  # the replicas' configuration in the object store
    live: list[Any] = field(default_factory=list)
    probes: dict[Any, tuple[Any, int]] = field(default_factory=dict)  # ref -> (actor, n)
    retry: dict[Any, tuple[int, float]] = field(default_factory=dict)  # actor -> (n, when)

    def __post_init__(self) -> None:
        self.live = list(self.actors)


class RayExecutor:
    """Runs LLM generation on a Ray cluster (``DataDreamer(..., executor="ray")``).

    Args:
        address: the cluster (``None``: start a local one, or use the connection this
            process already has; ``"auto"``: the cluster of ``ray start`` on this machine;
            ``"ray://host:10001"``: a remote cluster through Ray Client).
        replicas: actors per model (each holds one replica).
        resources_per_replica: Ray resources of each actor, e.g. ``{"num_gpus": 1}`` or
            ``{"num_cpus": 4}`` (keys: num_cpus, num_gpus, memory, resources,
            accelerator_type). Default ``{"num_cpus": 1}``.
        max_restarts: how often Ray restarts a dead actor (its batches go to the others
            meanwhile).
        max_in_flight: batches queued on each actor at a time (2 keeps it busy while the
            driver commits).
        init_kwargs: more ``ray.init`` arguments (e.g. ``runtime_env``).
        ready_timeout: seconds to wait for the replicas to be placed and load the model.
        map_min_rows: ``map``/``filter`` of a stored step with at least this many rows run
            as Ray tasks (1 CPU each) over shards of the rows; smaller ones run in this
            process. ``0``: every map/filter; ``None`` (the default): none, as the function
            then runs on other machines, where the driver's files and state are not.
            Settable later (``dd.executor.map_min_rows = 100_000``).
    """

    def __init__(
        self,
        address: str | None = None,
        replicas: int = 2,
        resources_per_replica: dict[str, Any] | None = None,
        max_restarts: int = 1,
        max_in_flight: int = 2,
        init_kwargs: dict[str, Any] | None = None,
        ready_timeout: float = 600,
        map_min_rows: int | None = None,
    ):
        _check_options(address, replicas, resources_per_replica, max_restarts, max_in_flight)
        self.map_min_rows = map_min_rows  # checked by the property
        self.address = address
        self.replicas = replicas
        self.resources_per_replica = dict(resources_per_replica or {"num_cpus": 1})
        self.max_restarts = max_restarts
        self.max_in_flight = max_in_flight
        self.init_kwargs = dict(init_kwargs or {})
        self.ready_timeout = ready_timeout
        self._pools: dict[str, _Pool] = {}
        self._started_ray = False
        self.requeued = 0  # batches sent again because their actor died
        # rows each replica generated and the driver committed: replica index -> rows
        self.committed_by_replica: collections.Counter[int] = collections.Counter()
        self.last_operation: dict[str, Any] | None = None  # the last map/filter run on Ray
        ray_module()  # a clear error now, not at the first step

    @property
    def map_min_rows(self) -> int | None:
        """``map``/``filter`` over at least this many rows run on the cluster (None: none)."""
        return self._map_min_rows

    @map_min_rows.setter
    def map_min_rows(self, value: int | None) -> None:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValueError(
                "map_min_rows must be a number of rows (an int >= 0; 0: every map/filter on "
                f"Ray) or None (every map/filter in this process), got {value!r}."
            )
        self._map_min_rows = value

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, replicas={self.replicas}, "
            f"resources_per_replica={self.resources_per_replica!r}, "
            f"map_min_rows={self.map_min_rows!r})"
        )

    # -- the cluster -----------------------------------------------------------------------
    def _connect(self) -> Any:
        ray = ray_module()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            ray.init(address=self.address, **kwargs)
            self._started_ray = True
        return ray

    def actors(self, llm: Any) -> list[Any]:
        """The live actors serving ``llm`` (empty before its first run)."""
        pool = self._pools.get(llm.__dreamer_fingerprint__())
        return list(pool.live) if pool else []

    def _pool(self, llm: Any) -> _Pool:
        key = llm.__dreamer_fingerprint__()
        if key not in self._pools:
            self._pools[key] = self._start_pool(llm)
        return self._pools[key]

    def _start_pool(self, llm: Any) -> _Pool:
        from dreamer_lab.executors.portable import to_bytes

        ray = self._connect()
        templates = list(getattr(llm, "llms", None) or [llm])  # ParallelLLM: its backends
        blobs = [to_bytes(t) for t in templates]
        actor_class = ray.remote(ReplicaActor).options(
            max_restarts=self.max_restarts, max_task_retries=0, **self.resources_per_replica
        )
        refs = [ray.put(b) for b in blobs]  # held by the pool: a restart needs them
        actors = [actor_class.remote(refs[i % len(refs)]) for i in range(self.replicas)]
        try:
            ray.get([a.ready.remote() for a in actors], timeout=self.ready_timeout)
        except Exception as e:
            for a in actors:
                ray.kill(a)
            raise LLMError(
                f"{llm!r}: {self.replicas} Ray replicas were not ready within "
                f"{self.ready_timeout:g} s ({_cause(e)}). Check that the cluster has "
                f"{self.replicas} x {self.resources_per_replica} free (`ray status`) and that "
                "every node has dreamer_lab and the model files."
            ) from e
        logger.info("%r: %d Ray replicas of %r ready", self, len(actors), llm)
        return _Pool(actors, refs)

    def close(self) -> None:
        """Stop every actor (and the local cluster, when this executor started it)."""
        if not self._pools and not self._started_ray:
            return
        ray = ray_module()
        for pool in self._pools.values():
            for actor in pool.actors:
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(actor)
        self._pools.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    # -- map / filter ----------------------------------------------------------------------
    def run_operation(self, ds: Any, op: str, op_args: dict[str, Any], **how: Any) -> Any | None:
        """``ds.<op>(**op_args)`` on the cluster, or ``None`` (run it in-process) below
        ``map_min_rows`` rows or for a ``batched`` call over the whole data as one batch."""
        limit = self.map_min_rows
        if op not in ("map", "filter") or limit is None or ds.num_rows == 0:
            return None
        if ds.num_rows < limit:
            return None
        if op_args.get("batched") and not (op_args.get("batch_size") or 0) > 0:
            logger.info("%s: one batch of all rows cannot be sharded; run here", how["where"])
            return None
        from dreamer_lab.executors.ray_map import run_sharded

        return run_sharded(self, ds, op, op_args, **how)

    # -- generation ------------------------------------------------------------------------
    def handles(self, llm: Any) -> bool:
        """True for models this executor runs (every LLM with a ``_generate_missing``)."""
        return callable(getattr(llm, "_generate_missing", None))

    def generate(
        self,
        llm: Any,
        todo: list[Item],
        params: dict[str, Any],
        options: Any,
        commit: Callable[[dict[str, Any]], None],
    ) -> None:
        """Generate ``todo`` (already in batch order) on the actors; ``commit`` each batch
        as it finishes."""
        size = options.batch_size
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        args = (params, size, options.adaptive_batch_size)
        _Dispatch(self, llm, self._pool(llm), batches, args, commit).run()


class _Dispatch:
    """One run's batches: a queue, the batches in flight, and the commits."""

    def __init__(
        self,
        executor: RayExecutor,
        llm: Any,
        pool: _Pool,
        batches: list[list[Item]],
        args: tuple[Any, ...],
        commit: Callable[[dict[str, Any]], None],
    ):
        self.ray = ray_module()
        self.executor, self.llm, self.pool = executor, llm, pool
        self.batches, self.args, self.commit = batches, args, commit
        self.queue: collections.deque[int] = collections.deque(range(len(batches)))
        self.in_flight: dict[Any, tuple[int, Any]] = {}  # ref -> (batch, actor)
        self.attempts = [0] * len(batches)
        self.done: set[int] = set()

    def run(self) -> None:
        try:
            while self.queue or self.in_flight:
                self._submit()
                self._probe_again()
                waiting = list(self.in_flight) + list(self.pool.probes)
                if not waiting and self.pool.retry:
                    time.sleep(0.2)
                    continue
                if not waiting:
                    raise LLMError(
                        f"{self.llm!r}: every Ray replica died ({len(self.done)} of "
                        f"{len(self.batches)} batches were committed). Rerun: only the "
                        "missing requests are sent again."
                    )
                ready, _ = self.ray.wait(waiting, num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in self.pool.probes:
                        self._probed(ref)
                    else:
                        self._finished(ref)
        finally:
            for ref in self.in_flight:  # interrupted: the batches in flight are lost
                self.ray.cancel(ref)

    def _submit(self) -> None:
        load = collections.Counter(actor for _, actor in self.in_flight.values())
        for actor in self.pool.live:
            while self.queue and load[actor] < self.executor.max_in_flight:
                i = self.queue.popleft()
                self.attempts[i] += 1
                ref = actor.generate.remote(self.batches[i], *self.args)
                self.in_flight[ref] = (i, actor)
                load[actor] += 1

    def _finished(self, ref: Any) -> None:
        i, actor = self.in_flight.pop(ref)
        try:
            values = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as e:
            self._lost(i, actor, e)
            return
        except self.ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, DreamerError):
                raise cause from None
            raise LLMError(f"{self.llm!r} failed on a Ray replica: {_cause(e)}") from e
        keys = [k for k, _, _ in self.batches[i]]
        if sorted(values) != sorted(keys) or i in self.done:
            raise LLMError(
                f"{self.llm!r}: a Ray replica answered batch {i} with other requests than "
                "were sent; nothing of it was committed."
            )
        self.done.add(i)
        self.commit({k: values[k] for k in keys})
        self.executor.committed_by_replica[self.pool.actors.index(actor)] += len(keys)

    def _lost(self, i: int, actor: Any, error: Exception) -> None:
        """``actor`` died running batch ``i``: queue the batch again, probe the actor."""
        if self.attempts[i] >= _MAX_ATTEMPTS:
            raise LLMError(
                f"{self.llm!r}: batch {i} killed its Ray replica {self.attempts[i]} times "
                f"({_cause(error)}); it is not sent again. Lower batch_size or give each "
                "replica more memory (resources_per_replica)."
            ) from error
        self.queue.appendleft(i)
        self.executor.requeued += 1
        if actor in self.pool.live:
            logger.warning("%r: a Ray replica died (%s); its batches go to the others", self, error)
            self.pool.live.remove(actor)
            self.pool.probes[actor.ready.remote()] = (actor, 1)  # back when Ray restarts it

    def _probed(self, ref: Any) -> None:
        actor, n = self.pool.probes.pop(ref)
        try:
            self.ray.get(ref)
        except Exception:
            if n < _MAX_PROBES:  # restarting, or not known to be restarting yet
                self.pool.retry[actor] = (n + 1, time.monotonic() + 1.0)
            else:  # dead for good: free what it holds
                with contextlib.suppress(Exception):
                    self.ray.kill(actor)
            return
        self.pool.live.append(actor)

    def _probe_again(self) -> None:
        now = time.monotonic()
        for actor, (n, when) in list(self.pool.retry.items()):
            if now >= when:
                del self.pool.retry[actor]
                self.pool.probes[actor.ready.remote()] = (actor, n)


def _cause(e: BaseException) -> str:
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def _check_options(
    address: Any,
    replicas: Any,
    resources: Any,
    max_restarts: Any,
    max_in_flight: Any,
) -> None:
    def bad_int(v: Any, low: int) -> bool:
        return isinstance(v, bool) or not isinstance(v, int) or v < low

    if address is not None and not isinstance(address, str):
        raise ValueError(
            f"DataDreamer(): ray_address must be None, 'auto' or 'ray://host:port', got "
            f"{address!r}."
        )
    if bad_int(replicas, 1):
        raise ValueError(f"DataDreamer(): replicas must be an int >= 1, got {replicas!r}.")
    if bad_int(max_restarts, 0) or bad_int(max_in_flight, 1):
        raise ValueError(
            "DataDreamer(): max_restarts must be an int >= 0 and max_in_flight an int >= 1, "
            f"got {max_restarts!r} and {max_in_flight!r}."
        )
    if resources is not None:
        unknown = set(resources) - _RESOURCE_KEYS if isinstance(resources, dict) else None
        if unknown is None or unknown:
            raise ValueError(
                f"DataDreamer(): resources_per_replica must be a dict with keys among "
                f"{sorted(_RESOURCE_KEYS)} (e.g. {{'num_gpus': 1}}), got {resources!r}."
            )


__all__ = ["RayExecutor", "ReplicaActor", "ray_module"]
