"""``TrainHFRewardModel``: reward models from pairs, pairs with scores, or scores."""

from __future__ import annotations

from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase
from dreamer_lab.trainers.train_hf_dpo import preference_dataset

_CORE = ("truncate", "epochs", "batch_size", "learning_rate", "seed")


class TrainHFRewardModel(TrainHFBase):
    """Train a scalar reward model (a sequence classifier with one output).

    * ``train_with_pairs``: prompt, chosen, rejected (trl ``RewardTrainer``, Bradley-Terry);
    * ``train_with_pairs_and_scores``: the same with each side's score; the score gap is the
      margin of the loss;
    * ``train_with_scores``: prompt, generation, score (regression, MSE).
    """

    auto_cls_name = "AutoModelForSequenceClassification"

    def train_with_pairs(
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
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainHFRewardModel:
        """Learn to score ``chosen`` above ``rejected`` for each prompt."""
        return self._pairs(
            locals_to_data(
                train_prompts=train_prompts,
                train_chosen=train_chosen,
                train_rejected=train_rejected,
                validation_prompts=validation_prompts,
                validation_chosen=validation_chosen,
                validation_rejected=validation_rejected,
            ),
            dict(
                truncate=truncate,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed,
                **kwargs,
            ),
        )

    def train_with_pairs_and_scores(
        self,
        train_prompts: OutputColumn,
        train_chosen: OutputColumn,
        train_chosen_scores: OutputColumn,
        train_rejected: OutputColumn,
        train_rejected_scores: OutputColumn,
        validation_prompts: OutputColumn | None = None,
        validation_chosen: OutputColumn | None = None,
        validation_chosen_scores: OutputColumn | None = None,
        validation_rejected: OutputColumn | None = None,
        validation_rejected_scores: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainHFRewardModel:
        """Pairs whose score difference sets the margin of the ranking loss."""
        return self._pairs(
            locals_to_data(
                train_prompts=train_prompts,
                train_chosen=train_chosen,
                train_chosen_scores=train_chosen_scores,
                train_rejected=train_rejected,
                train_rejected_scores=train_rejected_scores,
                validation_prompts=validation_prompts,
                validation_chosen=validation_chosen,
                validation_chosen_scores=validation_chosen_scores,
                validation_rejected=validation_rejected,
                validation_rejected_scores=validation_rejected_scores,
            ),
            dict(
                truncate=truncate,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed,
                **kwargs,
            ),
        )

    def train_with_scores(
        self,
        train_prompts: OutputColumn,
        train_generations: OutputColumn,
        train_scores: OutputColumn,
        validation_prompts: OutputColumn | None = None,
        validation_generations: OutputColumn | None = None,
        validation_scores: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainHFRewardModel:
        """Regress a score for each (prompt, generation)."""
        data = locals_to_data(
            train_prompts=train_prompts,
            train_generations=train_generations,
            train_scores=train_scores,
            validation_prompts=validation_prompts,
            validation_generations=validation_generations,
            validation_scores=validation_scores,
        )
        self._check(data)
        hyper = dict(
            truncate=truncate,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            mode="scores",
            **kwargs,
        )
        for k in ("train_scores", "validation_scores"):
            _check_numbers(self._where(), k, data[k])

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train_scores(ctx, data, dict(hyper))

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    # ---------------------------------------------------------------------------------
    def _check(self, data: dict[str, Any]) -> None:
        self._check_columns(
            {k: v for k, v in data.items() if k.startswith("train")},
            {k: v for k, v in data.items() if k.startswith("validation")},
        )

    def _pairs(self, data: dict[str, Any], hyper: dict[str, Any]) -> TrainHFRewardModel:
        self._check(data)
        with_scores = "train_chosen_scores" in data
        hyper["mode"] = "pairs_and_scores" if with_scores else "pairs"
        for k in data:
            if k.endswith("_scores"):
                _check_numbers(self._where(), k, data[k])

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train_pairs(ctx, data, dict(hyper))

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    def _load(self, **kwargs: Any) -> tuple[Any, Any]:
        tokenizer = self.load_tokenizer()
        if tokenizer.eos_token is None:  # encoders (BERT): trl ends each text with an EOS
            tokenizer.eos_token = tokenizer.sep_token or tokenizer.pad_token
        self._load_kwargs = {"num_labels": 1}
        model = self.load_base_model(ignore_mismatched_sizes=True, num_labels=1, **kwargs)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        if self.peft_config is not None:
            import copy

            from peft import get_peft_model

            cfg = copy.deepcopy(self.peft_config)
            cfg.task_type = "SEQ_CLS"
            model = get_peft_model(model, cfg)
        return tokenizer, model

    def _train_pairs(
        self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]
    ) -> TrainResult:
        from trl import RewardConfig, RewardTrainer

        tokenizer, model = self._load()

        def build(prefix: str) -> Any:
            margins = None
            if f"{prefix}_chosen_scores" in data:
                margins = [
                    float(c) - float(r)
                    for c, r in zip(
                        data[f"{prefix}_chosen_scores"].to_list(),
                        data[f"{prefix}_rejected_scores"].to_list(),
                        strict=True,
                    )
                ]
            return preference_dataset(
                self,
                tokenizer,
                data[f"{prefix}_prompts"],
                data[f"{prefix}_chosen"],
                data[f"{prefix}_rejected"],
                margins,
            )

        has_val = data["validation_prompts"] is not None
        kwargs = {k: v for k, v in hyper.items() if k not in (*_CORE, "mode")}
        extra_callbacks = kwargs.pop("callbacks", None)
        args = self.training_args(
            RewardConfig,
            ctx,
            has_validation=has_val,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            max_length=_max_len(model) if hyper["truncate"] else None,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=build("train"),
            eval_dataset=build("validation") if has_val else None,
            processing_class=tokenizer,
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

    def _train_scores(
        self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]
    ) -> TrainResult:
        from datasets import Dataset
        from transformers import DataCollatorWithPadding, TrainingArguments
        from transformers import Trainer as HFTrainer

        tokenizer, model = self._load(problem_type="regression")

        def build(prefix: str) -> Any:
            enc = tokenizer(
                [str(p) for p in data[f"{prefix}_prompts"].to_list()],
                [str(g) for g in data[f"{prefix}_generations"].to_list()],
                truncation=hyper["truncate"],
            )
            scores = [float(s) for s in data[f"{prefix}_scores"].to_list()]
            return Dataset.from_dict({**enc, "labels": scores})

        has_val = data["validation_prompts"] is not None
        kwargs = {k: v for k, v in hyper.items() if k not in (*_CORE, "mode")}
        extra_callbacks = kwargs.pop("callbacks", None)
        args = self.training_args(
            TrainingArguments,
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
        trainer = HFTrainer(
            model=model,
            args=args,
            train_dataset=build("train"),
            eval_dataset=build("validation") if has_val else None,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"]]


def locals_to_data(**cols: Any) -> dict[str, Any]:
    return cols


def _check_numbers(where: str, name: str, col: OutputColumn | None) -> None:
    if col is None:
        return
    bad = [v for v in col.to_list() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise StepInputError(
            f"{where}: {name} must hold numbers; found {bad[0]!r}. Convert the column "
            "(e.g. with .map()) before training."
        )


def _max_len(model: Any) -> int | None:
    n = getattr(model.config, "max_position_embeddings", None)
    return int(n) if isinstance(n, int) else None
