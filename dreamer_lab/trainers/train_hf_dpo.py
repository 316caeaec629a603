"""``TrainHFDPO``: direct preference optimization with trl's ``DPOTrainer``."""

from __future__ import annotations

from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase


def preference_dataset(
    trainer: TrainHFBase,
    tokenizer: Any,
    prompts: OutputColumn,
    chosen: OutputColumn,
    rejected: OutputColumn,
    margins: list[float] | None = None,
) -> Any:
    """prompt/chosen/rejected rows; conversational when the tokenizer has a chat template."""
    from datasets import Dataset

    p, c, r = prompts.to_list(), chosen.to_list(), rejected.to_list()
    use_chat = trainer.chat_prompt_template is not None and bool(
        getattr(tokenizer, "chat_template", None)
    )
    if use_chat:
        system = (
            []
            if trainer.system_prompt in (None, "auto")
            else [{"role": "system", "content": str(trainer.system_prompt)}]
        )
        rows: dict[str, list[Any]] = {
            "prompt": [system + [{"role": "user", "content": str(x)}] for x in p],
            "chosen": [[{"role": "assistant", "content": str(x)}] for x in c],
            "rejected": [[{"role": "assistant", "content": str(x)}] for x in r],
        }
    else:
        rows = {
            "prompt": [str(x) for x in p],
            "chosen": [str(x) for x in c],
            "rejected": [str(x) for x in r],
        }
    if margins is not None:
        rows["margin"] = margins
    return Dataset.from_dict(rows)


class TrainHFDPO(TrainHFBase):
    """Align a causal LM to preferences (prompt, chosen, rejected) with DPO.

    With a ``peft_config`` the reference model is the base model with the adapter disabled;
    otherwise trl keeps a frozen copy. ``dpo_beta`` and ``loss_type`` are trl's.
    """

    def train(
        self,
        train_prompts: OutputColumn,
        train_chosen: OutputColumn,
        train_rejected: OutputColumn,
        validation_prompts: OutputColumn | None = None,
        validation_chosen: OutputColumn | None = None,
        validation_rejected: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        optim: str = "adamw_torch",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        lr_scheduler_type: str = "linear",
        warmup_steps: int = 0,
        neftune_noise_alpha: float | None = None,
        dpo_beta: float = 0.1,
        loss_type: str = "sigmoid",
        disable_dropout: bool = True,
        seed: int = 42,
        precompute_ref_log_probs: bool = False,
        **kwargs: Any,
    ) -> TrainHFDPO:
        """Train on preference triples; returns ``self``."""
        data = {
            "train_prompts": train_prompts,
            "train_chosen": train_chosen,
            "train_rejected": train_rejected,
            "validation_prompts": validation_prompts,
            "validation_chosen": validation_chosen,
            "validation_rejected": validation_rejected,
        }
        self._check_columns(
            {k: v for k, v in data.items() if k.startswith("train")},
            {k: v for k, v in data.items() if k.startswith("validation")},
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
            dpo_beta=dpo_beta,
            loss_type=loss_type,
            disable_dropout=disable_dropout,
            seed=seed,
            precompute_ref_log_probs=precompute_ref_log_probs,
            **kwargs,
        )

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train(ctx, data, dict(hyper))

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    def _train(self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]) -> TrainResult:
        import copy

        from trl import DPOConfig, DPOTrainer

        tokenizer = self.load_tokenizer()
        model = self.load_base_model()
        train = preference_dataset(
            self, tokenizer, data["train_prompts"], data["train_chosen"], data["train_rejected"]
        )
        has_val = data["validation_prompts"] is not None
        val = (
            preference_dataset(
                self,
                tokenizer,
                data["validation_prompts"],
                data["validation_chosen"],
                data["validation_rejected"],
            )
            if has_val
            else None
        )
        kwargs = {
            k: v
            for k, v in hyper.items()
            if k
            not in (
                "truncate",
                "epochs",
                "batch_size",
                "learning_rate",
                "seed",
                "dpo_beta",
                "neftune_noise_alpha",
            )
        }
        extra_callbacks = kwargs.pop("callbacks", None)
        config = model.config
        max_length = getattr(config, "max_position_embeddings", None) if hyper["truncate"] else None
        args = self.training_args(
            DPOConfig,
            ctx,
            has_validation=has_val,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            beta=hyper["dpo_beta"],
            max_length=max_length,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
        peft = None
        if self.peft_config is not None:
            peft = copy.deepcopy(self.peft_config)
            peft.task_type = "CAUSAL_LM"
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"], CITATIONS["dpo"]]
