"""``map``/``filter`` of a stored step, run as Ray tasks over contiguous shards of its rows.

The driver cuts the parent's rows into contiguous shards (boundaries on multiples of
``batch_size`` for ``batched=True``, so every batch the function sees is the batch it sees
in-process), sends each shard's Arrow slice and the pickled arguments to a Ray task, and
puts the results back together in shard order. Indices (``with_indices=True``) are shifted
to the whole dataset's, column types are aligned as ``datasets.concatenate_datasets``
aligns them, and the result is returned to the step, which commits it exactly as an
in-process result: the rows are the in-process rows, in the same order, under the same
fingerprint. A task whose worker dies is retried by Ray (its shard is computed again; the
others are kept); the step itself commits only when every shard is back, so a killed
driver leaves nothing and the rerun maps again.

The function must be picklable with ``cloudpickle`` (Ray's serializer): functions from
notebook cells and lambdas are; a closure or global holding a lock, an open file or a
client is not, and is refused before any task starts.
"""

from __future__ import annotations

import collections
import logging
import math
import os
from typing import Any

from dreamer_lab.errors import DreamerError, StepFailedError, StepInputError

logger = logging.getLogger("dreamer_lab")

SHARDS_PER_CPU = 4  # shards per cluster CPU: load balance, and a lost worker costs a little
IN_FLIGHT_PER_CPU = 2  # shards sent ahead per cluster CPU (the rest wait on the driver)
MAX_RETRIES = 3  # Ray retries a shard whose worker died this often


def shard_bounds(rows: int, shards: int, multiple: int = 1) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: ``rows`` cut into at most ``shards`` contiguous pieces whose
    starts are multiples of ``multiple`` (a batched function's ``batch_size``)."""
    if rows <= 0:
        return []
    size = math.ceil(rows / max(1, shards))
    size = math.ceil(size / multiple) * multiple
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


class Shifted:
    """``function`` called with indices shifted by ``offset`` (its shard's first row), so
    ``with_indices=True`` sees the whole dataset's indices. The index is the last
    positional argument ``datasets`` passes (a list of them when ``batched``)."""

    def __init__(self, function: Any, offset: int, batched: bool):
        self.function, self.offset, self.batched = function, offset, batched

    def __call__(self, *args: Any) -> Any:
        *rest, idx = args
        idx = [i + self.offset for i in idx] if self.batched else idx + self.offset
        return self.function(*rest, idx)


def apply_to_shard(
    table: Any, features: Any, blob: bytes, op: str, offset: int, fingerprint: str, where: str
) -> tuple[Any, Any, int]:
    """Runs on a Ray worker: ``op`` over one shard; ``(arrow table, features, pid)``."""
    import datasets
    from datasets.table import InMemoryTable
    from ray import cloudpickle

    try:
        op_args = cloudpickle.loads(blob)
    except ImportError as e:
        raise StepFailedError(
            f"{where}: a Ray worker cannot load the function ({type(e).__name__}: {e}). "
            "Functions from your own modules are sent by name: make the module importable on "
            "every node (install it, or give RayExecutor(init_kwargs={'runtime_env': "
            "{'py_modules': [module]}})), or define the function in the notebook or script."
        ) from None
    if op_args.get("with_indices"):
        op_args["function"] = Shifted(op_args["function"], offset, bool(op_args.get("batched")))
    datasets.disable_progress_bars()
    datasets.disable_caching()
    ds = datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))
    out = getattr(ds, op)(**op_args, keep_in_memory=True, new_fingerprint=fingerprint)
    return out.with_format("arrow")[:], out.features, os.getpid()


def picklable(op_args: dict[str, Any], where: str, op: str) -> bytes:
    """``op_args`` pickled for the workers, or a clear error saying what cannot be."""
    from ray import cloudpickle

    try:
        return cloudpickle.dumps(op_args)
    except Exception as e:
        raise StepInputError(
            f"{where}: executor='ray' runs this {op} on Ray workers, which needs its function "
            f"to be picklable, and it is not ({type(e).__name__}: {e}). Create locks, open "
            "files, clients and connections inside the function instead of capturing them, "
            "or run it in this process: raise the session's map_min_rows (dreamer_lab."
            "executors.current_executor().map_min_rows = None runs every map/filter here)."
        ) from e


def run_sharded(
    executor: Any,
    ds: Any,
    op: str,
    op_args: dict[str, Any],
    *,
    where: str,
    new_fingerprint: str,
    progress: bool,
) -> Any:
    """``ds.<op>(**op_args)`` computed on the cluster of ``executor`` (see the module)."""
    import datasets
    from tqdm.auto import tqdm

    blob = picklable(op_args, where, op)  # refused before the cluster is touched
    ray = executor._connect()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    multiple = op_args["batch_size"] if op_args.get("batched") else 1
    bounds = shard_bounds(ds.num_rows, SHARDS_PER_CPU * cpus, multiple)
    task = ray.remote(apply_to_shard).options(
        num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False
    )
    blob_ref, features_ref = ray.put(blob), ray.put(ds.features)
    rows = ds.with_format("arrow")
    queue = collections.deque(enumerate(bounds))
    in_flight: dict[Any, int] = {}
    results: list[Any] = [None] * len(bounds)
    bar = tqdm(
        total=ds.num_rows,
        desc=f"{where} on Ray",
        disable=not progress or not datasets.is_progress_bar_enabled(),
        leave=False,
    )
    try:
        while queue or in_flight:
            while queue and len(in_flight) < IN_FLIGHT_PER_CPU * cpus:
                i, (start, stop) = queue.popleft()
                ref = task.remote(
                    rows[start:stop],
                    features_ref,
                    blob_ref,
                    op,
                    start,
                    f"{new_fingerprint}-{i}",
                    where,
                )
                in_flight[ref] = i
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                i = in_flight.pop(ref)
                results[i] = _result(ray, ref, i, where, op)
                bar.update(bounds[i][1] - bounds[i][0])
    finally:
        for ref in in_flight:  # an error or an interrupt: stop the rest
            ray.cancel(ref)
        bar.close()
    out = _assemble(ds, results, new_fingerprint)
    executor.last_operation = {
        "op": op,
        "rows": ds.num_rows,
        "shards": len(bounds),
        "worker_pids": sorted({pid for _, _, pid in results}),
    }
    logger.info("%s: %s over %d shards on Ray", where, op, len(bounds))
    return out


def _result(ray: Any, ref: Any, i: int, where: str, op: str) -> Any:
    """Shard ``i``'s result; the function's own error as it would be raised in-process."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from (None if isinstance(cause, DreamerError) else e)
        raise StepFailedError(f"{where}: the {op} failed on a Ray worker: {e}") from e
    except ray.exceptions.RayError as e:
        raise StepFailedError(
            f"{where}: shard {i} of the {op} was lost {MAX_RETRIES + 1} times "
            f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})."
            " Nothing was committed; run it again, give the workers more memory, or run it in "
            "this process (current_executor().map_min_rows = None)."
        ) from e


def _assemble(ds: Any, results: list[Any], fingerprint: str) -> Any:
    """The shards' tables as one dataset, in shard order (types aligned across shards),
    with the parent's info and the fingerprint ``datasets`` gives it in-process."""
    import datasets
    from datasets.table import InMemoryTable

    parts = [
        datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))
        for table, features, _ in results
    ]
    out = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    info = ds.info.copy()
    info.features = out.features
    return datasets.Dataset(out.data, info=info, fingerprint=fingerprint)


__all__ = ["Shifted", "apply_to_shard", "picklable", "run_sharded", "shard_bounds"]
