"""``TrainSentenceTransformer``: embedding models from triplets, positive or labeled pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import TrainHFBase

_CORE = ("truncate", "epochs", "batch_size", "learning_rate", "seed", "mode")

SBERT_CITATION = (
    "@inproceedings{reimers-2019-sentence-bert, title={Sentence-BERT: Sentence Embeddings using"
    " Siamese BERT-Networks}, author={Reimers, Nils and Gurevych, Iryna}, booktitle={EMNLP}, "
    "year={2019}}"
)


class TrainSentenceTransformer(TrainHFBase):
    """Fine-tune a sentence-transformers model (sentence-transformers' own trainer).

    * ``train_with_triplets``: anchor, positive, negative (multiple negatives ranking loss);
    * ``train_with_positive_pairs``: anchor, positive (in-batch negatives);
    * ``train_with_labeled_pairs``: anchor, other, label (cosine similarity regression to
      the label, 0..1).
    """

    auto_cls_name = "SentenceTransformer"
    supports_fsdp = False  # saved with SentenceTransformer.save, which does not gather shards

    def train_with_triplets(
        self,
        train_anchors: OutputColumn,
        train_positives: OutputColumn,
        train_negatives: OutputColumn,
        validation_anchors: OutputColumn | None = None,
        validation_positives: OutputColumn | None = None,
        validation_negatives: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainSentenceTransformer:
        """Pull anchors toward positives and away from negatives."""
        data = {
            "train_anchors": train_anchors,
            "train_positives": train_positives,
            "train_negatives": train_negatives,
            "validation_anchors": validation_anchors,
            "validation_positives": validation_positives,
            "validation_negatives": validation_negatives,
        }
        return self._run(
            data, "triplets", truncate, epochs, batch_size, learning_rate, seed, kwargs
        )

    def train_with_positive_pairs(
        self,
        train_anchors: OutputColumn,
        train_positives: OutputColumn,
        validation_anchors: OutputColumn | None = None,
        validation_positives: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainSentenceTransformer:
        """Pull each anchor toward its positive; other rows of the batch are negatives."""
        data = {
            "train_anchors": train_anchors,
            "train_positives": train_positives,
            "validation_anchors": validation_anchors,
            "validation_positives": validation_positives,
        }
        return self._run(data, "pairs", truncate, epochs, batch_size, learning_rate, seed, kwargs)

    def train_with_labeled_pairs(
        self,
        train_anchors: OutputColumn,
        train_others: OutputColumn,
        train_labels: OutputColumn,
        validation_anchors: OutputColumn | None = None,
        validation_others: OutputColumn | None = None,
        validation_labels: OutputColumn | None = None,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainSentenceTransformer:
        """Make the cosine similarity of each pair match its label (0..1)."""
        data = {
            "train_anchors": train_anchors,
            "train_others": train_others,
            "train_labels": train_labels,
            "validation_anchors": validation_anchors,
            "validation_others": validation_others,
            "validation_labels": validation_labels,
        }
        for k in ("train_labels", "validation_labels"):
            col = data[k]
            if col is not None and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in col.to_list()
            ):
                raise StepInputError(f"{self._where()}: {k} must hold numbers between 0 and 1.")
        return self._run(data, "labeled", truncate, epochs, batch_size, learning_rate, seed, kwargs)

    # ---------------------------------------------------------------------------------
    def _run(
        self,
        data: dict[str, Any],
        mode: str,
        truncate: bool,
        epochs: float,
        batch_size: int,
        learning_rate: float,
        seed: int,
        kwargs: dict[str, Any],
    ) -> TrainSentenceTransformer:
        self._check_columns(
            {k: v for k, v in data.items() if k.startswith("train")},
            {k: v for k, v in data.items() if k.startswith("validation")},
        )
        hyper = dict(
            truncate=truncate,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            mode=mode,
            **kwargs,
        )

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train(ctx, data, dict(hyper))

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    def _train(self, ctx: TrainContext, data: dict[str, Any], hyper: dict[str, Any]) -> TrainResult:
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
            import copy

            cfg = copy.deepcopy(self.peft_config)
            cfg.task_type = "FEATURE_EXTRACTION"
            model.add_adapter(cfg)
        mode = hyper["mode"]

        def build(prefix: str) -> Any:
            cols = {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix)}
            if cols.get("anchors") is None:
                return None
            rows = {
                name: [float(x) for x in col.to_list()]
                if name == "labels"
                else [str(x) for x in col.to_list()]
                for name, col in cols.items()
            }
            return Dataset.from_dict(rows)

        train, val = build("train"), build("validation")
        if mode == "labeled":
            loss = losses.CosineSimilarityLoss(model)
        else:
            loss = losses.MultipleNegativesRankingLoss(model)
        kwargs = {k: v for k, v in hyper.items() if k not in _CORE}
        extra_callbacks = kwargs.pop("callbacks", None)
        args = self.training_args(
            SentenceTransformerTrainingArguments,
            ctx,
            has_validation=val is not None,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            loss=loss,
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

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


def _st_device(trainer: TrainHFBase) -> str:
    from dreamer_lab.trainers.hf_base import resolve_device

    return resolve_device(trainer.device)
