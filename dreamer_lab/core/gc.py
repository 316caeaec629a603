"""Garbage collection: drop entries that no current step depends on.

An entry is *referenced* when it is the latest result of some step name, or an ancestor
of one. Everything else (results of older versions of a cell, abandoned experiments) and
the quarantine folder can be deleted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from dreamer_lab.core.store import dir_size
from dreamer_lab.core.workspace import Workspace


@dataclass
class GCReport:
    deleted: list[tuple[str, str]] = field(default_factory=list)
    bytes_freed: int = 0
    kept: int = 0


def referenced(ws: Workspace) -> set[str]:
    """Fingerprints of the latest result of every name, and all their ancestors."""
    latest = ws.lineage.latest_runs_by_name()
    roots = set()
    for name in latest:
        for run in ws.lineage.runs(name, limit=100):
            if run["status"] in ("done", "hit"):
                roots.add(run["fingerprint"])
                break
    parents: dict[str, list[str]] = {}
    for a, b in ws.lineage.edges():
        parents.setdefault(b, []).append(a)
    keep = set()
    stack = list(roots)
    while stack:
        fp = stack.pop()
        if fp in keep:
            continue
        keep.add(fp)
        stack.extend(parents.get(fp, []))
    return keep


def collect(ws: Workspace, dry_run: bool = False) -> GCReport:
    keep = referenced(ws)
    names = {s["fingerprint"]: s["name"] for s in ws.lineage.steps()}
    report = GCReport()
    dropped = []
    for store in (ws.steps, ws.models):
        for fp in store.fingerprints():
            if fp in keep:
                report.kept += 1
                continue
            report.deleted.append((fp, names.get(fp, "?")))
            if dry_run:
                report.bytes_freed += dir_size(store.path(fp))
            else:
                with ws.lock(fp):
                    report.bytes_freed += store.delete(fp)
                dropped.append(fp)
    for q in list((ws.path / "quarantine").iterdir()):
        report.bytes_freed += dir_size(q)
        if not dry_run:
            shutil.rmtree(q, ignore_errors=True) if q.is_dir() else q.unlink(missing_ok=True)
    if dropped:
        ws.lineage.remove_steps(dropped)
    return report
