"""TrainHFDPO (tiny Llama) and TrainHFRewardModel (tiny BERT) learn toy preferences."""

from __future__ import annotations

import pytest
from trainer_fixtures import tiny_bert, tiny_llama  # noqa: F401

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource

PREFS = {
    "prompt": ["color of sky", "color of grass", "color of sun", "color of sea"] * 4,
    "chosen": ["blue", "green", "yellow", "blue"] * 4,
    "rejected": ["red", "red", "blue", "green"] * 4,
}


def _losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.loss_history if "loss" in h]


def test_dpo_with_lora_learns_preferences(workspace, tiny_llama):  # noqa: F811
    from peft import LoraConfig

    from dreamer_lab.trainers import TrainHFDPO

    prefs = DataSource("prefs", PREFS)
    dpo = TrainHFDPO(
        "dpo",
        model_name=str(tiny_llama),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"]),
    ).train(
        train_prompts=prefs.output["prompt"],
        train_chosen=prefs.output["chosen"],
        train_rejected=prefs.output["rejected"],
        validation_prompts=prefs.output["prompt"],
        validation_chosen=prefs.output["chosen"],
        validation_rejected=prefs.output["rejected"],
        epochs=12,
        batch_size=4,
        learning_rate=5e-2,
        dpo_beta=0.5,
    )
    losses = _losses(dpo)
    assert losses[0] == pytest.approx(0.693, abs=0.02)  # log 2: policy == reference at start
    assert sum(losses[-4:]) / 4 < 0.4
    assert dpo.metrics["eval_rewards/accuracies"] >= 0.9
    assert dpo.is_adapter
    rec = dpo.record
    assert rec["hyperparams"]["dpo_beta"] == 0.5 and rec["hyperparams"]["loss_type"] == "sigmoid"
    assert any("Direct Preference Optimization" in c for c in rec["card"]["Citation Information"])


def test_reward_model_pairs_learns_ranking(workspace, tiny_bert):  # noqa: F811
    import torch

    from dreamer_lab.trainers import TrainHFRewardModel

    prefs = DataSource(
        "polite prefs",
        {
            "prompt": ["the movie", "the book", "the story", "the film"] * 4,
            "chosen": ["good great", "love happy", "great good", "happy love"] * 4,
            "rejected": ["bad terrible", "hate sad", "terrible bad", "sad hate"] * 4,
        },
    )
    rm = TrainHFRewardModel("rm", model_name=str(tiny_bert)).train_with_pairs(
        train_prompts=prefs.output["prompt"],
        train_chosen=prefs.output["chosen"],
        train_rejected=prefs.output["rejected"],
        epochs=20,
        batch_size=8,
        learning_rate=1e-2,
    )
    losses = _losses(rm)
    assert sum(losses[-4:]) / 4 < 0.5 * losses[0]
    model, tok = rm.model, rm.tokenizer
    model.eval()
    with torch.no_grad():
        good = model(**tok("a day good love", return_tensors="pt")).logits.item()
        bad = model(**tok("a day hate bad", return_tensors="pt")).logits.item()
    assert good > bad


def test_reward_model_with_scores_and_margins(workspace, tiny_bert):  # noqa: F811
    from dreamer_lab.trainers import TrainHFRewardModel

    rows = {
        "prompt": ["rate it"] * 16,
        "generation": ["good great love", "bad terrible hate"] * 8,
        "score": [1.0, -1.0] * 8,
    }
    data = DataSource("scored", rows)
    reg = TrainHFRewardModel("regression", model_name=str(tiny_bert)).train_with_scores(
        train_prompts=data.output["prompt"],
        train_generations=data.output["generation"],
        train_scores=data.output["score"],
        epochs=10,
        batch_size=8,
        learning_rate=1e-2,
    )
    losses = _losses(reg)
    assert losses[-1] < 0.3 * losses[0]
    assert reg.record["hyperparams"]["mode"] == "scores"

    pairs = DataSource(
        "scored pairs",
        {**PREFS, "chosen_score": [5.0] * 16, "rejected_score": [1.0] * 16},
    )
    rm = TrainHFRewardModel("margins", model_name=str(tiny_bert)).train_with_pairs_and_scores(
        train_prompts=pairs.output["prompt"],
        train_chosen=pairs.output["chosen"],
        train_chosen_scores=pairs.output["chosen_score"],
        train_rejected=pairs.output["rejected"],
        train_rejected_scores=pairs.output["rejected_score"],
        epochs=10,
        batch_size=8,
        learning_rate=1e-2,
    )
    losses = _losses(rm)
    assert losses[-1] < losses[0]

    with pytest.raises(StepInputError, match="must hold numbers"):
        TrainHFRewardModel("bad", model_name=str(tiny_bert)).train_with_scores(
            train_prompts=data.output["prompt"],
            train_generations=data.output["generation"],
            train_scores=data.output["generation"],
        )
