"""``TrainHFFineTune``: supervised fine-tuning of causal (trl SFT) and seq2seq models."""

from __future__ import annotations

import functools
from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFInputOutput


class TrainHFFineTune(TrainHFInputOutput):
    """Fine-tune a model to map inputs to outputs (instruction tuning, distillation ...).

    Causal models train with trl's ``SFTTrainer`` on prompt/completion pairs (loss on the
    completion only); when the tokenizer has a chat template (and ``chat_prompt_template``
    is not None) each pair is a user turn and an assistant turn. Encoder-decoder models
    train with transformers' ``Seq2SeqTrainer``. ``peft_config`` (e.g. ``LoraConfig``)
    trains an adapter; ``trainer.model_path`` is then the adapter folder.
    """

    version = "1"

    # ---------------------------------------------------------------------------------
    def _pairs(self, tokenizer: Any, cols: dict[str, OutputColumn]) -> Any:
        from datasets import Dataset

        prompts, completions = cols["input"].to_list(), cols["output"].to_list()
        if self.uses_chat(tokenizer):
            return Dataset.from_dict(
                {
                    "prompt": [self.user_turn(p) for p in prompts],
                    "completion": [self.assistant_turn(c) for c in completions],
                }
            )
        return Dataset.from_dict(
            {
                "prompt": [self.prompt_text(p) for p in prompts],
                "completion": [str(c) for c in completions],
            }
        )

    def _train_io(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(
            self.model_name, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        if getattr(config, "is_encoder_decoder", False):
            return self._train_seq2seq(ctx, call)
        from trl import SFTConfig, SFTTrainer

        tokenizer = self.load_tokenizer()
        model = self.load_base_model()
        max_length = _max_length(tokenizer, config) if call["truncate"] else None
        args = self.args_for(
            SFTConfig,
            ctx,
            call,
            max_length=max_length,
            completion_only_loss=True,
            dataset_num_proc=None,
        )
        metrics = self.run_hf_trainer(
            SFTTrainer,
            ctx,
            call,
            args,
            call.datasets(functools.partial(self._pairs, tokenizer)),
            model=model,
            processing_class=tokenizer,
            peft_config=self.peft_for("CAUSAL_LM"),
        )
        return TrainResult(metrics=metrics, extra={"chat_template": self.uses_chat(tokenizer)})

    def _train_seq2seq(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from datasets import Dataset
        from transformers import (
            AutoModelForSeq2SeqLM,
            DataCollatorForSeq2Seq,
            Seq2SeqTrainer,
            Seq2SeqTrainingArguments,
        )

        self.auto_cls_name = "AutoModelForSeq2SeqLM"
        tokenizer = self.load_tokenizer()
        model = self.with_peft(self.load_base_model(AutoModelForSeq2SeqLM), "SEQ_2_SEQ_LM")
        truncate = call["truncate"]

        def encode(cols: dict[str, OutputColumn]) -> Any:
            enc = tokenizer([str(x) for x in cols["input"].to_list()], truncation=truncate)
            targets = [str(x) for x in cols["output"].to_list()]
            lab = tokenizer(text_target=targets, truncation=truncate)
            return Dataset.from_dict(
                {
                    "input_ids": enc["input_ids"],
                    "attention_mask": enc["attention_mask"],
                    "labels": lab["input_ids"],
                }
            )

        args = self.args_for(
            Seq2SeqTrainingArguments,
            ctx,
            call,
        )
        metrics = self.run_hf_trainer(
            Seq2SeqTrainer,
            ctx,
            call,
            args,
            call.datasets(encode),
            model=model,
            processing_class=tokenizer,
            data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        )
        return TrainResult(metrics=metrics)

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
