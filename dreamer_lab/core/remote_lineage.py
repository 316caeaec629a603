"""The lineage index of an object-storage workspace (core/remote_workspace.py).

Records are the shared truth. On open, every record in the bucket that the local index does
not know is downloaded, checked, and added (steps, edges, one 'done' run). Each machine's run
history (hits, failures) stays in its cache.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dreamer_lab.core.entry_record import RECORD, parse_record
from dreamer_lab.core.lineage import AREAS, _fill
from dreamer_lab.errors import CorruptEntryError

if TYPE_CHECKING:
    from dreamer_lab.core.lineage import LineageIndex
    from dreamer_lab.core.object_store import ObjectStore

log = logging.getLogger("dreamer_lab")


def sync_lineage(lineage: LineageIndex, remote: ObjectStore) -> int:
    """Add the bucket's records that ``lineage`` lacks; returns how many."""
    known = {s["fingerprint"] for s in lineage.steps()}
    keys = [
        k
        for area in AREAS
        for k in remote.glob(f"{area}/*/{RECORD}")
        if k.split("/")[1] not in known
    ]
    found = []
    for key, raw in remote.get_many(keys).items():
        area, fp = key.split("/")[:2]
        try:
            record, _ = parse_record(raw, fp)
        except CorruptEntryError as e:
            log.warning("skipped %s: %s", remote.where(key), e)
            continue
        found.append((record, area))
    if found:
        found.sort(key=lambda ra: float(ra[0].get("created") or 0))

        def fill(db: Any) -> None:
            db.execute("BEGIN IMMEDIATE")
            _fill(db, found)
            db.execute("COMMIT")

        lineage._call(fill)
    return len(found)
