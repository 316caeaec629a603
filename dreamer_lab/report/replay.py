"""Runtime support for exported scripts: record the fingerprints a run arrives at and compare.

An exported script starts a :class:`FingerprintRecorder`, runs the notebook's code, and calls
:func:`check_fingerprints` with the fingerprints the notebook recorded.
"""

from __future__ import annotations

import sys
from typing import Any

from dreamer_lab.core.lineage import LineageIndex


class FingerprintRecorder:
    """Records ``{step name: fingerprint}`` of every step and trainer run while active
    (computed or loaded from the cache, in any workspace)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self._original: Any = None

    def start(self) -> FingerprintRecorder:
        if self._original is not None:
            return self
        original = LineageIndex.add_run
        recorder = self

        def add_run(index: LineageIndex, **kw: Any) -> int:
            if kw.get("status") in ("done", "hit"):
                recorder.seen[kw["name"]] = kw["fingerprint"]
            elif kw.get("status") == "failed":
                recorder.failed[kw["name"]] = kw.get("error") or ""
            return original(index, **kw)

        self._original = original
        LineageIndex.add_run = add_run  # type: ignore[method-assign]
        return self

    def stop(self) -> None:
        if self._original is not None:
            LineageIndex.add_run = self._original  # type: ignore[method-assign]
            self._original = None

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
