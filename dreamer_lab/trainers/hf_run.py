"""How a Hugging Face trainer runs a training: arguments, callbacks, resume, metrics.

The training arguments keep checkpoints in the run's workspace folder and default to what
trains on CPU; a :class:`~dreamer_lab.trainers.calls.TrainCall`'s hyperparameters that the
trainer does not consume itself are passed on to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.calls import TrainCall, TrainContext
from dreamer_lab.trainers.hf_models import resolve_device
from dreamer_lab.trainers.progress import jsonable


def progress_callback(ctx: TrainContext) -> Any:
    """A ``transformers.TrainerCallback`` reporting steps and logs to the run's reporter."""
    from transformers import TrainerCallback

    reporter = ctx.reporter

    class _Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            reporter.step(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if logs:
                reporter.log({"step": state.global_step, "epoch": state.epoch, **logs})

    return _Progress()


def final_eval_metrics(hf_trainer: Any) -> dict[str, Any]:
    """The evaluation metrics of the model as trained.

    When the returned model was already evaluated during training (the best checkpoint,
    loaded at the end, or the last step), those logged metrics: evaluating the same
    weights on the same data again would give the same numbers at the cost of a pass over
    the validation set. Otherwise a fresh ``evaluate()``.
    """
    from pathlib import Path

    from dreamer_lab.trainers.checkpoints import checkpoint_step

    state = hf_trainer.state
    best = state.best_model_checkpoint if hf_trainer.args.load_best_model_at_end else None
    step = checkpoint_step(Path(best)) if best else state.global_step
    for entry in reversed(state.log_history):
        if entry.get("step") == step and "eval_loss" in entry:
            return {k: v for k, v in entry.items() if k.startswith("eval_") or k == "epoch"}
    return hf_trainer.evaluate()


class HFTrainingRun:
    """The training-run part of :class:`~dreamer_lab.trainers.hf_base.TrainHFBase`.

    Expects the trainer's ``name``, ``device``, ``consumes``, ``_fsdp_args()`` and
    ``save_trained()``.
    """

    name: str
    device: Any
    consumes: frozenset[str]
    _early_stopping: tuple[Any, float] | None = None

    def training_args(
        self,
        args_cls: Any,
        ctx: TrainContext,
        *,
        has_validation: bool,
        epochs: float,
        batch_size: int,
        learning_rate: float,
        seed: int,
        kwargs: dict[str, Any],
        **defaults: Any,
    ) -> Any:
        """Training arguments with checkpoints in the workspace and CPU-safe defaults."""
        on_cpu = resolve_device(self.device) == "cpu"
        save_strategy = kwargs.pop("save_strategy", "epoch")
        eval_strategy = kwargs.pop("eval_strategy", save_strategy if has_validation else "no")
        patience = kwargs.pop("early_stopping_patience", 5 if has_validation else None)
        threshold = kwargs.pop("early_stopping_threshold", 0.0)
        base = dict(
            output_dir=str(ctx.checkpoint_dir),
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            data_seed=seed,
            save_strategy=save_strategy,
            eval_strategy=eval_strategy,
            save_total_limit=kwargs.pop("save_total_limit", 2),
            logging_strategy="steps",
            logging_steps=kwargs.pop("logging_steps", 1),
            report_to=kwargs.pop("report_to", "none"),
            disable_tqdm=True,
            use_cpu=on_cpu,
            bf16=False if on_cpu else kwargs.pop("bf16", None),
            gradient_checkpointing=False
            if on_cpu
            else kwargs.pop("gradient_checkpointing", kwargs.pop("activation_checkpointing", None)),
            load_best_model_at_end=has_validation and patience is not None,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
            run_name=f"dreamer_lab - {self.name}",
        )
        if has_validation and save_strategy == "steps" and "save_steps" in kwargs:
            base["eval_steps"] = kwargs["save_steps"]
        base.update(self._fsdp_args(kwargs))
        base.update(defaults)
        base.update(kwargs)
        for key in ("bf16", "gradient_checkpointing"):
            if base.get(key) is None:
                base.pop(key)
        args = args_cls(**base)
        self._early_stopping = (patience, threshold) if base["load_best_model_at_end"] else None
        return args

    def args_for(
        self,
        args_cls: Any,
        ctx: TrainContext,
        call: TrainCall,
        *,
        batch_size: int | None = None,
        **defaults: Any,
    ) -> Any:
        """:meth:`training_args` of one call: its epochs, batch size, learning rate and seed;
        its hyperparameters this trainer does not consume passed on, over ``defaults``."""
        return self.training_args(
            args_cls,
            ctx,
            has_validation=call.has_validation,
            epochs=call["epochs"],
            batch_size=call["batch_size"] if batch_size is None else batch_size,
            learning_rate=call["learning_rate"],
            seed=call["seed"],
            kwargs=call.options(self.consumes),
            **defaults,
        )

    def callbacks(self, ctx: TrainContext, call: TrainCall, *more: Any) -> list[Any]:
        """Progress, early stopping (see :meth:`training_args`), the upload of checkpoints to
        an object-storage workspace, the call's ``callbacks`` and ``more``."""
        cbs = [progress_callback(ctx)]
        if getattr(self, "_early_stopping", None):
            from transformers import EarlyStoppingCallback

            patience, threshold = self._early_stopping
            cbs.append(
                EarlyStoppingCallback(
                    early_stopping_patience=patience, early_stopping_threshold=threshold
                )
            )
        mirror = getattr(self, "_checkpoint_mirror", None)  # an object-storage workspace
        if mirror is not None:
            from dreamer_lab.trainers.checkpoints import upload_callback

            cbs.append(upload_callback(mirror))
        return cbs + list(call.get("callbacks") or []) + list(more)

    def run_hf_trainer(
        self,
        trainer_cls: Any,
        ctx: TrainContext,
        call: TrainCall,
        args: Any,
        datasets: tuple[Any, Any],
        *,
        callbacks: tuple[Any, ...] = (),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Build ``trainer_cls`` on the (train, validation) ``datasets``, train it (resuming
        from the last checkpoint), save to ``ctx.final_dir`` and return the metrics."""
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        train, val = datasets
        hf_trainer = trainer_cls(
            args=args,
            train_dataset=train,
            eval_dataset=val,
            callbacks=self.callbacks(ctx, call, *callbacks),
            **kwargs,
        )
        for cb in (PrinterCallback, ProgressCallback):
            hf_trainer.remove_callback(cb)
        resume = str(ctx.resume_from) if ctx.resume_from is not None else None
        output = hf_trainer.train(resume_from_checkpoint=resume)
        metrics = dict(output.metrics)
        if hf_trainer.eval_dataset is not None:
            metrics.update(final_eval_metrics(hf_trainer))
        self.save_trained(hf_trainer, ctx.final_dir)
        return {k: jsonable(v) for k, v in metrics.items()}

    def run_padded(
        self,
        ctx: TrainContext,
        call: TrainCall,
        build: Callable[[dict[str, OutputColumn]], Any],
        model: Any,
        tokenizer: Any,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:meth:`run_hf_trainer` with transformers' own ``Trainer`` on tokenized rows with
        ``labels`` (``build(columns)`` makes them), each batch padded."""
        from transformers import DataCollatorWithPadding, TrainingArguments
        from transformers import Trainer as HFTrainer

        args = self.args_for(TrainingArguments, ctx, call)
        collator = DataCollatorWithPadding(tokenizer)
        datasets = call.datasets(build)
        return self.run_hf_trainer(
            HFTrainer,
            ctx,
            call,
            args,
            datasets,
            model=model,
            processing_class=tokenizer,
            data_collator=collator,
            **kwargs,
        )
