"""The run record of a report: parameters, timings, versions, hardware and git state."""

from __future__ import annotations

import ast
import os
import platform
import subprocess
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from dreamer_lab.core.secrets import redact, scrub_text

PACKAGES = (
    "dreamer-lab", "datasets", "pyarrow", "torch", "transformers", "trl", "peft", "accelerate",
    "openai", "sentence-transformers", "huggingface-hub", "jupyterlab", "nbclient", "numpy",
)  # fmt: skip


def installed_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape results (without importing them)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        gpus = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
        if gpus.returncode == 0 and gpus.stdout.strip():
            info["gpus"] = [g.strip() for g in gpus.stdout.strip().splitlines()]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def git_state(folder: Path) -> dict[str, Any] | None:
    """Commit, branch and dirty state of the repository holding ``folder`` (read-only)."""

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True, text=True, timeout=10, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no") or ""
    remote = git("config", "--get", "remote.origin.url")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
        "changed_files": [scrub_text(line[3:]) for line in status.splitlines()][:50],
        "remote": scrub_text(remote) if remote else None,
    }


def _literal_assignments(source: str) -> dict[str, Any]:
    """``NAME = <literal>`` assignments of a parameters cell (other statements are skipped)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return out


def parameters(nb: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Papermill-style parameters: the values in effect (the ``parameters`` cell's defaults,
    overridden by injected ones) and the source of both cells."""
    meta = nb.get("metadata") or {}
    param_cells = [c["source"] for c in cells if "parameters" in c["tags"]]
    injected_cells = [c["source"] for c in cells if "injected-parameters" in c["tags"]]
    values: dict[str, Any] = {}
    for source in param_cells + injected_cells:
        values.update(_literal_assignments(source))
    values.update((meta.get("papermill") or {}).get("parameters") or {})
    return {
        "values": redact(values),
        "cells": param_cells,
        "injected": injected_cells,
    }


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def timings(cells: list[dict[str, Any]], steps: list[dict[str, Any]]) -> dict[str, Any]:
    per_cell = []
    for c in cells:
        a, b = _ts(c.get("started")), _ts(c.get("finished"))
        if a is not None and b is not None:
            per_cell.append({"cell": c["index"], "id": c.get("id"), "seconds": round(b - a, 3)})
    starts = [_ts(c.get("started")) for c in cells if _ts(c.get("started"))]
    ends = [_ts(c.get("finished")) for c in cells if _ts(c.get("finished"))]
    return {
        "notebook_seconds": round(max(ends) - min(starts), 3) if starts and ends else None,
        "cells": per_cell,
        "steps": [
            {
                "name": s["name"],
                "fingerprint": s["fingerprint"],
                "seconds": s.get("seconds"),
                "cache_hit": s.get("cache_hit"),
            }
            for s in steps
        ],  # fmt: skip
    }


def run_record(
    notebook_path: Path,
    nb: dict[str, Any],
    cells: list[dict[str, Any]],
    steps: list[dict[str, Any]],
) -> dict[str, Any]:
    recorded_versions: dict[str, str] = {}
    for s in steps:
        for k, v in (s.get("versions") or {}).items():
            recorded_versions.setdefault(k, v)
    return {
        "notebook": notebook_path.name,
        "generated": datetime.now().astimezone().isoformat(timespec="seconds"),
        "kernel": ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name"),
        "parameters": parameters(nb, cells),
        "timings": timings(cells, steps),
        "versions": {"recorded": recorded_versions, "installed": installed_versions()},
        "hardware": hardware(),
        "git": git_state(notebook_path.resolve().parent),
    }
