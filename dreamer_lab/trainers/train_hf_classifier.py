"""``TrainHFClassifier``: single- and multi-label text classification (transformers Trainer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import TrainHFInputOutput


class TrainHFClassifier(TrainHFInputOutput):
    """Train a sequence classifier on text -> label columns.

    Labels may be strings or integers (single-label), or lists of them (multi-label,
    sigmoid outputs). Accuracy and F1 are computed locally (no network).
    """

    auto_cls_name = "AutoModelForSequenceClassification"

    def _prepare(self, call: TrainCall) -> TrainCall:
        self._label_set(call)
        return super()._prepare(call)

    def _label_set(self, call: TrainCall) -> tuple[list[Any], bool]:
        """The sorted labels of ``train_output`` and whether they are multi-label."""
        values = call.data["train_output"].to_list()  # type: ignore[union-attr]
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
        validation_output = call.data["validation_output"]
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

    def _train_io(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from datasets import Dataset

        labels, multi = self._label_set(call)
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

        def encode(cols: dict[str, OutputColumn]) -> Any:
            enc = tokenizer([str(x) for x in cols["input"].to_list()], truncation=call["truncate"])
            y = label_targets(cols["output"].to_list(), label2id, multi, 1.0)
            return Dataset.from_dict({**enc, "labels": y})

        def compute_metrics(pred: Any) -> dict[str, float]:
            logits, y = pred
            logits = logits[0] if isinstance(logits, tuple) else logits
            p = (logits > 0).astype(int) if multi else logits.argmax(-1)
            return accuracy_f1(p, y, multi, range(len(labels)))

        metrics = self.run_padded(
            ctx,
            call,
            encode,
            self.with_peft(model, "SEQ_CLS"),
            tokenizer,
            compute_metrics=compute_metrics,
        )
        return TrainResult(
            metrics=metrics, extra={"labels": [str(x) for x in labels], "multi_label": multi}
        )


def label_targets(values: list[Any], label2id: dict[str, int], multi: bool, one: Any) -> list:
    """Label ids, or multi-hot rows (``one`` where a label is set) for multi-label rows."""
    if not multi:
        return [label2id[str(x)] for x in values]
    rows = []
    for row in values:
        vec = [0 * one] * len(label2id)
        for x in row:
            vec[label2id[str(x)]] = one
        rows.append(vec)
    return rows


def accuracy_f1(
    p: Any, y: Any, multi: bool, classes: Iterable[int] | None = None
) -> dict[str, float]:
    """Accuracy and macro F1 of predictions ``p`` against ``y`` (multi-hot rows when
    ``multi``; F1 averaged over ``classes``, or over the classes that occur)."""
    import numpy as np

    p, y = np.asarray(p).astype(int), np.asarray(y).astype(int)
    if multi:
        tp = (p & y).sum(0)
        f1 = 2 * tp / np.maximum(p.sum(0) + y.sum(0), 1)
        return {"accuracy": float((p == y).all(1).mean()), "f1": float(f1.mean())}
    f1s = []
    for c in sorted(set(y.tolist()) | set(p.tolist())) if classes is None else classes:
        tp = int(((p == c) & (y == c)).sum())
        denom = int((p == c).sum() + (y == c).sum())
        f1s.append(2 * tp / denom if denom else 0.0)
    return {"accuracy": float((p == y).mean()), "f1": float(np.mean(f1s))}
