"""A trainer with validation data reports the returned model's evaluation without a second
pass over the validation set (what costs a plain trl run nothing costs us nothing)."""

from __future__ import annotations

from trainer_fixtures import tiny_llama  # noqa: F401

from dreamer_lab.steps import DataSource

PAIRS = {
    "question": ["color of sky", "color of grass", "color of sun", "color of sea"] * 2,
    "answer": ["blue", "green", "yellow", "blue"] * 2,
}


def test_final_metrics_are_the_best_checkpoints_without_an_extra_evaluation(
    workspace,
    tiny_llama,  # noqa: F811
):
    from transformers import TrainerCallback

    from dreamer_lab.trainers import TrainHFFineTune

    evaluations: list[float] = []

    class CountEvaluations(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
            evaluations.append(metrics["eval_loss"])

    train = DataSource("train", PAIRS)
    val = DataSource("val", {k: v[:4] for k, v in PAIRS.items()})
    trainer = TrainHFFineTune("sft", model_name=str(tiny_llama)).train(
        train_input=train.output["question"],
        train_output=train.output["answer"],
        validation_input=val.output["question"],
        validation_output=val.output["answer"],
        epochs=3,
        batch_size=4,
        learning_rate=5e-2,
        callbacks=[CountEvaluations()],
    )
    # One evaluation per epoch end, none after training.
    assert len(evaluations) == 3
    logged = [h["eval_loss"] for h in trainer.loss_history if "eval_loss" in h]
    assert logged == evaluations
    # The best checkpoint is the model returned (loaded at the end); its metrics are reported.
    assert trainer.metrics["eval_loss"] == min(evaluations)
    assert {"eval_runtime", "epoch", "train_loss"} <= set(trainer.metrics)
