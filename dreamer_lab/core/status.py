"""The one status vocabulary of steps and trainers, shared by every view.

The step view, the trainer view, the lineage payloads and the sidebar all show these words;
they are defined here once (rank 0, so every layer can use them). Lineage runs store the
shorter codes of :data:`RUN_CODES` (``done``, ``hit`` ...); :func:`from_run` translates.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What happened to a step or trainer, in the words the user reads."""

    COMPUTED = "computed"
    CACHED = "loaded from cache"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    STALE = "stale"

    @property
    def css(self) -> str:
        """A class-name-safe token (``loaded-from-cache``) for styling the badge."""
        return self.value.replace(" ", "-")


#: Lineage run codes (``runs.status`` in lineage.sqlite) and the status each one shows.
RUN_CODES: dict[str, Status] = {
    "done": Status.COMPUTED,
    "hit": Status.CACHED,
    "running": Status.RUNNING,
    "interrupted": Status.INTERRUPTED,
    "failed": Status.FAILED,
    "stale": Status.STALE,
}


def from_run(code: str) -> Status:
    """The status for a lineage run code or a status word (``"hit"`` -> ``CACHED``)."""
    if code in RUN_CODES:
        return RUN_CODES[code]
    return Status(code)


def node_state(node: dict, last_run_code: str | None) -> Status:
    """The status word of a lineage node (``status`` fresh/stale/running/failed) given the
    code of the latest run of its fingerprint (``done``, ``hit`` ...)."""
    status = node.get("status")
    if status == "running":
        return Status.RUNNING
    if status == "failed":
        error = str(node.get("error") or "")
        interrupted = error.startswith(("KeyboardInterrupt", "StepInterrupted"))
        return Status.INTERRUPTED if interrupted else Status.FAILED
    if status == "stale":
        return Status.STALE
    return Status.CACHED if last_run_code == "hit" else Status.COMPUTED
