"""Shared machinery of the Hugging Face trainers (transformers, trl, peft).

Model identity for fingerprints, validation that runs before any model is loaded
(the base model exists, LoRA target modules exist), CPU-safe training arguments, the
progress callback, checkpoint resume, saving, ``export_to_disk`` and ``publish_to_hf_hub``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import hash_file
from dreamer_lab.errors import StepInputError
from dreamer_lab.trainers.base import ModelCardType, TrainContext, Trainer
from dreamer_lab.trainers.distributed import distributed_rank
from dreamer_lab.trainers.spawn import parse_devices

CITATIONS = {
    "transformers": (
        "@inproceedings{wolf-etal-2020-transformers, title={Transformers: State-of-the-Art "
        "Natural Language Processing}, author={Wolf, Thomas and others}, booktitle={EMNLP 2020:"
        " System Demonstrations}, year={2020}}"
    ),
    "peft": (
        "@misc{peft, title={PEFT: State-of-the-art Parameter-Efficient Fine-Tuning methods}, "
        "author={Mangrulkar, Sourab and others}, howpublished={\\url{https://github.com/"
        "huggingface/peft}}, year={2022}}"
    ),
    "lora": (
        "@inproceedings{hu2022lora, title={LoRA: Low-Rank Adaptation of Large Language Models},"
        " author={Hu, Edward J. and others}, booktitle={ICLR}, year={2022}}"
    ),
    "trl": (
        "@misc{vonwerra2022trl, title={TRL: Transformer Reinforcement Learning}, author={von "
        "Werra, Leandro and others}, howpublished={\\url{https://github.com/huggingface/trl}},"
        " year={2020}}"
    ),
    "dpo": (
        "@inproceedings{rafailov2023direct, title={Direct Preference Optimization: Your Language"
        " Model is Secretly a Reward Model}, author={Rafailov, Rafael and others}, "
        "booktitle={NeurIPS}, year={2023}}"
    ),
    "datadreamer": (
        "@inproceedings{patel-etal-2024-datadreamer, title={DataDreamer: A Tool for Synthetic "
        "Data Generation and Reproducible LLM Workflows}, author={Patel, Ajay and Raffel, Colin "
        "and Callison-Burch, Chris}, booktitle={ACL}, year={2024}}"
    ),
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
        from dreamer_lab.core.store import entry_fingerprint_for
        from dreamer_lab.task_models._hf import adapter_identity

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


class HFProgressCallbackFactory:
    """Builds a ``transformers.TrainerCallback`` bound to a run's progress reporter."""

    @staticmethod
    def create(ctx: TrainContext) -> Any:
        from transformers import TrainerCallback

        reporter = ctx.reporter

        class _Progress(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
                reporter.step(state.global_step, state.max_steps)

            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
                if logs:
                    reporter.log({"step": state.global_step, "epoch": state.epoch, **logs})

        return _Progress()


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


def _fsdp_enabled(fsdp: Any) -> bool:
    """DataDreamer's ``fsdp``: True, an FSDP option string/list, or False/None/"" (off)."""
    return bool(fsdp)


def _has_gpus() -> bool:
    import torch

    kind = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    return kind is not None and kind.type not in ("cpu", "mps")


class TrainHFBase(Trainer):
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
        self.model_name = str(model_name)
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

    def _fit(self, **kwargs: Any) -> None:
        # train(fsdp=...) is checked before fingerprinting and loading, like the constructor's.
        hyper = kwargs.get("hyperparams") or {}
        if "fsdp" in hyper or "fsdp_config" in hyper:
            self.check_fsdp(
                hyper.get("fsdp", self.fsdp), hyper.get("fsdp_config", self.fsdp_config)
            )
        super()._fit(**kwargs)

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
            out["peft_config"] = _config_dict(self.peft_config)
        if self.quantization_config is not None:
            out["quantization_config"] = _config_dict(self.quantization_config)
        return out

    def _citations(self) -> list[str]:
        cites = [CITATIONS["datadreamer"], CITATIONS["transformers"]]
        if self.peft_config is not None:
            cites += [CITATIONS["peft"], CITATIONS["lora"]]
        return cites

    def _card(self) -> dict[str, list[Any]]:
        from dreamer_lab.cards.known_models import hub_name

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
        if self.chat_prompt_template not in (None, "auto") and "{" in str(
            self.chat_prompt_template
        ):
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

    # -- training arguments ---------------------------------------------------------------
    def training_args(
        self,
        args_cls: Any,
        ctx: TrainContext,
        *,
        has_validation: bool,
        epochs: float,
        batch_size: int,
        learning_rate: float,
        seed: int,
        kwargs: dict[str, Any],
        **defaults: Any,
    ) -> Any:
        """Training arguments with checkpoints in the workspace and CPU-safe defaults."""
        on_cpu = resolve_device(self.device) == "cpu"
        save_strategy = kwargs.pop("save_strategy", "epoch")
        eval_strategy = kwargs.pop("eval_strategy", save_strategy if has_validation else "no")
        patience = kwargs.pop("early_stopping_patience", 5 if has_validation else None)
        threshold = kwargs.pop("early_stopping_threshold", 0.0)
        base = dict(
            output_dir=str(ctx.checkpoint_dir),
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            data_seed=seed,
            save_strategy=save_strategy,
            eval_strategy=eval_strategy,
            save_total_limit=kwargs.pop("save_total_limit", 2),
            logging_strategy="steps",
            logging_steps=kwargs.pop("logging_steps", 1),
            report_to=kwargs.pop("report_to", "none"),
            disable_tqdm=True,
            use_cpu=on_cpu,
            bf16=False if on_cpu else kwargs.pop("bf16", None),
            gradient_checkpointing=False
            if on_cpu
            else kwargs.pop("gradient_checkpointing", kwargs.pop("activation_checkpointing", None)),
            load_best_model_at_end=has_validation and patience is not None,
            run_name=f"dreamer_lab - {self.name}",
        )
        if has_validation and save_strategy == "steps" and "save_steps" in kwargs:
            base["eval_steps"] = kwargs["save_steps"]
        base.update(self._fsdp_args(kwargs))
        base.update(defaults)
        base.update(kwargs)
        for key in ("bf16", "gradient_checkpointing"):
            if base.get(key) is None:
                base.pop(key)
        args = args_cls(**base)
        self._early_stopping = (patience, threshold) if base["load_best_model_at_end"] else None
        return args

    def callbacks(self, ctx: TrainContext, extra: list[Any] | None = None) -> list[Any]:
        cbs = [HFProgressCallbackFactory.create(ctx)]
        if getattr(self, "_early_stopping", None):
            from transformers import EarlyStoppingCallback

            patience, threshold = self._early_stopping
            cbs.append(
                EarlyStoppingCallback(
                    early_stopping_patience=patience, early_stopping_threshold=threshold
                )
            )
        return cbs + list(extra or [])

    def run_hf_trainer(self, hf_trainer: Any, ctx: TrainContext) -> dict[str, Any]:
        """Train (resuming from the last checkpoint), save to ``ctx.final_dir``, return metrics."""
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for cb in (PrinterCallback, ProgressCallback):
            hf_trainer.remove_callback(cb)
        resume = str(ctx.resume_from) if ctx.resume_from is not None else None
        output = hf_trainer.train(resume_from_checkpoint=resume)
        metrics = dict(output.metrics)
        if hf_trainer.eval_dataset is not None:
            metrics.update(hf_trainer.evaluate())
        self.save_trained(hf_trainer, ctx.final_dir)
        return {k: _plain(v) for k, v in metrics.items()}

    def save_trained(self, hf_trainer: Any, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        hf_trainer.save_model(str(folder))
        tok = getattr(hf_trainer, "processing_class", None)
        if tok is not None:
            tok.save_pretrained(str(folder))
        (folder / "dreamer_lab.json").write_text(
            json.dumps(
                {
                    "base_model": self.model_name,
                    "adapter": self.peft_config is not None,
                    "auto_cls": self.auto_cls_name,
                    "load_kwargs": getattr(self, "_load_kwargs", {}),
                }
            )
        )

    # -- results ------------------------------------------------------------------------
    @property
    def is_adapter(self) -> bool:
        return (self.model_path / "adapter_config.json").is_file()

    @property
    def model(self) -> Any:
        """The trained model, loaded from ``model_path`` (adapters applied)."""
        if self._model is None:
            self._model = self._load_trained()
        return self._model

    @property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.model_path))

    def _load_trained(self) -> Any:
        import transformers

        auto_cls = getattr(transformers, self.auto_cls_name)
        if self.is_adapter:
            from peft import PeftModel

            meta = json.loads((self.model_path / "dreamer_lab.json").read_text())
            base = self.load_base_model(auto_cls, **meta.get("load_kwargs", {}))
            return PeftModel.from_pretrained(base, str(self.model_path))
        return auto_cls.from_pretrained(str(self.model_path), dtype=self._torch_dtype())

    def unload_model(self) -> None:
        self._model = None

    def export_to_disk(self, path: str | Path, adapter_only: bool = False) -> Any:
        """Write the trained model to ``path``: a merged full model, or only the adapter."""
        path = Path(path)
        if adapter_only and not self.is_adapter:
            raise StepInputError(
                f"{self._where()}: adapter_only=True, but this model was trained without a "
                "peft_config, so there is no adapter. Use adapter_only=False."
            )
        if adapter_only or not self.is_adapter:
            shutil.copytree(self.model_path, path, dirs_exist_ok=True)
            return self.model
        merged = self._load_trained().merge_and_unload()
        merged.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        return merged

    def publish_to_hf_hub(
        self,
        repo_id: str,
        branch: str | None = None,
        private: bool = False,
        token: str | None = None,
        adapter_only: bool = False,
        is_synthetic: bool = True,
        **kwargs: Any,
    ) -> str:
        """Upload the trained model (and a model card from the record) to the Hub.

        Other keyword arguments (``commit_message``, ``allow_patterns`` ...) go to
        ``HfApi.upload_folder``.
        """
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.export_to_disk(tmp, adapter_only=adapter_only)
            (Path(tmp) / "README.md").write_text(self.model_card_markdown(is_synthetic))
            api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=branch, **kwargs)
        return f"https://huggingface.co/{repo_id}"

    def model_card_markdown(self, is_synthetic: bool = True) -> str:
        """A minimal model card from the record (the cards module renders richer ones)."""
        rec = self.record
        card = rec.get("card") or {}
        lic = (card.get(ModelCardType.LICENSE) or ["other"])[0]
        lines = [
            "---",
            f"license: {lic}",
            "tags: [dreamer_lab" + (", synthetic-data" if is_synthetic else "") + "]",
            "---",
            f"# {self.name}",
            "",
            f"Fine-tuned from `{self.model_name}` with {rec.get('kind')} (dreamer_lab).",
            "",
            "## Training data",
        ]
        for arg, src in (rec.get("inputs") or {}).items():
            lines.append(f"- {arg}: step `{src['name']}` column `{src['column']}`")
        lines += [
            "",
            "## Hyperparameters",
            "```json",
            json.dumps(rec.get("hyperparams"), indent=1),
            "```",
            "",
            "## Metrics",
            "```json",
            json.dumps(rec.get("metrics"), indent=1),
            "```",
            "",
            "## Citations",
            "",
        ]
        lines += [f"```bibtex\n{c}\n```" for c in card.get(ModelCardType.CITATION, [])]
        return "\n".join(lines) + "\n"


def _config_dict(cfg: Any) -> Any:
    to_dict = getattr(cfg, "to_dict", None)
    if callable(to_dict):
        d = to_dict()
        # Fields that do not change what is learned.
        for k in ("base_model_name_or_path", "revision", "inference_mode"):
            d.pop(k, None)
        return d
    return cfg


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | str) or v is None:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)
