"""Get-or-compute over a store: the step-level memo layer.

The lookup, the cross-process lock and the atomic commit live here so that steps,
trainers and memoized notebook cells share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamer_lab.core.store import Entry, StepStore
from dreamer_lab.core.workspace import Workspace


@dataclass
class Computed:
    """What a computation produced, ready to be committed."""

    write: Callable[[Path], None]
    record: dict[str, Any]
    objects: dict[str, Any] = field(default_factory=dict)


def get_or_compute(
    ws: Workspace,
    store: StepStore,
    fingerprint: str,
    compute: Callable[[], Computed],
    *,
    force: bool = False,
) -> tuple[Entry, bool]:
    """Return ``(entry, cache_hit)``. Two processes asking at once compute once."""
    if not force:
        entry = store.load(fingerprint)
        if entry is not None:
            return entry, True
    with ws.lock(fingerprint):
        if not force:
            entry = store.load(fingerprint)  # computed by another process while we waited
            if entry is not None:
                return entry, True
        computed = compute()
        if force:
            store.discard(fingerprint)
        entry = store.commit(fingerprint, computed.write, computed.record, computed.objects)
        return entry, False
