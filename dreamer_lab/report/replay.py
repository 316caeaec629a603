"""Runtime support for exported scripts: record the fingerprints a run arrives at and compare.

An exported script starts a :class:`FingerprintRecorder`, runs the notebook's code, and calls
:func:`check_fingerprints` with the fingerprints the notebook recorded.
"""

from __future__ import annotations

import sys
from typing import Any

from dreamer_lab.core.lineage import RUN_LISTENERS


class FingerprintRecorder:
    """Records ``{step name: fingerprint}`` of every step and trainer run while active
    (computed or loaded from the cache, in any workspace)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    def _on_run(self, *, name: str, fingerprint: str, status: str, error: str | None) -> None:
        if status in ("done", "hit"):
            self.seen[name] = fingerprint
        elif status == "failed":
            self.failed[name] = error or ""

    def start(self) -> FingerprintRecorder:
        if self._on_run not in RUN_LISTENERS:
            RUN_LISTENERS.append(self._on_run)
        return self

    def stop(self) -> None:
        if self._on_run in RUN_LISTENERS:
            RUN_LISTENERS.remove(self._on_run)

    def __enter__(self) -> FingerprintRecorder:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def compare(expected: dict[str, str], seen: dict[str, str]) -> list[str]:
    """Differences between the recorded fingerprints and a run's (empty when identical)."""
    problems = []
    for name, fp in expected.items():
        got = seen.get(name)
        if got is None:
            problems.append(f"step {name!r} did not run (expected {fp[:12]})")
        elif got != fp:
            problems.append(f"step {name!r} arrived at {got[:12]}, the notebook recorded {fp[:12]}")
    return problems


def check_fingerprints(recorder: FingerprintRecorder, expected: dict[str, str]) -> None:
    """Print the comparison; exit with status 1 when any fingerprint differs."""
    recorder.stop()
    problems = compare(expected, recorder.seen)
    if not expected:
        problems = ["the notebook recorded no fingerprints, so there is nothing to compare"]
    if problems:
        print("FINGERPRINT MISMATCH: this run does not reproduce the notebook:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(
            "  Use `dreamer-lab show <fingerprint>` or dreamer_lab.explain(step) to see what changed.",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(f"OK: all {len(expected)} step fingerprints match the notebook.")
