"""Why did a step miss? Compare its fingerprint components with an earlier run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Explanation:
    """The differences between a step's inputs and those of the previous run of its name."""

    name: str
    fingerprint: str
    cache_hit: bool | None
    previous: str | None
    changes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"Step {self.name!r} ({self.fingerprint[:12]})"
        if self.previous is None:
            return f"{head}: first run under this name; nothing to compare with."
        if not self.changes:
            return f"{head}: same inputs as the previous run ({self.previous[:12]}); cache hit."
        return f"{head} differs from the previous run ({self.previous[:12]}):\n" + "\n".join(
            f"  - {c}" for c in self.changes
        )

    def _repr_markdown_(self) -> str:
        return str(self).replace("\n  - ", "\n- ")


def diff_components(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprint component dicts."""
    changes = []
    labels = {"args": "argument", "inputs": "input", "outputs": "output"}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            label = labels.get(key, key)
            for k in sorted(set(a) | set(b)):
                if k not in a:
                    changes.append(f"{label} {k!r} was added")
                elif k not in b:
                    changes.append(f"{label} {k!r} was removed")
                elif a[k] != b[k]:
                    what = (
                        "changed (it comes from another upstream result)"
                        if key == "inputs"
                        else "changed"
                    )
                    changes.append(f"{label} {k!r} {what}")
        elif key == "code":
            changes.append("the step's code changed")
        elif key == "parents":
            changes.append("an upstream step changed")
        elif key == "version":
            changes.append(f"the step implementation changed (version {a} -> {b})")
        else:
            changes.append(f"{key} changed")
    return changes


def explain(step: Any) -> Explanation:
    """Explain ``step``'s cache status against the last run with the same name."""
    ws = step.workspace
    fp = step.fingerprint
    components = step._components or {}
    current_id = getattr(step, "_run_id", None)
    previous = None
    for run in ws.lineage.runs(step.name, limit=200):
        if current_id is not None and run["id"] >= current_id:
            continue
        if run["status"] in ("done", "hit"):
            previous = run
            break
    if previous is None:
        return Explanation(step.name, fp, step.cache_hit, None)
    changes = (
        [] if previous["fingerprint"] == fp else diff_components(previous["components"], components)
    )
    return Explanation(step.name, fp, step.cache_hit, previous["fingerprint"], changes)
