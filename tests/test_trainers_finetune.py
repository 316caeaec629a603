"""TrainHFFineTune on a tiny Llama: real training, caching, LoRA, bad input."""

from __future__ import annotations

import pytest
from trainer_fixtures import tiny_llama  # noqa: F401

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource

PAIRS = {
    "question": ["color of sky", "color of grass", "color of sun", "color of sea"] * 4,
    "answer": ["blue", "green", "yellow", "blue"] * 4,
}


def _losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.loss_history if "loss" in h]


def _data():
    return DataSource("qa", PAIRS)


def test_sft_full_finetune_learns_and_caches(workspace, tiny_llama):  # noqa: F811
    from dreamer_lab.trainers import TrainHFFineTune

    qa = _data()
    trainer = TrainHFFineTune("sft", model_name=str(tiny_llama))
    trainer.train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        epochs=20,
        batch_size=4,
        learning_rate=2e-2,
    )
    losses = _losses(trainer)
    assert len(losses) == 80  # 16 rows / batch 4 * 20 epochs, logged every step
    assert sum(losses[-5:]) / 5 < 0.3 < losses[0]
    assert trainer.cache_hit is False
    # A folder transformers loads, which generates the learnt answer after the chat prompt.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(trainer.model_path)
    model = AutoModelForCausalLM.from_pretrained(trainer.model_path)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "color of grass"}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert "green" in tok.decode(out[0, ids.shape[1] :])

    rec = trainer.record
    assert rec["lineage"]["train"]["train_input"]["name"] == "qa"
    assert rec["hyperparams"]["learning_rate"] == 2e-2
    assert rec["card"]["Model Name"] == ["tiny-llama"]
    assert rec["metrics"]["train_loss"] > 0

    # Same data, model and hyperparameters: loads instead of training again.
    again = TrainHFFineTune("renamed", model_name=str(tiny_llama)).train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        epochs=20,
        batch_size=4,
        learning_rate=2e-2,
    )
    assert again.cache_hit is True
    assert again.model_path == trainer.model_path
    # A changed hyperparameter is another model.
    other = TrainHFFineTune("sft", model_name=str(tiny_llama)).train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        epochs=1,
        batch_size=4,
        learning_rate=2e-2,
    )
    assert other.fingerprint != trainer.fingerprint and other.cache_hit is False


def test_sft_lora_adapter_with_validation(workspace, tiny_llama):  # noqa: F811
    from peft import LoraConfig

    from dreamer_lab.trainers import TrainHFFineTune

    qa = _data()
    val = DataSource("val", {k: v[:4] for k, v in PAIRS.items()})
    trainer = TrainHFFineTune(
        "lora",
        model_name=str(tiny_llama),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train(
        train_input=qa.output["question"],
        train_output=qa.output["answer"],
        validation_input=val.output["question"],
        validation_output=val.output["answer"],
        epochs=5,
        batch_size=4,
        learning_rate=2e-2,
    )
    losses = _losses(trainer)
    assert losses[-1] < losses[0]
    evals = [h["eval_loss"] for h in trainer.loss_history if "eval_loss" in h]
    assert len(evals) >= 5 and evals[-1] < evals[0]
    assert trainer.is_adapter
    assert (trainer.model_path / "adapter_config.json").is_file()
    assert trainer.record["configs"]["peft_config"]["r"] == 8
    assert trainer.record["lineage"]["validation"]["validation_output"]["name"] == "val"
    # The adapter folder loads with plain transformers (its PEFT integration).
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(trainer.model_path)
    assert any("lora" in n for n, _ in loaded.named_parameters())


def test_export_merged_and_adapter_only(workspace, tiny_llama, tmp_path):  # noqa: F811
    from peft import LoraConfig

    from dreamer_lab.trainers import TrainHFFineTune

    qa = _data()
    trainer = TrainHFFineTune(
        "lora", model_name=str(tiny_llama), peft_config=LoraConfig(r=4, target_modules="all-linear")
    ).train(train_input=qa.output["question"], train_output=qa.output["answer"], epochs=1)
    trainer.export_to_disk(tmp_path / "merged")
    trainer.export_to_disk(tmp_path / "adapter", adapter_only=True)
    assert (tmp_path / "merged" / "config.json").is_file()
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    full = TrainHFFineTune("full", model_name=str(tiny_llama)).train(
        train_input=qa.output["question"], train_output=qa.output["answer"], epochs=1
    )
    with pytest.raises(StepInputError, match="without a peft_config"):
        full.export_to_disk(tmp_path / "x", adapter_only=True)


# -- bad input: clear errors before any training ---------------------------------------
def test_bad_input_errors(workspace, tiny_llama):  # noqa: F811
    from peft import LoraConfig

    from dreamer_lab.trainers import TrainHFFineTune

    qa = _data()
    short = DataSource("short", {"answer": ["blue", "green"]})
    t = TrainHFFineTune("bad", model_name=str(tiny_llama))
    with pytest.raises(KeyError, match="no column 'nope'"):
        t.train(train_input=qa.output["nope"], train_output=qa.output["answer"])
    with pytest.raises(StepInputError, match="different lengths"):
        t.train(train_input=qa.output["question"], train_output=short.output["answer"])
    with pytest.raises(StepInputError, match="must be a step column"):
        t.train(train_input=["a", "b"], train_output=qa.output["answer"])
    with pytest.raises(StepInputError, match="train_output is missing"):
        t.train(train_input=qa.output["question"], train_output=None)
    empty = qa.filter(lambda row: False, name="nothing")
    with pytest.raises(StepInputError, match="training data is empty"):
        t.train(train_input=empty.output["question"], train_output=empty.output["answer"])
    with pytest.raises(StepInputError, match="validation set was given without validation_output"):
        t.train(
            train_input=qa.output["question"],
            train_output=qa.output["answer"],
            validation_input=qa.output["question"],
        )
    with pytest.raises(StepInputError, match="was not found"):
        TrainHFFineTune("ghost", model_name="no-such-org/no-such-model-xyz")
    lora = TrainHFFineTune(
        "bad lora",
        model_name=str(tiny_llama),
        peft_config=LoraConfig(r=4, target_modules=["query_key_value"]),
    )
    with pytest.raises(StepInputError, match=r"'query_key_value'.*q_proj"):
        lora.train(train_input=qa.output["question"], train_output=qa.output["answer"])
    # Nothing was trained or stored by the failed attempts.
    assert not any((workspace / "models").iterdir())
