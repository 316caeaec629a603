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

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, TrainResult
from dreamer_lab.trainers.hf_base import TrainHFBase, _plain, resolve_device
from dreamer_lab.trainers.train_hf_classifier import TrainHFClassifier
from dreamer_lab.trainers.train_sentence_transformer import SBERT_CITATION

SETFIT_CITATION = (
    "@misc{tunstall2022efficient, title={Efficient Few-Shot Learning Without Prompts}, "
    "author={Tunstall, Lewis and Reimers, Nils and Jo, Unso Eun Seo and Bates, Luke and Korat, "
    "Daniel and Wasserblat, Moshe and Pereg, Oren}, doi={10.48550/ARXIV.2209.11055}, "
    "year={2022}}"
)

_SETFIT_MISSING = (
    "TrainSetFitClassifier needs the `setfit` package: pip install 'dreamer-lab[setfit]' "
    "(or pip install setfit)."
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

    def __init__(
        self,
        name: str,
        model_name: str,
        multi_target_strategy: str | None = "auto",
        device: Any = None,
        dtype: Any = None,
        peft_config: Any = None,
        force: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        **kwargs: Any,
    ):
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
            dtype=dtype,
            force=force,
            verbose=verbose,
            log_level=log_level,
            **kwargs,
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

    def train(  # type: ignore[override]
        self,
        train_input: OutputColumn,
        train_output: OutputColumn,
        validation_input: OutputColumn | None = None,
        validation_output: OutputColumn | None = None,
        truncate: bool = True,
        sampling_strategy: str = "oversampling",
        end_to_end: bool = False,
        epochs: float | tuple[float, float] = 3.0,
        batch_size: int | tuple[int, int] = 8,
        body_learning_rate: float | tuple[float, float] = 1e-3,
        head_learning_rate: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainSetFitClassifier:
        """Train on ``train_input`` (text) -> ``train_output`` (labels); returns ``self``."""
        _import_setfit()
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
        if sampling_strategy not in ("oversampling", "undersampling", "unique"):
            raise StepInputError(
                f"{self._where()}: sampling_strategy={sampling_strategy!r} is not one of "
                "'oversampling', 'undersampling', 'unique'."
            )
        if isinstance(kwargs.get("metric"), str):
            raise StepInputError(
                f"{self._where()}: metric={kwargs['metric']!r} would download an `evaluate` "
                "metric from the Hub. Pass a function metric(y_pred, y_true) -> dict instead "
                "(accuracy and F1 are computed by default)."
            )
        hyper = dict(
            truncate=truncate,
            sampling_strategy=sampling_strategy,
            end_to_end=end_to_end,
            epochs=epochs,
            batch_size=batch_size,
            body_learning_rate=body_learning_rate,
            head_learning_rate=head_learning_rate,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            seed=seed,
            **kwargs,
        )

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train_setfit(ctx, data, dict(hyper), labels, multi)

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    # ---------------------------------------------------------------------------------
    def _train_setfit(
        self,
        ctx: TrainContext,
        data: dict[str, Any],
        hyper: dict[str, Any],
        labels: list[Any],
        multi: bool,
    ) -> TrainResult:
        import torch
        from datasets import Dataset
        from setfit import SetFitModel, TrainingArguments
        from setfit import Trainer as SetFitTrainer
        from transformers import set_seed
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        label2id = {str(label): i for i, label in enumerate(labels)}
        strategy = self.multi_target_strategy
        if strategy == "auto":
            strategy = "one-vs-rest" if multi else None
        device = resolve_device(self.device)
        set_seed(hyper["seed"])
        model = SetFitModel.from_pretrained(
            self.model_name,
            device=device,
            multi_target_strategy=strategy,
            use_differentiable_head=True,
            head_params={"out_features": len(labels)},
            labels=list(label2id),
            **self.kwargs,
        )
        if self.dtype is not None:
            dtype = getattr(torch, self.dtype) if isinstance(self.dtype, str) else self.dtype
            model.model_body = model.model_body.to(dtype)
            model.model_head = model.model_head.to(dtype)

        def rows(inputs: OutputColumn, outputs: OutputColumn) -> Any:
            texts = [str(x) for x in inputs.to_list()]
            if multi:
                y: list[Any] = []
                for row in outputs.to_list():
                    vec = [0] * len(labels)
                    for x in row:
                        vec[label2id[str(x)]] = 1
                    y.append(vec)
            else:
                y = [label2id[str(x)] for x in outputs.to_list()]
            return Dataset.from_dict({"text": texts, "label": y})

        train = rows(data["train_input"], data["train_output"])
        has_val = data["validation_input"] is not None
        val = rows(data["validation_input"], data["validation_output"]) if has_val else None
        max_length = self._max_length(
            model,
            list(train["text"]) + (list(val["text"]) if val is not None else []),
            hyper["truncate"],
        )

        kwargs = {
            k: v
            for k, v in hyper.items()
            if k
            not in (
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
            )
        }
        extra_callbacks = kwargs.pop("callbacks", None)
        metric = kwargs.pop("metric", None) or _metric_fn(multi)
        metric_kwargs = kwargs.pop("metric_kwargs", None)
        patience = kwargs.pop("early_stopping_patience", 5 if has_val else None)
        threshold = kwargs.pop("early_stopping_threshold", 0.0)
        save_strategy = kwargs.pop("save_strategy", "epoch" if has_val else "no")
        eval_strategy = kwargs.pop("eval_strategy", "epoch" if has_val else "no")
        best_at_end = bool(has_val and save_strategy != "no" and eval_strategy != "no")
        self._early_stopping = (patience, threshold) if best_at_end and patience else None
        # SetFit checkpoints cannot be resumed: keep them apart from the base class's
        # ``checkpoint-N`` scan and start fresh each time.
        out_dir = ctx.checkpoint_dir / "setfit"
        shutil.rmtree(out_dir, ignore_errors=True)
        emb_epochs, clf_epochs = _pair(hyper["epochs"])
        emb_batch, clf_batch = _pair(hyper["batch_size"])
        args = TrainingArguments(
            output_dir=str(out_dir),
            num_epochs=(emb_epochs, max(1, math.ceil(clf_epochs))),
            batch_size=(int(emb_batch), int(clf_batch)),
            body_learning_rate=_pair(hyper["body_learning_rate"]),
            head_learning_rate=hyper["head_learning_rate"],
            l2_weight=hyper["weight_decay"],
            sampling_strategy=hyper["sampling_strategy"],
            end_to_end=hyper["end_to_end"],
            # The classifier phase pads every batch to max_length: the longest text, not 256.
            max_length=max_length,
            warmup_proportion=0.0,
            seed=hyper["seed"],
            report_to=kwargs.pop("report_to", "none"),
            run_name=f"dreamer_lab - {self.name}",
            show_progress_bar=False,
            logging_strategy="steps",
            logging_steps=kwargs.pop("logging_steps", 1),
            eval_strategy=eval_strategy,
            save_strategy=save_strategy,
            save_total_limit=kwargs.pop("save_total_limit", 1),
            load_best_model_at_end=best_at_end,
            **kwargs,
        )
        if hyper["warmup_steps"]:
            total = args.max_steps if args.max_steps > 0 else None
            if total is None:
                n = len(train)
                pairs = n * n if args.num_iterations is None else 2 * n * args.num_iterations
                total = max(1, math.ceil(pairs / args.embedding_batch_size) * emb_epochs)
            args.warmup_proportion = min(1.0, hyper["warmup_steps"] / total)
        trainer = SetFitTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            metric=metric,
            metric_kwargs=metric_kwargs,
            callbacks=self.callbacks(ctx, extra_callbacks),
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
        (ctx.final_dir / "dreamer_lab.json").write_text(
            json.dumps(
                {
                    "base_model": self.model_name,
                    "adapter": False,
                    "auto_cls": self.auto_cls_name,
                    "labels": list(label2id),
                    "multi_label": multi,
                    "multi_target_strategy": strategy,
                }
            )
        )
        shutil.rmtree(out_dir, ignore_errors=True)
        return TrainResult(
            metrics={k: _plain(v) for k, v in metrics.items()},
            extra={"labels": list(label2id), "multi_label": multi},
        )

    def _max_length(self, model: Any, texts: list[str], truncate: bool) -> int | None:
        """Token length of the longest text, capped at the body's limit (None: unknown).

        With ``truncate=False`` a text longer than the limit is an error.
        """
        body = model.model_body
        limit = getattr(body, "max_seq_length", None)
        tok = getattr(body, "tokenizer", None)
        if not limit or tok is None:
            return None
        lengths = [len(ids) for ids in tok(texts)["input_ids"]]
        too_long = sum(n > limit for n in lengths)
        if too_long and not truncate:
            raise StepInputError(
                f"{self._where()}: truncate=False, but {too_long} text(s) are longer than the "
                f"model's {limit} tokens (longest: {max(lengths)}). Shorten them, or pass "
                "truncate=True to cut them."
            )
        return min(limit, max(lengths))

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
        import numpy as np

        p = np.asarray(y_pred).astype(int)
        y = np.asarray(y_true).astype(int)
        if multi:
            tp = (p & y).sum(0)
            f1 = 2 * tp / np.maximum(p.sum(0) + y.sum(0), 1)
            return {"accuracy": float((p == y).all(1).mean()), "f1": float(f1.mean())}
        f1s = []
        for c in sorted(set(y.tolist()) | set(p.tolist())):
            tp = int(((p == c) & (y == c)).sum())
            denom = int((p == c).sum() + (y == c).sum())
            f1s.append(2 * tp / denom if denom else 0.0)
        return {"accuracy": float((p == y).mean()), "f1": float(np.mean(f1s))}

    return metric
