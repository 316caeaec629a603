"""Shared machinery of the Hugging Face trainers (transformers, trl, peft).

Validation that runs before any model is loaded (the base model exists, FSDP can work,
LoRA target modules exist), loading, PEFT adapters and chat turns. Which model (identity,
license, device) is :mod:`.hf_models`; how a training runs (arguments, callbacks, resume)
is :mod:`.hf_run`; the trained model (saving, export, Hub upload) is :mod:`.hf_results`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from dreamer_lab.errors import StepInputError
from dreamer_lab.trainers.base import (
    ModelCardType,
    TrainCall,
    TrainContext,
    Trainer,
    TrainResult,
    trains,
)
from dreamer_lab.trainers.distributed import distributed_rank
from dreamer_lab.trainers.hf_models import (
    CITATIONS,
    check_peft_targets,
    config_dict,
    max_positions,
    model_identity,
    read_license,
    resolve_device,
)
from dreamer_lab.trainers.hf_results import TrainedHFModel
from dreamer_lab.trainers.hf_run import HFTrainingRun
from dreamer_lab.trainers.params import HF_TRAINING
from dreamer_lab.trainers.spawn import parse_devices

__all__ = [
    "CITATIONS",
    "max_positions",
    "TrainHFBase",
    "TrainHFInputOutput",
    "model_identity",
    "resolve_device",
]

T = TypeVar("T", bound="TrainHFInputOutput")


FSDP_ON_CPU = (
    "FSDP shards a model over GPUs; it needs several GPU processes. accelerate runs CPU "
    "training processes (gloo) as plain data parallel and ignores FSDP there, so on CPU it "
    "would silently do nothing. Drop fsdp= and fsdp_config=: device=['cpu', 'cpu'] (or "
    "accelerate launch on CPU) trains data-parallel. On GPUs, device=[0, 1] with fsdp=True "
    "shards the model"
)
FSDP_ONE_PROCESS = (
    "FSDP shards a model over several GPU processes; in one process it would silently do "
    "nothing. Pass device=[0, 1] (one training process per GPU), or run the script under "
    "accelerate launch / torchrun with several processes; or drop fsdp= and fsdp_config="
)


def base_model_path(name: str) -> str:
    """``"smollm2"`` (and its short aliases) name the embedded SmolLM2 model's folder, as
    they do for ``HFTransformers``; any other name or folder passes through."""
    from dreamer_lab.llms.embedded import EMBEDDED_NAMES, embedded_model_path

    return str(embedded_model_path()) if name.lower() in EMBEDDED_NAMES else name


def _fsdp_enabled(fsdp: Any) -> bool:
    """DataDreamer's ``fsdp``: True, an FSDP option string/list, or False/None/"" (off)."""
    return bool(fsdp)


def _has_gpus() -> bool:
    import torch

    kind = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    return kind is not None and kind.type not in ("cpu", "mps")


class TrainHFBase(HFTrainingRun, TrainedHFModel, Trainer):
    """Base of trainers that fine-tune a transformers model (optionally with PEFT).

    ``fsdp``/``fsdp_config`` are transformers' ``TrainingArguments`` fields (FSDP through
    accelerate): ``fsdp=True`` (or an FSDP option string) with an optional config dict, e.g.
    ``{"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}``. They need several GPU
    processes (``device=[0, 1]`` or a launcher) and are refused, before any model is
    loaded, on one process or on CPU, where accelerate would ignore them.
    """

    auto_cls_name: str = "AutoModelForCausalLM"
    # Whether this trainer saves a model sharded by FSDP (its save path gathers the shards).
    supports_fsdp: bool = True
    consumes: ClassVar[frozenset[str]] = frozenset(
        {"truncate", "epochs", "batch_size", "learning_rate", "seed", "callbacks"}
    )

    def __init__(
        self,
        name: str,
        model_name: str,
        chat_prompt_template: Any = "auto",
        system_prompt: Any = "auto",
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: Any = None,
        dtype: Any = None,
        quantization_config: Any = None,
        peft_config: Any = None,
        distributed_config: Any = None,
        fsdp: Any = None,
        fsdp_config: Any = None,
        force: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(name, force=force, verbose=verbose, log_level=log_level)
        if not isinstance(model_name, str | Path) or not str(model_name).strip():
            raise StepInputError(f"{self._where()}: model_name must be a model id or a folder.")
        if distributed_config:
            raise StepInputError(
                f"{self._where()}: distributed_config is not supported: device=[...] starts "
                "one training process per device with accelerate launch. For other launcher "
                "settings, run your script under `accelerate launch` (or torchrun) yourself "
                "and drop distributed_config."
            )
        parse_devices(device, self._where())  # a bad list fails before any loading
        self.model_name = base_model_path(str(model_name))
        self.chat_prompt_template = chat_prompt_template
        self.system_prompt = system_prompt
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.device = device
        self.dtype = dtype
        self.quantization_config = quantization_config
        self.peft_config = peft_config
        self.fsdp = fsdp
        self.fsdp_config = fsdp_config
        self.check_fsdp(fsdp, fsdp_config)
        self.kwargs = kwargs
        self._base_identity = model_identity(self.model_name, revision, self._where())
        self._model: Any = None

    def check_fsdp(self, fsdp: Any, fsdp_config: Any) -> None:
        """Refuse FSDP settings that would do nothing here (before any model is loaded)."""
        where = self._where()
        if not _fsdp_enabled(fsdp):
            if fsdp_config:
                raise StepInputError(
                    f"{where}: fsdp_config is given but fsdp is off, so it would be ignored. "
                    "Pass fsdp=True to train with FSDP, or drop fsdp_config."
                )
            return
        if not self.supports_fsdp:
            raise StepInputError(
                f"{where}: fsdp is not supported by {self.kind_name()} (its model is saved "
                "without gathering FSDP shards). Drop fsdp=; device=[0, 1] trains data-parallel."
            )
        if fsdp_config is not None and not isinstance(fsdp_config, dict | str | Path):
            raise StepInputError(
                f"{where}: fsdp_config must be a dict (e.g. {{'transformer_layer_cls_to_wrap': "
                f"['LlamaDecoderLayer']}}) or the path of a JSON file, not a "
                f"{type(fsdp_config).__name__}."
            )
        devices = parse_devices(self.device, where)
        world = distributed_rank()[1]
        if devices is not None and world == 1:
            if devices[0] == "cpu" or not _has_gpus():
                raise StepInputError(f"{where}: {FSDP_ON_CPU}.")
            if len(devices) < 2:
                raise StepInputError(f"{where}: {FSDP_ONE_PROCESS}.")
            return
        if world == 1:
            raise StepInputError(f"{where}: {FSDP_ONE_PROCESS}.")
        if not _has_gpus() or str(self.device or "").startswith("cpu"):
            raise StepInputError(f"{where}: {FSDP_ON_CPU}.")

    def _fsdp_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``fsdp``/``fsdp_config`` for the training arguments (``train(fsdp=...)`` wins)."""
        fsdp = kwargs.pop("fsdp", self.fsdp)
        fsdp_config = kwargs.pop("fsdp_config", self.fsdp_config)
        self.check_fsdp(fsdp, fsdp_config)
        if not _fsdp_enabled(fsdp):
            return {}
        out: dict[str, Any] = {"fsdp": fsdp}
        if fsdp_config is not None:
            out["fsdp_config"] = (
                dict(fsdp_config) if isinstance(fsdp_config, dict) else str(fsdp_config)
            )
        return out

    def _prepare(self, call: TrainCall) -> TrainCall:
        # train(fsdp=...) is checked before fingerprinting and loading, like the constructor's.
        if "fsdp" in call.hyperparams or "fsdp_config" in call.hyperparams:
            self.check_fsdp(call.get("fsdp", self.fsdp), call.get("fsdp_config", self.fsdp_config))
        return call

    # -- identity and card ------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        ident = dict(self._base_identity)
        if self.dtype is not None:
            ident["dtype"] = str(self.dtype)
        if self.chat_prompt_template not in (None, "auto"):
            ident["chat_template"] = str(self.chat_prompt_template)
        if self.system_prompt not in (None, "auto"):
            ident["system_prompt"] = str(self.system_prompt)
        return ident

    def _configs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.peft_config is not None:
            out["peft_config"] = config_dict(self.peft_config)
        if self.quantization_config is not None:
            out["quantization_config"] = config_dict(self.quantization_config)
        return out

    def _citations(self) -> list[str]:
        cites = [CITATIONS["datadreamer"], CITATIONS["transformers"]]
        if self.peft_config is not None:
            cites += [CITATIONS["peft"], CITATIONS["lora"]]
        return cites

    def _card(self) -> dict[str, list[Any]]:
        from dreamer_lab.core.citations import hub_name

        card: dict[str, list[Any]] = {
            ModelCardType.MODEL_NAME: [
                self.model_name
                if not Path(self.model_name).is_dir()
                else hub_name(self.model_name) or Path(self.model_name).name
            ],
            ModelCardType.CITATION: self._citations(),
        }
        lic = read_license(self.model_name)
        if lic:
            card[ModelCardType.LICENSE] = [lic]
        return card

    # -- loading -----------------------------------------------------------------------
    def _torch_dtype(self) -> Any:
        import torch

        if self.dtype is None:
            return torch.float32 if resolve_device(self.device) == "cpu" else "auto"
        if isinstance(self.dtype, str) and self.dtype != "auto":
            return getattr(torch, self.dtype)
        return self.dtype

    def load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(
            self.model_name, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        if self._jinja_template():
            tok.chat_template = self.chat_prompt_template
        return tok

    def load_base_model(self, auto_cls: Any = None, **kwargs: Any) -> Any:
        import transformers

        auto_cls = auto_cls or getattr(transformers, self.auto_cls_name)
        extra = {}
        if self.quantization_config is not None:
            extra["quantization_config"] = self.quantization_config
        model = auto_cls.from_pretrained(
            self.model_name,
            revision=self.revision,
            trust_remote_code=self.trust_remote_code,
            dtype=self._torch_dtype(),
            **extra,
            **kwargs,
        )
        if self.peft_config is not None:
            check_peft_targets(self.peft_config, model, self._where())
        return model

    def peft_for(self, task_type: str) -> Any:
        """A copy of ``peft_config`` for ``task_type`` ("CAUSAL_LM", "SEQ_CLS" ...), or None."""
        if self.peft_config is None:
            return None
        cfg = copy.deepcopy(self.peft_config)
        cfg.task_type = task_type
        return cfg

    def with_peft(self, model: Any, task_type: str) -> Any:
        """``model`` with a fresh adapter from ``peft_config`` (``model`` itself without)."""
        cfg = self.peft_for(task_type)
        if cfg is None:
            return model
        from peft import get_peft_model

        return get_peft_model(model, cfg)

    # -- chat -------------------------------------------------------------------------
    def uses_chat(self, tokenizer: Any) -> bool:
        """Whether examples are chat turns: the tokenizer's chat template (``"auto"``) or a
        Jinja one given as ``chat_prompt_template``."""
        chat = self.chat_prompt_template == "auto" or self._jinja_template()
        return chat and bool(getattr(tokenizer, "chat_template", None))

    def _jinja_template(self) -> bool:
        t = self.chat_prompt_template
        return t not in (None, "auto") and "{%" in str(t)

    def prompt_text(self, text: Any) -> str:
        """A prompt as plain text: inside a DataDreamer-style ``chat_prompt_template``
        (``"### Instruction:\\n{{prompt}}\\n\\n### Response:\\n"``, with ``{{prompt}}`` and
        ``{{system_prompt}}``) when one is given, as ``HFTransformers`` formats it."""
        t = self.chat_prompt_template
        if t in (None, "auto") or self._jinja_template():
            return str(text)
        system = "" if self.system_prompt in (None, "auto") else str(self.system_prompt)
        return str(t).replace("{{system_prompt}}", system).replace("{{prompt}}", str(text))

    def user_turn(self, text: Any) -> list[dict[str, str]]:
        """The opening messages of a conversation: the system prompt (if any), ``text``."""
        system = (
            []
            if self.system_prompt in (None, "auto")
            else [{"role": "system", "content": str(self.system_prompt)}]
        )
        return [*system, {"role": "user", "content": str(text)}]

    @staticmethod
    def assistant_turn(text: Any) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": str(text)}]


class TrainHFInputOutput(TrainHFBase):
    """Base of the trainers that learn ``train_input`` -> ``train_output`` (a completion or a
    label): their ``train()`` is DataDreamer's, written once; ``_train_io`` trains."""

    @trains("_train_io", ("input", "output"), HF_TRAINING)
    def train(self: T, *args: Any, **kwargs: Any) -> T:
        """Train on ``train_input`` -> ``train_output`` columns (a completion or a label per
        input); returns ``self``."""

    def _train_io(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        raise NotImplementedError(f"{type(self).__name__} must implement _train_io(ctx, call).")
