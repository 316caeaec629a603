"""``TrainHFDPO``: direct preference optimization with trl's ``DPOTrainer``."""

from __future__ import annotations

from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult, trains
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase, max_positions
from dreamer_lab.trainers.params import HF_TRAINING, own


def preference_dataset(
    trainer: TrainHFBase,
    tokenizer: Any,
    cols: dict[str, OutputColumn],
    margins: list[float] | None = None,
) -> Any:
    """prompt/chosen/rejected rows; conversational when the tokenizer has a chat template."""
    from datasets import Dataset

    p, c, r = (cols[k].to_list() for k in ("prompts", "chosen", "rejected"))
    if trainer.uses_chat(tokenizer):
        rows: dict[str, list[Any]] = {
            "prompt": [trainer.user_turn(x) for x in p],
            "chosen": [trainer.assistant_turn(x) for x in c],
            "rejected": [trainer.assistant_turn(x) for x in r],
        }
    else:
        rows = {
            "prompt": [trainer.prompt_text(x) for x in p],
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

    consumes = TrainHFBase.consumes | {"dpo_beta"}

    @trains(
        "_train_dpo",
        ("prompts", "chosen", "rejected"),
        (
            *HF_TRAINING[:-1],
            own("dpo_beta", "float", 0.1),
            own("loss_type", "str", "sigmoid"),
            own("disable_dropout", "bool", True),
            "seed",
            own("precompute_ref_log_probs", "bool", False),
        ),
    )
    def train(self, *args: Any, **kwargs: Any) -> TrainHFDPO:
        """Train on preference triples; returns ``self``."""

    def _train_dpo(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from trl import DPOConfig, DPOTrainer

        tokenizer = self.load_tokenizer()
        model = self.load_base_model()
        max_length = max_positions(model) if call["truncate"] else None
        args = self.args_for(DPOConfig, ctx, call, beta=call["dpo_beta"], max_length=max_length)
        metrics = self.run_hf_trainer(
            DPOTrainer,
            ctx,
            call,
            args,
            call.datasets(lambda cols: preference_dataset(self, tokenizer, cols)),
            model=model,
            processing_class=tokenizer,
            peft_config=self.peft_for("CAUSAL_LM"),
        )
        return TrainResult(metrics=metrics)

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"], CITATIONS["dpo"]]
