"""Which model a Hugging Face trainer trains: identity, license, device, LoRA targets.

The identity is what the run's fingerprint knows of the base model (a local folder by
content, a Hub id by name and revision), checked before any training; the citations are
the model card's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dreamer_lab.core import citations
from dreamer_lab.core.fingerprint import hash_file
from dreamer_lab.errors import StepInputError
from dreamer_lab.trainers.distributed import distributed_rank
from dreamer_lab.trainers.spawn import parse_devices

# By short name, for the trainers' model cards; the texts are core.citations'.
CITATIONS = {
    "transformers": citations.HF_TRANSFORMERS_CITATION,
    "peft": citations.PEFT_CITATION,
    "lora": citations.LORA_CITATION,
    "trl": citations.TRL_CITATION,
    "dpo": citations.DPO_CITATION,
    "datadreamer": citations.DATADREAMER_CITATION,
}


def model_identity(model_name: str, revision: str | None, where: str) -> dict[str, Any]:
    """Identity of a base model: a local folder by content, a Hub id by name and revision.

    Raises a clear error when the model does not exist (checked before any training).
    """
    path = Path(model_name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise StepInputError(
                f"{where}: model_name {model_name!r} is a folder without config.json; it is not a "
                "saved model. Pass a folder written by save_pretrained() (or a trainer's "
                ".model_path), or a Hugging Face model id."
            )
        from dreamer_lab.core.hf_source import adapter_identity
        from dreamer_lab.core.store import entry_fingerprint_for

        # Never the absolute path: a workspace entry by its fingerprint, an adapter without
        # its base model's path, any other folder by content (see core.fingerprint).
        if (path / "adapter_config.json").is_file() or entry_fingerprint_for(path) is not None:
            return {"name": path.name, **adapter_identity(path)}
        return {"name": path.name, "local_digest": hash_file(path)}
    try:
        from huggingface_hub import HfApi

        commit = None
        try:
            from transformers import AutoConfig

            cfg = AutoConfig.from_pretrained(model_name, revision=revision)
            commit = getattr(cfg, "_commit_hash", None)
        except OSError:
            info = HfApi().model_info(model_name, revision=revision)
            commit = info.sha
    except Exception as e:  # noqa: BLE001 - any failure means we cannot find it
        raise StepInputError(
            f"{where}: the base model {model_name!r} was not found: it is not a local folder, "
            "not in the Hugging Face cache, and could not be fetched from the Hub "
            f"({type(e).__name__}). Check the spelling, pass a local folder with the weights, or "
            "download it first (huggingface-cli download ...)."
        ) from None
    return {"name": model_name, "revision": revision, "commit": commit}


def read_license(model_name: str) -> str | None:
    """The ``license:`` of a local model's README front matter, if it has one."""
    readme = Path(model_name) / "README.md"
    if not readme.is_file():
        return None
    m = re.search(r"^license:\s*(\S+)", readme.read_text(errors="ignore"), re.MULTILINE)
    return m.group(1) if m else None


def resolve_device(device: Any) -> str:
    """``None`` picks CUDA when present, else CPU. Under a distributed launch each process
    takes its own device (accelerate); in one process a list means its first device (where
    the trained model loads)."""
    import torch

    if isinstance(device, list | tuple):
        first = (parse_devices(device, "device") or ["cpu"])[0]
        on_gpu = first != "cpu" and torch.cuda.is_available()
        device = None if distributed_rank()[1] > 1 else (first if on_gpu else "cpu")
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def max_positions(model: Any) -> int | None:
    """The longest sequence ``model`` takes (``max_position_embeddings``), if it says."""
    n = getattr(model.config, "max_position_embeddings", None)
    return int(n) if isinstance(n, int) else None


def linear_module_names(model: Any) -> list[str]:
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Conv1D", "Linear"):
            names.add(full.rsplit(".", 1)[-1])
    return sorted(names)


def check_peft_targets(peft_config: Any, model: Any, where: str) -> None:
    """Raise before training when a LoRA target module does not exist in the model."""
    targets = getattr(peft_config, "target_modules", None)
    if targets is None or isinstance(targets, str):
        if isinstance(targets, str) and targets != "all-linear":
            names = [n for n, _ in model.named_modules()]
            if not any(re.fullmatch(targets, n) for n in names):
                raise StepInputError(
                    f"{where}: the LoRA target_modules pattern {targets!r} matches no module of "
                    f"the model. Its linear layers are {linear_module_names(model)}."
                )
        return
    names = {n for n, _ in model.named_modules()}
    missing = sorted(t for t in targets if not any(n == t or n.endswith("." + t) for n in names))
    if missing:
        raise StepInputError(
            f"{where}: LoRA target module(s) {missing} do not exist in {type(model).__name__}. "
            f"Its linear layers are {linear_module_names(model)}; pick from those (or use "
            "target_modules='all-linear')."
        )


def config_dict(cfg: Any) -> Any:
    """A PEFT/quantization config as fingerprinted: its dict without what does not change
    what is learned (the base model's path, the revision, inference mode)."""
    to_dict = getattr(cfg, "to_dict", None)
    if callable(to_dict):
        d = to_dict()
        for k in ("base_model_name_or_path", "revision", "inference_mode"):
            d.pop(k, None)
        return d
    return cfg
