"""``HFTransformers``: local Hugging Face transformers causal LMs.

Hub names load from the local Hugging Face cache (with a revision), local folders load
directly, and ``"smollm2"`` (or no name) selects the embedded default model. Chat
templates, system prompts, dtype/device/device_map, PEFT adapters and quantization configs
are supported. Prompts are batched sorted by length within buffers of
``batch_scheduler_buffer_size`` (order restored), and the batch size halves on
out-of-memory errors (``adaptive_batch_size=False``: a clear error instead).
``run(response_format=...)`` constrains decoding to the JSON schema with ``xgrammar`` (see
:mod:`dreamer_lab.llms.structured`).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import folder_identity, hash_file, hash_value
from dreamer_lab.core.hf_source import adapter_identity
from dreamer_lab.llms.base import AUTO, LLM, UnknownModelError
from dreamer_lab.llms.embedded import (
    EMBEDDED_MODEL_NAME,
    embedded_gguf_path,
    embedded_model_path,
    is_embedded_name,
)
from dreamer_lab.llms.hf_generation import HFGeneration
from dreamer_lab.llms.structured import ConstrainedOutput

# transformers' from_pretrained is not thread-safe (it patches global state, e.g. to build
# models on the meta device); ParallelLLM loads its backends from several threads.
_LOADING = threading.Lock()
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".jinja", ".txt", ".gguf")


def _saved_chat_template(folder: Path) -> str | None:
    """A local folder's single ``chat_template.jinja`` (what the tokenizer loads), or None
    when it has none, or other templates that only the tokenizer resolves."""
    jinja = folder / "chat_template.jinja"
    if not jinja.is_file() or (folder / "additional_chat_templates").exists():
        return None
    try:
        return jinja.read_text(encoding="utf-8")
    except OSError:
        return None


class HFTransformers(HFGeneration, ConstrainedOutput, LLM):
    """A transformers causal LM (DataDreamer's arguments).

    Args:
        model_name: hub name (from the local cache), local folder, or ``"smollm2"``.
        chat_prompt_template: ``AUTO`` uses the tokenizer's chat template; ``None`` sends
            raw prompts; a string with ``{{prompt}}`` (and optionally
            ``{{system_prompt}}``) formats prompts itself.
        system_prompt: system message (``AUTO``: the chat template's default).
        revision, trust_remote_code, device, device_map, dtype, quantization_config:
            passed to ``from_pretrained``.
        adapter_name: path of a PEFT adapter to apply; ``adapter_kwargs`` go to
            ``PeftModel.from_pretrained``.
        max_context_length: override the context window read from the model config.

    ``run(..., response_format={"type": "json_schema", "json_schema": {...}})`` (or
    ``{"type": "json_object"}``) masks the logits at every step so that only JSON matching
    the schema can be written; every generation is validated afterwards as well.
    """

    backend_name = "hf_transformers"
    sorts_prompts_by_length = True
    extra_generation_kwargs = frozenset(
        {"do_sample", "top_k", "num_beams", "min_new_tokens", "response_format"}
    )

    def __init__(
        self,
        model_name: str | None = None,
        chat_prompt_template: str | None = AUTO,
        system_prompt: str | None = AUTO,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: str | int | None = None,
        device_map: Any = None,
        dtype: Any = None,
        quantization_config: Any = None,
        adapter_name: str | None = None,
        adapter_kwargs: dict[str, Any] | None = None,
        cache_folder_path: str | None = None,
        max_context_length: int | None = None,
        **kwargs: Any,
    ):
        if adapter_name is None and model_name is not None:
            # A trainer's LoRA output is an adapter folder: load its base model + the adapter.
            model_name, adapter_name = _split_adapter_folder(str(model_name))
        self.embedded = is_embedded_name(model_name)
        super().__init__(
            EMBEDDED_MODEL_NAME if self.embedded else str(model_name),
            None if system_prompt is AUTO else system_prompt,
            cache_folder_path,
        )
        self.chat_prompt_template = chat_prompt_template
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.device = device
        self.device_map = device_map
        self.dtype = dtype
        self.quantization_config = quantization_config
        self.adapter_name = adapter_name
        self.adapter_kwargs = dict(adapter_kwargs or {})
        self.max_context_length = max_context_length
        self.from_pretrained_kwargs = kwargs
        self._model: Any = None
        self._tokenizer: Any = None
        self._config: Any = None
        self._grammars: dict[str, Any] = {}  # response_format JSON -> compiled grammar
        self._grammar_compiler: Any = None
        self._grammar_lock = threading.Lock()
        self._lock = threading.Lock()
        self._path = self._resolve_path()
        # Hub names are pinned to the cached commit they resolve to now: the identity and
        # the loaded weights stay the same snapshot even if the branch moves later.
        self._commit = None if Path(self._path).exists() else self._hub_commit()

    # -- resolution and identity -------------------------------------------------------------
    @property
    def lineage_fingerprint(self) -> str | None:
        """The workspace entry of a trained model or adapter used here (a lineage parent)."""
        from dreamer_lab.core.store import entry_fingerprint_for

        for path in (self.adapter_name, self._path):
            fp = entry_fingerprint_for(path) if path and Path(path).exists() else None
            if fp:
                return fp
        return None

    def _resolve_path(self) -> str:
        if self.embedded:
            return str(embedded_model_path())
        p = Path(self.model_name).expanduser()
        if p.exists():
            if not (p / "config.json").exists():
                raise UnknownModelError(
                    f"{self.model_name!r} is a folder without config.json, so it is not a "
                    "transformers model. Pass a folder saved with save_pretrained(), a Hugging "
                    "Face model name, or 'smollm2' for the embedded model."
                )
            return str(p.resolve())
        return self.model_name

    def _load_error(self, e: Exception) -> UnknownModelError:
        return UnknownModelError(
            f"Cannot load model {self.model_name!r}"
            + (f" (revision {self.revision!r})" if self.revision else "")
            + ": it is not a local folder and not in the local Hugging Face cache"
            + (" (offline mode is on)" if os.environ.get("HF_HUB_OFFLINE") == "1" else "")
            + f" [{type(e).__name__}]. Check the name, download it once with network access, "
            "pass a local folder, or use 'smollm2' for the embedded model."
        )

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                tok = AutoTokenizer.from_pretrained(
                    self._path, revision=self._revision(), trust_remote_code=self.trust_remote_code
                )
            except (OSError, ValueError) as e:
                raise self._load_error(e) from None
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            self._tokenizer = tok
        return self._tokenizer

    @property
    def config(self) -> Any:
        if self._config is None:
            from transformers import AutoConfig

            try:
                self._config = AutoConfig.from_pretrained(
                    self._path, revision=self._revision(), trust_remote_code=self.trust_remote_code
                )
            except (OSError, ValueError) as e:
                raise self._load_error(e) from None
        return self._config

    def _chat_template(self) -> str | None:
        if self.chat_prompt_template is AUTO:
            if self._tokenizer is None:
                saved = _saved_chat_template(Path(self._path))
                if saved is not None:  # as the tokenizer would load it, without transformers
                    return saved
            return getattr(self.tokenizer, "chat_template", None)
        return self.chat_prompt_template

    def _local_folder(self) -> Path | None:
        """The model's local folder (not the embedded model, not a Hub name)."""
        if self.embedded:
            return None
        p = Path(self._path)
        return p if p.is_dir() else None

    def _weights_digest(self) -> str:
        """What the weights are, wherever they live: a workspace entry's fingerprint, the
        digest of a local folder's files, or the Hub name and commit."""
        if self.embedded:
            return hash_file(embedded_gguf_path())
        p = self._local_folder()
        if p is not None:
            from dreamer_lab.core.store import entry_fingerprint_for

            if entry_fingerprint_for(p) is not None:
                return hash_value(folder_identity(p))
            parts = [
                f"{f.name}:{hash_file(f)}"
                for f in sorted(p.iterdir())
                if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES)
            ]
            return hash_value(parts)
        return f"hub:{self.model_name}@{self._commit or self.revision or 'main'}"

    def _revision(self) -> str | None:
        return self._commit or self.revision

    def _hub_commit(self) -> str | None:
        """The commit of the cached hub snapshot (so a moved branch is a new model)."""
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        found = try_to_load_from_cache(self.model_name, "config.json", revision=self.revision)
        if isinstance(found, str):
            return Path(found).parent.name
        return None

    def _identity(self) -> dict[str, Any]:
        # A local model or adapter folder counts by its content (or its workspace entry),
        # never by its path: the same notebook in another folder has the same identity.
        adapter = None
        if self.adapter_name:
            ap = Path(self.adapter_name).expanduser()
            local = ap.exists()
            adapter = {
                "name": None if local else str(self.adapter_name),
                "digest": adapter_identity(ap) if local else None,
                "kwargs": {k: v for k, v in self.adapter_kwargs.items() if "token" not in k},
            }
        return {
            "model_name": None if self._local_folder() is not None else self.model_name,
            "revision": self.revision,
            "weights": self._weights_digest(),
            "chat_template": self._chat_template(),
            "system_prompt": self.system_prompt,
            "dtype": str(self.dtype),
            "quantization": hash_value(self.quantization_config, label="quantization_config")
            if self.quantization_config is not None
            else None,
            "adapter": adapter,
        }

    @property
    def license(self) -> str | None:
        return "Apache-2.0" if self.embedded else None

    @property
    def model_card(self) -> str | None:
        if self.embedded or "/" in self.model_name and not Path(self.model_name).exists():
            return f"https://huggingface.co/{self.model_name}"
        return None

    # -- prompts and tokens ----------------------------------------------------------------------
    def _full_prompt(self, prompt: str) -> str:
        known = self._rendered.get(prompt)  # rendered once per run (see hf_generation)
        if known is not None:
            return known
        template = self._chat_template()
        if template is None:
            return str(prompt)
        if self.chat_prompt_template is not AUTO:
            out = template.replace("{{prompt}}", str(prompt))
            return out.replace("{{system_prompt}}", self.system_prompt or "")
        messages = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": str(prompt)})
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def _uses_template(self) -> bool:
        return self._chat_template() is not None

    def get_max_context_length(self, max_new_tokens: int) -> int | None:
        limit = self.max_context_length
        if limit is None:
            for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
                limit = getattr(self.config, attr, None)
                if limit:
                    break
        if limit is None:
            tml = getattr(self.tokenizer, "model_max_length", None)
            limit = tml if tml and tml < 10**7 else None
        return None if limit is None else int(limit) - int(max_new_tokens or 0)

    # -- model -----------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                with _LOADING:
                    self._model = self._load_model()
        return self._model

    def _load_model(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        kw: dict[str, Any] = dict(self.from_pretrained_kwargs)
        if self.dtype is not None:
            kw["dtype"] = getattr(torch, self.dtype) if isinstance(self.dtype, str) else self.dtype
        if self.device_map is not None:
            kw["device_map"] = self.device_map
        if self.quantization_config is not None:
            kw["quantization_config"] = self.quantization_config
        try:
            model = AutoModelForCausalLM.from_pretrained(
                self._path,
                revision=self._revision(),
                trust_remote_code=self.trust_remote_code,
                **kw,
            )
        except (OSError, ValueError) as e:
            raise self._load_error(e) from None
        if self.adapter_name:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.adapter_name, **self.adapter_kwargs)
        if self.device_map is None and self.quantization_config is None:
            device = self.device
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            elif isinstance(device, int):
                device = f"cuda:{device}" if device >= 0 else "cpu"
            model = model.to(device)
        model.eval()
        return model

    def unload_model(self) -> None:
        self._model = None
        import gc

        gc.collect()


def _split_adapter_folder(model_name: str) -> tuple[str, str | None]:
    """``(base model, adapter folder)`` for a PEFT adapter folder, else ``(model_name, None)``."""

    folder = Path(model_name).expanduser()
    config = folder / "adapter_config.json"
    if not config.is_file() or (folder / "config.json").exists():
        return model_name, None
    try:
        base = json.loads(config.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        base = None
    if not base:
        raise UnknownModelError(
            f"{model_name!r} is a PEFT adapter without base_model_name_or_path; pass "
            "HFTransformers(base_model, adapter_name=folder)."
        )
    return str(base), str(folder)
