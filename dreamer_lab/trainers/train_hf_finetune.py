"""``TrainHFFineTune``: supervised fine-tuning of causal (trl SFT) and seq2seq models."""

from __future__ import annotations

from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase


class TrainHFFineTune(TrainHFBase):
    """Fine-tune a model to map inputs to outputs (instruction tuning, distillation ...).

    Causal models train with trl's ``SFTTrainer`` on prompt/completion pairs (loss on the
    completion only); when the tokenizer has a chat template (and ``chat_prompt_template``
    is not None) each pair is a user turn and an assistant turn. Encoder-decoder models
    train with transformers' ``Seq2SeqTrainer``. ``peft_config`` (e.g. ``LoraConfig``)
    trains an adapter; ``trainer.model_path`` is then the adapter folder.
    """

    version = "1"

    def train(
        self,
        train_input: OutputColumn,
        train_output: OutputColumn,
        validation_input: OutputColumn | None = None,
        validation_output: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        optim: str = "adamw_torch",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        lr_scheduler_type: str = "linear",
        warmup_steps: int = 0,
        neftune_noise_alpha: float | None = None,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainHFFineTune:
        """Train on ``train_input`` -> ``train_output`` columns; returns ``self``."""
        self._check_columns(
            {"train_input": train_input, "train_output": train_output},
            {"validation_input": validation_input, "validation_output": validation_output},
        )
        hyper = dict(
            truncate=truncate,
            epochs=epochs,
            batch_size=batch_size,
            optim=optim,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            lr_scheduler_type=lr_scheduler_type,
            warmup_steps=warmup_steps,
            neftune_noise_alpha=neftune_noise_alpha,
            seed=seed,
            **kwargs,
        )
        data = {
            "train_input": train_input,
            "train_output": train_output,
            "validation_input": validation_input,
            "validation_output": validation_output,
        }

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train_sft(ctx, data, dict(hyper))

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    # ---------------------------------------------------------------------------------
    def _use_chat(self, tokenizer: Any) -> bool:
        return self.chat_prompt_template is not None and bool(
            getattr(tokenizer, "chat_template", None)
        )

    def _pairs(self, tokenizer: Any, inputs: OutputColumn, outputs: OutputColumn) -> Any:
        from datasets import Dataset

        prompts, completions = inputs.to_list(), outputs.to_list()
        if self._use_chat(tokenizer):
            system = (
                []
                if self.system_prompt in (None, "auto")
                else [{"role": "system", "content": str(self.system_prompt)}]
            )
            return Dataset.from_dict(
                {
                    "prompt": [system + [{"role": "user", "content": str(p)}] for p in prompts],
                    "completion": [[{"role": "assistant", "content": str(c)}] for c in completions],
                }
            )
        return Dataset.from_dict(
            {"prompt": [str(p) for p in prompts], "completion": [str(c) for c in completions]}
        )

    def _train_sft(
        self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]
    ) -> TrainResult:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(
            self.model_name, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        if getattr(config, "is_encoder_decoder", False):
            return self._train_seq2seq(ctx, data, hyper)
        from trl import SFTConfig, SFTTrainer

        tokenizer = self.load_tokenizer()
        model = self.load_base_model()
        train = self._pairs(tokenizer, data["train_input"], data["train_output"])
        has_val = data["validation_input"] is not None
        val = (
            self._pairs(tokenizer, data["validation_input"], data["validation_output"])
            if has_val
            else None
        )
        kwargs = {
            k: v
            for k, v in hyper.items()
            if k not in ("truncate", "epochs", "batch_size", "learning_rate", "seed")
        }
        extra_callbacks = kwargs.pop("callbacks", None)
        max_length = _max_length(tokenizer, config) if hyper["truncate"] else None
        args = self.training_args(
            SFTConfig,
            ctx,
            has_validation=has_val,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            max_length=max_length,
            completion_only_loss=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            dataset_num_proc=None,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            processing_class=tokenizer,
            peft_config=self._peft_for("CAUSAL_LM"),
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        metrics = self.run_hf_trainer(trainer, ctx)
        return TrainResult(metrics=metrics, extra={"chat_template": self._use_chat(tokenizer)})

    def _train_seq2seq(
        self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]
    ) -> TrainResult:
        from datasets import Dataset
        from transformers import (
            AutoModelForSeq2SeqLM,
            DataCollatorForSeq2Seq,
            Seq2SeqTrainer,
            Seq2SeqTrainingArguments,
        )

        self.auto_cls_name = "AutoModelForSeq2SeqLM"
        tokenizer = self.load_tokenizer()
        model = self.load_base_model(AutoModelForSeq2SeqLM)
        truncate = hyper["truncate"]

        def encode(inputs: OutputColumn, outputs: OutputColumn) -> Any:
            enc = tokenizer([str(x) for x in inputs.to_list()], truncation=truncate)
            lab = tokenizer(text_target=[str(x) for x in outputs.to_list()], truncation=truncate)
            return Dataset.from_dict(
                {
                    "input_ids": enc["input_ids"],
                    "attention_mask": enc["attention_mask"],
                    "labels": lab["input_ids"],
                }
            )

        train = encode(data["train_input"], data["train_output"])
        has_val = data["validation_input"] is not None
        val = encode(data["validation_input"], data["validation_output"]) if has_val else None
        kwargs = {
            k: v
            for k, v in hyper.items()
            if k not in ("truncate", "epochs", "batch_size", "learning_rate", "seed")
        }
        extra_callbacks = kwargs.pop("callbacks", None)
        args = self.training_args(
            Seq2SeqTrainingArguments,
            ctx,
            has_validation=has_val,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
        peft = self._peft_for("SEQ_2_SEQ_LM")
        if peft is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft)
        trainer = Seq2SeqTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            processing_class=tokenizer,
            data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

    def _peft_for(self, task_type: str) -> Any:
        if self.peft_config is None:
            return None
        import copy

        cfg = copy.deepcopy(self.peft_config)
        cfg.task_type = task_type
        return cfg

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"]]


def _max_length(tokenizer: Any, config: Any) -> int:
    limits = [
        n
        for n in (
            getattr(tokenizer, "model_max_length", None),
            getattr(config, "max_position_embeddings", None),
        )
        if isinstance(n, int) and 0 < n < 1_000_000
    ]
    return min(limits) if limits else 1024
