"""``TrainSentenceTransformer``: embedding models from triplets, positive or labeled pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dreamer_lab.core.citations import SENTENCE_TRANSFORMERS_CITATION as SBERT_CITATION
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult, trains
from dreamer_lab.trainers.hf_base import TrainHFBase, resolve_device
from dreamer_lab.trainers.params import BASIC


class TrainSentenceTransformer(TrainHFBase):
    """Fine-tune a sentence-transformers model (sentence-transformers' own trainer).

    * ``train_with_triplets``: anchor, positive, negative (multiple negatives ranking loss);
    * ``train_with_positive_pairs``: anchor, positive (in-batch negatives);
    * ``train_with_labeled_pairs``: anchor, other, label (cosine similarity regression to
      the label, 0..1).
    """

    auto_cls_name = "SentenceTransformer"
    supports_fsdp = False  # saved with SentenceTransformer.save, which does not gather shards

    @trains("_train_st", ("anchors", "positives", "negatives"), BASIC, mode="triplets")
    def train_with_triplets(self, *args: Any, **kwargs: Any) -> TrainSentenceTransformer:
        """Pull anchors toward positives and away from negatives."""

    @trains("_train_st", ("anchors", "positives"), BASIC, mode="pairs")
    def train_with_positive_pairs(self, *args: Any, **kwargs: Any) -> TrainSentenceTransformer:
        """Pull each anchor toward its positive; other rows of the batch are negatives."""

    @trains("_train_st", ("anchors", "others", "labels"), BASIC, mode="labeled")
    def train_with_labeled_pairs(self, *args: Any, **kwargs: Any) -> TrainSentenceTransformer:
        """Make the cosine similarity of each pair match its label (0..1)."""

    # ---------------------------------------------------------------------------------
    def _prepare(self, call: TrainCall) -> TrainCall:
        call.check_numbers(self._where(), "_labels", " between 0 and 1")
        return super()._prepare(call)

    def _train_st(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
            losses,
        )

        model = SentenceTransformer(
            self.model_name, device=_st_device(self), trust_remote_code=self.trust_remote_code
        )
        if self.peft_config is not None:
            model.add_adapter(self.peft_for("FEATURE_EXTRACTION"))

        text_columns = [c for n, c in call.data.items() if c is not None and n[-6:] != "labels"]
        texts = [str(x) for col in text_columns for x in col.to_list()]
        longest_text(self._where(), model, texts, call["truncate"])  # truncate=False: refuse

        def build(cols: dict[str, OutputColumn]) -> Any:
            return Dataset.from_dict(
                {
                    name: [float(x) if name == "labels" else str(x) for x in col.to_list()]
                    for name, col in cols.items()
                }
            )

        if call["mode"] == "labeled":
            loss = losses.CosineSimilarityLoss(model)
        else:
            loss = losses.MultipleNegativesRankingLoss(model)
        args = self.args_for(SentenceTransformerTrainingArguments, ctx, call)
        datasets = call.datasets(build)
        metrics = self.run_hf_trainer(
            SentenceTransformerTrainer, ctx, call, args, datasets, model=model, loss=loss
        )
        return TrainResult(metrics=metrics)

    def save_trained(self, hf_trainer: Any, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        hf_trainer.model.save(str(folder))

    @property
    def is_adapter(self) -> bool:
        return False

    def _load_trained(self) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_path), device=_st_device(self))

    def _citations(self) -> list[str]:
        return [*super()._citations(), SBERT_CITATION]


def longest_text(where: str, body: Any, texts: list[str], truncate: bool) -> int | None:
    """Tokens of the longest of ``texts``, capped at the sentence-transformers ``body``'s
    limit (None: unknown). With ``truncate=False`` a text over the limit is an error
    instead of being cut."""
    limit = getattr(body, "max_seq_length", None)
    tok = getattr(body, "tokenizer", None)
    if not limit or tok is None:
        return None
    lengths = [len(ids) for ids in tok(texts)["input_ids"]]
    too_long = sum(n > limit for n in lengths)
    if too_long and not truncate:
        raise StepInputError(
            f"{where}: truncate=False, but {too_long} text(s) are longer than the model's "
            f"{limit} tokens (longest: {max(lengths)}). Shorten them, or pass truncate=True "
            "to cut them."
        )
    return min(limit, max(lengths))


def _st_device(trainer: TrainHFBase) -> str:
    return resolve_device(trainer.device)
