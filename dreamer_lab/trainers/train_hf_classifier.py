"""``TrainHFClassifier``: single- and multi-label text classification (transformers Trainer)."""

from __future__ import annotations

from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import TrainHFBase


class TrainHFClassifier(TrainHFBase):
    """Train a sequence classifier on text -> label columns.

    Labels may be strings or integers (single-label), or lists of them (multi-label,
    sigmoid outputs). Accuracy and F1 are computed locally (no network).
    """

    auto_cls_name = "AutoModelForSequenceClassification"

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
    ) -> TrainHFClassifier:
        """Train on ``train_input`` (text) -> ``train_output`` (labels); returns ``self``."""
        data = {
            "train_input": train_input,
            "train_output": train_output,
            "validation_input": validation_input,
            "validation_output": validation_output,
        }
        self._check_columns(
            {"train_input": train_input, "train_output": train_output},
            {"validation_input": validation_input, "validation_output": validation_output},
        )
        labels, multi = self._label_set(train_output, validation_output)
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

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train(ctx, data, dict(hyper), labels, multi)

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    def _label_set(
        self, train_output: OutputColumn, validation_output: OutputColumn | None
    ) -> tuple[list[Any], bool]:
        values = train_output.to_list()
        multi = any(isinstance(v, list | tuple) for v in values)
        if multi and not all(isinstance(v, list | tuple) for v in values):
            raise StepInputError(
                f"{self._where()}: train_output mixes single labels and label lists. Use lists "
                "for every row (multi-label) or a single label per row."
            )
        flat = [x for v in values for x in v] if multi else values
        if any(x is None for x in flat):
            raise StepInputError(f"{self._where()}: train_output has empty (None) labels.")
        labels = sorted(set(flat), key=lambda x: (str(type(x)), x))
        if not multi and len(labels) < 2:
            raise StepInputError(
                f"{self._where()}: train_output has only one label ({labels!r}); a classifier "
                "needs at least two."
            )
        if validation_output is not None:
            vals = validation_output.to_list()
            vflat = [x for v in vals for x in v] if multi else vals
            unknown = sorted({str(x) for x in vflat if x not in set(labels)})
            if unknown:
                raise StepInputError(
                    f"{self._where()}: validation labels {unknown} never occur in the training "
                    f"labels {labels}. Fix the labels or add training rows for them."
                )
        return labels, multi

    def _train(
        self,
        ctx: TrainContext,
        data: dict[str, Any],
        hyper: dict[str, Any],
        labels: list[Any],
        multi: bool,
    ) -> TrainResult:
        import numpy as np
        from datasets import Dataset
        from transformers import DataCollatorWithPadding, TrainingArguments
        from transformers import Trainer as HFTrainer

        label2id = {str(label): i for i, label in enumerate(labels)}
        tokenizer = self.load_tokenizer()
        self._load_kwargs = dict(
            num_labels=len(labels),
            id2label={i: str(label) for i, label in enumerate(labels)},
            label2id=label2id,
            problem_type="multi_label_classification" if multi else "single_label_classification",
        )
        model = self.load_base_model(ignore_mismatched_sizes=True, **self._load_kwargs)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        truncate = hyper["truncate"]

        def encode(inputs: OutputColumn, outputs: OutputColumn) -> Any:
            enc = tokenizer([str(x) for x in inputs.to_list()], truncation=truncate)
            if multi:
                y = []
                for row in outputs.to_list():
                    vec = [0.0] * len(labels)
                    for x in row:
                        vec[label2id[str(x)]] = 1.0
                    y.append(vec)
            else:
                y = [label2id[str(x)] for x in outputs.to_list()]
            return Dataset.from_dict({**enc, "labels": y})

        train = encode(data["train_input"], data["train_output"])
        has_val = data["validation_input"] is not None
        val = encode(data["validation_input"], data["validation_output"]) if has_val else None

        def compute_metrics(pred: Any) -> dict[str, float]:
            logits, y = pred
            logits = logits[0] if isinstance(logits, tuple) else logits
            if multi:
                p = (logits > 0).astype(int)
                y = np.asarray(y).astype(int)
                tp = (p & y).sum(0)
                f1 = 2 * tp / np.maximum(p.sum(0) + y.sum(0), 1)
                return {"accuracy": float((p == y).all(1).mean()), "f1": float(f1.mean())}
            p = logits.argmax(-1)
            f1s = []
            for c in range(len(labels)):
                tp = int(((p == c) & (y == c)).sum())
                denom = int((p == c).sum() + (y == c).sum())
                f1s.append(2 * tp / denom if denom else 0.0)
            return {"accuracy": float((p == y).mean()), "f1": float(np.mean(f1s))}

        kwargs = {
            k: v
            for k, v in hyper.items()
            if k not in ("truncate", "epochs", "batch_size", "learning_rate", "seed")
        }
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
        if self.peft_config is not None:
            import copy

            from peft import get_peft_model

            cfg = copy.deepcopy(self.peft_config)
            cfg.task_type = "SEQ_CLS"
            model = get_peft_model(model, cfg)
        trainer = HFTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=compute_metrics,
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        metrics = self.run_hf_trainer(trainer, ctx)
        return TrainResult(
            metrics=metrics, extra={"labels": [str(x) for x in labels], "multi_label": multi}
        )
