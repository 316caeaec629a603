"""What uploading trainer checkpoints to an object-storage workspace costs a training run.

The training of tests/test_object_store_checkpoints.py (the tiny 2-layer Llama of
tests/trainer_fixtures.py, 16 rows, 24 optimizer steps, a checkpoint every 4 steps) is timed
(the whole ``DataDreamer`` block: open, data source, ``train()``, wall clock) in three arms, interleaved per repetition, each run a fresh
fingerprint-equal run in a fresh prefix and an empty cache:

* local: a local workspace folder;
* bucket, no checkpoint upload: an object-storage workspace on the moto server of
  tests/s3_server.py with ``CheckpointMirror.saved`` switched off (no checkpoint is queued;
  the start's listing of the bucket's checkpoints and the model's commit to the bucket stay);
* bucket: the same with checkpoints uploaded in the background (the default).

The difference between the two bucket arms is what the checkpoint upload costs the run.
moto runs on the same machine (loopback, objects in memory).

Run: ``python bench/bench_checkpoints.py [--reps 5]``; prints min / median per arm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _train(where, cache: Path | None, model: Path) -> float:
    from test_object_store_checkpoints import _train as train

    started = time.perf_counter()
    train(where, cache, model)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    reps = parser.parse_args().reps
    from s3_server import S3Server
    from trainer_fixtures import build_tiny_llama

    from dreamer_lab.core.remote_checkpoints import CheckpointMirror

    real = CheckpointMirror.saved
    times: dict[str, list[float]] = {"local": [], "bucket, no checkpoint upload": [], "bucket": []}
    with tempfile.TemporaryDirectory() as tmp, S3Server() as s3:
        os.environ.update(s3.env)
        base = s3.bucket("bench-checkpoints")
        model = build_tiny_llama(Path(tmp) / "tiny-llama")
        _train(Path(tmp) / "warmup", None, model)
        for rep in range(reps):
            for arm in times:
                where = Path(tmp) / f"{rep}-{list(times).index(arm)}"
                if arm == "local":
                    times[arm].append(_train(where, None, model))
                    continue
                off = arm != "bucket"
                CheckpointMirror.saved = (lambda self, folder: None) if off else real
                url = f"{base}/{rep}-{arm.replace(' ', '-').replace(',', '')}"
                times[arm].append(_train(url, where, model))
        CheckpointMirror.saved = real
    print(f"| arm ({reps} runs, interleaved) | min s | median s |")
    print("|---|---|---|")
    for arm, ts in times.items():
        print(f"| {arm} | {min(ts):.2f} | {statistics.median(ts):.2f} |")


if __name__ == "__main__":
    main()
