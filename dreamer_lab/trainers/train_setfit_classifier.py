"""``TrainSetFitClassifier``: few-shot text classification with SetFit (needs ``setfit``).

SetFit fine-tunes a sentence-transformers body contrastively on pairs of training texts
(same label / different label), then fits a differentiable classification head on the
embeddings. The trained model is a SetFit folder (``SetFitModel.from_pretrained``).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from dreamer_lab.core.citations import SETFIT_CITATION
from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, TrainResult, trains
from dreamer_lab.trainers.hf_base import TrainHFBase, resolve_device
from dreamer_lab.trainers.params import own, signed, subset_signature
from dreamer_lab.trainers.progress import jsonable
from dreamer_lab.trainers.train_hf_classifier import TrainHFClassifier, accuracy_f1, label_targets
from dreamer_lab.trainers.train_sentence_transformer import SBERT_CITATION, longest_text

_SETFIT_MISSING = (
    "TrainSetFitClassifier needs the `setfit` package: pip install 'dreamer-lab[setfit]' "
    "(or pip install setfit)."
)

# DataDreamer's TrainSetFitClassifier(...): TrainHFBase's arguments that SetFit uses.
_INIT = subset_signature(
    TrainHFBase.__init__,
    (
        *("self", "name", "model_name"),
        own("multi_target_strategy", "str | None", "auto"),
        *("device", "dtype", "peft_config", "force", "verbose", "log_level", "kwargs"),
    ),
)


def _import_setfit() -> Any:
    try:
        import setfit
    except ImportError as e:
        raise StepInputError(_SETFIT_MISSING) from e
    return setfit


class TrainSetFitClassifier(TrainHFClassifier):
    """Train a SetFit classifier on text -> label columns (DataDreamer's arguments).

    Labels may be strings or integers (single-label), or lists of them (multi-label, with
    ``multi_target_strategy`` "one-vs-rest" by default). ``epochs``, ``batch_size`` and
    ``body_learning_rate`` take a pair ``(embedding phase, classifier phase)`` or one value
    for both. Accuracy and F1 are computed locally (no network).
    """

    auto_cls_name = "SetFitModel"
    supports_fsdp = False  # SetFit trains on one device

    @signed(_INIT)
    def __init__(
        self,
        name: str,
        model_name: str,
        multi_target_strategy: str | None,
        device: Any,
        peft_config: Any,
        **options: Any,
    ):
        """DataDreamer's arguments (``__signature__``): those of :class:`TrainHFBase` that
        SetFit uses, and ``multi_target_strategy``."""
        if isinstance(device, list | tuple):
            raise StepInputError(
                f"Trainer {name!r} (TrainSetFitClassifier): training on several devices is not "
                "supported by SetFit. Pass one device, e.g. device='cuda:0' or device='cpu'."
            )
        if peft_config is not None:
            raise StepInputError(
                f"Trainer {name!r} (TrainSetFitClassifier): peft_config is not supported yet "
                "(SetFit bodies are small; train the full body, or use TrainHFClassifier or "
                "TrainSentenceTransformer with a peft_config)."
            )
        TrainHFBase.__init__(
            self,
            name,
            model_name,
            chat_prompt_template=None,
            system_prompt=None,
            device=device,
            peft_config=peft_config,
            **options,
        )
        self.multi_target_strategy = multi_target_strategy

    def _identity(self) -> dict[str, Any]:
        ident = super()._identity()
        if self.multi_target_strategy != "auto":
            ident["multi_target_strategy"] = self.multi_target_strategy
        if self.kwargs:
            ident["load_kwargs"] = {k: hash_value(v) for k, v in sorted(self.kwargs.items())}
        return ident

    def _citations(self) -> list[str]:
        return [*super()._citations(), SBERT_CITATION, SETFIT_CITATION]

    consumes = frozenset(
        {
            "truncate",
            "sampling_strategy",
            "end_to_end",
            "epochs",
            "batch_size",
            "body_learning_rate",
            "head_learning_rate",
            "weight_decay",
            "warmup_steps",
            "seed",
            "callbacks",
        }
    )

    @trains(
        "_train_setfit",
        ("input", "output"),
        (
            "truncate",
            own("sampling_strategy", "str", "oversampling"),
            own("end_to_end", "bool", False),
            own("epochs", "float | tuple[float, float]", 3.0),
            own("batch_size", "int | tuple[int, int]", 8),
            own("body_learning_rate", "float | tuple[float, float]", 1e-3),
            own("head_learning_rate", "float", 1e-3),
            "weight_decay",
            "warmup_steps",
            "seed",
        ),
    )
    def train(self, *args: Any, **kwargs: Any) -> TrainSetFitClassifier:  # type: ignore[override]
        """Train on ``train_input`` (text) -> ``train_output`` (labels); returns ``self``."""

    # ---------------------------------------------------------------------------------
    def _prepare(self, call: TrainCall) -> TrainCall:
        _import_setfit()
        call = super()._prepare(call)  # the labels
        if call["sampling_strategy"] not in ("oversampling", "undersampling", "unique"):
            raise StepInputError(
                f"{self._where()}: sampling_strategy={call['sampling_strategy']!r} is not one "
                "of 'oversampling', 'undersampling', 'unique'."
            )
        if isinstance(call.get("metric"), str):
            raise StepInputError(
                f"{self._where()}: metric={call['metric']!r} would download an `evaluate` "
                "metric from the Hub. Pass a function metric(y_pred, y_true) -> dict instead "
                "(accuracy and F1 are computed by default)."
            )
        return call

    def _train_setfit(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from setfit import Trainer as SetFitTrainer
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        labels, multi = self._label_set(call)
        label2id = {str(label): i for i, label in enumerate(labels)}
        model, strategy = self._load_setfit(label2id, multi, call["seed"])
        train, val = call.datasets(lambda cols: self._rows(cols, label2id, multi))
        # SetFit checkpoints cannot be resumed: keep them apart from the base class's
        # ``checkpoint-N`` scan and start fresh each time.
        out_dir = ctx.checkpoint_dir / "setfit"
        shutil.rmtree(out_dir, ignore_errors=True)
        texts = list(train["text"]) + (list(val["text"]) if val is not None else [])
        args, options = self._setfit_args(
            call,
            out_dir,
            len(train),
            longest_text(self._where(), model.model_body, texts, call["truncate"]),
        )
        trainer = SetFitTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            metric=options.pop("metric", None) or _metric_fn(multi),
            metric_kwargs=options.pop("metric_kwargs", None),
            callbacks=self.callbacks(ctx, call),
        )
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        trainer.train()
        metrics: dict[str, Any] = {}
        if val is not None:
            results = trainer.evaluate(val, metric_key_prefix="eval")
            metrics.update(
                {k if k.startswith("eval_") else f"eval_{k}": v for k, v in results.items()}
            )
        ctx.reporter.log({"phase": "classifier", **metrics})
        ctx.final_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(ctx.final_dir))
        meta = {"labels": list(label2id), "multi_label": multi}
        (ctx.final_dir / "dreamer_lab.json").write_text(
            json.dumps(
                {
                    "base_model": self.model_name,
                    "adapter": False,
                    "auto_cls": self.auto_cls_name,
                    **meta,
                    "multi_target_strategy": strategy,
                }
            )
        )
        shutil.rmtree(out_dir, ignore_errors=True)
        return TrainResult(metrics={k: jsonable(v) for k, v in metrics.items()}, extra=meta)

    def _load_setfit(self, label2id: dict[str, int], multi: bool, seed: int) -> tuple[Any, Any]:
        """The SetFit model to train (seeded: its head starts random) and its strategy."""
        import torch
        from setfit import SetFitModel
        from transformers import set_seed

        strategy = self.multi_target_strategy
        if strategy == "auto":
            strategy = "one-vs-rest" if multi else None
        set_seed(seed)
        model = SetFitModel.from_pretrained(
            self.model_name,
            device=resolve_device(self.device),
            multi_target_strategy=strategy,
            use_differentiable_head=True,
            head_params={"out_features": len(label2id)},
            labels=list(label2id),
            **self.kwargs,
        )
        if self.dtype is not None:
            dtype = getattr(torch, self.dtype) if isinstance(self.dtype, str) else self.dtype
            model.model_body = model.model_body.to(dtype)
            model.model_head = model.model_head.to(dtype)
        return model, strategy

    @staticmethod
    def _rows(cols: dict[str, OutputColumn], label2id: dict[str, int], multi: bool) -> Any:
        from datasets import Dataset

        texts = [str(x) for x in cols["input"].to_list()]
        y = label_targets(cols["output"].to_list(), label2id, multi, 1)
        return Dataset.from_dict({"text": texts, "label": y})

    def _setfit_args(
        self, call: TrainCall, out_dir: Path, rows: int, max_length: int | None
    ) -> tuple[Any, dict[str, Any]]:
        """SetFit's ``TrainingArguments`` of the call, and the options left for its trainer
        (``metric``, ``metric_kwargs``)."""
        from setfit import TrainingArguments

        options = call.options(self.consumes)
        has_val = call.has_validation
        patience = options.pop("early_stopping_patience", 5 if has_val else None)
        threshold = options.pop("early_stopping_threshold", 0.0)
        save_strategy = options.pop("save_strategy", "epoch" if has_val else "no")
        eval_strategy = options.pop("eval_strategy", "epoch" if has_val else "no")
        best_at_end = bool(has_val and save_strategy != "no" and eval_strategy != "no")
        self._early_stopping = (patience, threshold) if best_at_end and patience else None
        trainer_options = {k: options.pop(k) for k in ("metric", "metric_kwargs") if k in options}
        emb_epochs, clf_epochs = _pair(call["epochs"])
        emb_batch, clf_batch = _pair(call["batch_size"])
        args = TrainingArguments(
            output_dir=str(out_dir),
            num_epochs=(emb_epochs, max(1, math.ceil(clf_epochs))),
            batch_size=(int(emb_batch), int(clf_batch)),
            body_learning_rate=_pair(call["body_learning_rate"]),
            head_learning_rate=call["head_learning_rate"],
            l2_weight=call["weight_decay"],
            sampling_strategy=call["sampling_strategy"],
            end_to_end=call["end_to_end"],
            # The classifier phase pads every batch to max_length: the longest text, not 256.
            max_length=max_length,
            warmup_proportion=0.0,
            seed=call["seed"],
            report_to=options.pop("report_to", "none"),
            run_name=f"dreamer_lab - {self.name}",
            show_progress_bar=False,
            logging_strategy="steps",
            logging_steps=options.pop("logging_steps", 1),
            eval_strategy=eval_strategy,
            save_strategy=save_strategy,
            save_total_limit=options.pop("save_total_limit", 1),
            load_best_model_at_end=best_at_end,
            **options,
        )
        if call["warmup_steps"]:
            total = args.max_steps if args.max_steps > 0 else None
            if total is None:
                pairs = (
                    rows * rows if args.num_iterations is None else 2 * rows * args.num_iterations
                )
                total = max(1, math.ceil(pairs / args.embedding_batch_size) * emb_epochs)
            args.warmup_proportion = min(1.0, call["warmup_steps"] / total)
        return args, trainer_options

    # -- results ------------------------------------------------------------------------
    @property
    def is_adapter(self) -> bool:
        return False

    def _load_trained(self) -> Any:
        from setfit import SetFitModel

        return SetFitModel.from_pretrained(
            str(self.model_path), device=resolve_device(self.device), **self.kwargs
        )

    def export_to_disk(self, path: str | Path, adapter_only: bool = False) -> Any:
        """Copy the trained SetFit model folder to ``path``."""
        if adapter_only:
            raise StepInputError(
                f"{self._where()}: adapter_only=True, but a SetFit model has no adapter (it "
                "trains the full body). Use adapter_only=False."
            )
        return super().export_to_disk(path, adapter_only=False)


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise StepInputError(
                f"TrainSetFitClassifier: {value!r} must be one value or a pair "
                "(embedding phase, classifier phase)."
            )
        return value[0], value[1]
    return value, value


def _metric_fn(multi: bool) -> Any:
    """Accuracy and macro F1, computed locally (SetFit's string metrics download)."""

    def metric(y_pred: Any, y_true: Any, **_: Any) -> dict[str, float]:
        return accuracy_f1(y_pred, y_true, multi)

    return metric
