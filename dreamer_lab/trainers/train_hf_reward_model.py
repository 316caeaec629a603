"""``TrainHFRewardModel``: reward models from pairs, pairs with scores, or scores."""

from __future__ import annotations

from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult, trains
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase, max_positions
from dreamer_lab.trainers.params import BASIC
from dreamer_lab.trainers.train_hf_dpo import preference_dataset

_SCORED_PAIRS = ("prompts", "chosen", "chosen_scores", "rejected", "rejected_scores")


class TrainHFRewardModel(TrainHFBase):
    """Train a scalar reward model (a sequence classifier with one output).

    * ``train_with_pairs``: prompt, chosen, rejected (trl ``RewardTrainer``, Bradley-Terry);
    * ``train_with_pairs_and_scores``: the same with each side's score; the score gap is the
      margin of the loss;
    * ``train_with_scores``: prompt, generation, score (regression, MSE).
    """

    auto_cls_name = "AutoModelForSequenceClassification"

    @trains("_train_pairs", ("prompts", "chosen", "rejected"), BASIC, mode="pairs")
    def train_with_pairs(self, *args: Any, **kwargs: Any) -> TrainHFRewardModel:
        """Learn to score ``chosen`` above ``rejected`` for each prompt."""

    @trains("_train_pairs", _SCORED_PAIRS, BASIC, mode="pairs_and_scores")
    def train_with_pairs_and_scores(self, *args: Any, **kwargs: Any) -> TrainHFRewardModel:
        """Pairs whose score difference sets the margin of the ranking loss."""

    @trains("_train_scores", ("prompts", "generations", "scores"), BASIC, mode="scores")
    def train_with_scores(self, *args: Any, **kwargs: Any) -> TrainHFRewardModel:
        """Regress a score for each (prompt, generation)."""

    # ---------------------------------------------------------------------------------
    def _prepare(self, call: TrainCall) -> TrainCall:
        call.check_numbers(self._where(), "_scores")
        return super()._prepare(call)

    def _load(self, **kwargs: Any) -> tuple[Any, Any]:
        tokenizer = self.load_tokenizer()
        if tokenizer.eos_token is None:  # encoders (BERT): trl ends each text with an EOS
            tokenizer.eos_token = tokenizer.sep_token or tokenizer.pad_token
        self._load_kwargs = {"num_labels": 1}
        model = self.load_base_model(ignore_mismatched_sizes=True, num_labels=1, **kwargs)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return tokenizer, self.with_peft(model, "SEQ_CLS")

    def _train_pairs(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from trl import RewardConfig, RewardTrainer

        tokenizer, model = self._load()

        def build(cols: dict[str, OutputColumn]) -> Any:
            margins = None
            if "chosen_scores" in cols:
                margins = [
                    float(c) - float(r)
                    for c, r in zip(
                        cols["chosen_scores"].to_list(),
                        cols["rejected_scores"].to_list(),
                        strict=True,
                    )
                ]
            return preference_dataset(self, tokenizer, cols, margins)

        args = self.args_for(
            RewardConfig,
            ctx,
            call,
            max_length=max_positions(model) if call["truncate"] else None,
        )
        metrics = self.run_hf_trainer(
            RewardTrainer,
            ctx,
            call,
            args,
            call.datasets(build),
            model=model,
            processing_class=tokenizer,
        )
        return TrainResult(metrics=metrics)

    def _train_scores(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from datasets import Dataset

        tokenizer, model = self._load(problem_type="regression")

        def build(cols: dict[str, OutputColumn]) -> Any:
            enc = tokenizer(
                [str(p) for p in cols["prompts"].to_list()],
                [str(g) for g in cols["generations"].to_list()],
                truncation=call["truncate"],
            )
            scores = [float(s) for s in cols["scores"].to_list()]
            return Dataset.from_dict({**enc, "labels": scores})

        return TrainResult(metrics=self.run_padded(ctx, call, build, model, tokenizer))

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"]]
