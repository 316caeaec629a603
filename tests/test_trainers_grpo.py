"""TrainHFGRPO / TrainHFPPO really train a tiny Llama on-policy and the reward rises."""

from __future__ import annotations

import pytest
from trainer_fixtures import tiny_bert, tiny_llama  # noqa: F401

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource

PROMPTS = {"prompt": ["color of sky", "the cat", "hello world", "one two"] * 4}


def even_tokens(prompts, completions, completion_ids, **kwargs) -> list[float]:
    """A learnable dense reward: the share of completion tokens with an even id."""
    return [sum(1 for t in ids if t % 2 == 0) / max(1, len(ids)) for ids in completion_ids]


def _rewards(trainer, key: str = "reward") -> list[float]:
    return [h[key] for h in trainer.loss_history if key in h]


def test_grpo_reward_rises_and_run_is_cached(workspace, tiny_llama):  # noqa: F811
    from transformers import AutoModelForCausalLM

    from dreamer_lab.trainers import TrainHFGRPO

    prompts = DataSource("prompts", PROMPTS)
    held_out = DataSource("held out", {"prompt": ["the dog", "good day", "big apple", "two"]})

    def train():
        return TrainHFGRPO("grpo", model_name=str(tiny_llama)).train(
            prompts.output["prompt"],
            held_out.output["prompt"],
            reward_funcs=even_tokens,
            max_new_tokens=8,
            num_generations=4,
            batch_size=2,
            epochs=2,
            learning_rate=5e-2,
        )

    grpo = train()
    rewards = _rewards(grpo)
    assert len(rewards) == 16  # 16 prompts x 2 epochs / 2 prompts per step
    start, end = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert start < 0.7 and end > 0.85 and end > start + 0.2, rewards
    assert all("rewards/even_tokens/mean" in h for h in grpo.loss_history if "reward" in h)
    assert grpo.metrics["eval_reward"] > 0.8  # it generalizes to unseen prompts
    rec = grpo.record
    assert rec["hyperparams"]["num_generations"] == 4
    assert any("DeepSeekMath" in c for c in rec["card"]["Citation Information"])
    model = AutoModelForCausalLM.from_pretrained(str(grpo.model_path))
    assert model.config.num_hidden_layers == 2

    again = train()
    assert again.cache_hit and again.fingerprint == grpo.fingerprint


def test_ppo_name_with_reward_model_and_text_reward(workspace, tiny_llama, tiny_bert):  # noqa: F811
    from dreamer_lab.trainers import TrainHFPPO, TrainHFRewardModel

    prefs = DataSource(
        "prefs",
        {
            "prompt": ["the movie", "the book"] * 4,
            "chosen": ["good great", "love happy"] * 4,
            "rejected": ["bad terrible", "hate sad"] * 4,
        },
    )
    rm = TrainHFRewardModel("rm", model_name=str(tiny_bert)).train_with_pairs(
        prefs.output["prompt"], prefs.output["chosen"], prefs.output["rejected"], epochs=1
    )
    prompts = DataSource("prompts", PROMPTS).take(4)
    ppo = TrainHFPPO("ppo", model_name=str(tiny_llama)).train(
        prompts.output["prompt"],
        None,
        rm,
        max_new_tokens=4,
        num_generations=2,
        batch_size=2,
        epochs=1,
        init_kl_coef=0.1,  # DataDreamer's PPO argument: GRPO's beta
        adap_kl_ctrl=True,  # PPO-only: accepted and ignored
    )
    logs = [h for h in ppo.loss_history if "reward" in h]
    assert len(logs) == 2
    assert all("rewards/reward_model:rm/mean" in h and "kl" in h for h in logs)
    assert ppo.record["kind"] == "TrainHFPPO" and ppo.record["hyperparams"]["beta"] == 0.1
    assert ppo.record["hyperparams"]["reward_model"] == {"trainer": rm.fingerprint}

    seen: list[str] = []

    def short_texts(texts: list[str]) -> list[float]:  # DataDreamer's callable form
        seen.extend(texts)
        return [-float(len(t)) for t in texts]

    TrainHFPPO("ppo text", model_name=str(tiny_llama)).train(
        prompts.output["prompt"],
        reward_model=short_texts,
        max_new_tokens=4,
        num_generations=2,
        batch_size=2,
        epochs=1,
    )
    assert len(seen) == 8  # 4 prompts x 2 generations
    assert all(any(p in t for p in PROMPTS["prompt"]) for t in seen)  # prompt + completion


def test_grpo_bad_input_fails_before_loading(workspace, tiny_llama):  # noqa: F811
    from transformers import BertConfig, BertForSequenceClassification

    from dreamer_lab.trainers import TrainHFGRPO

    prompts = DataSource("prompts", PROMPTS)
    trainer = TrainHFGRPO("bad", model_name=str(tiny_llama))
    with pytest.raises(StepInputError, match="nothing to reward"):
        trainer.train(prompts.output["prompt"])
    with pytest.raises(StepInputError, match="at least 2"):
        trainer.train(prompts.output["prompt"], reward_funcs=even_tokens, num_generations=1)
    with pytest.raises(StepInputError, match="must be functions"):
        trainer.train(prompts.output["prompt"], reward_funcs=["not a function"])
    loaded = BertForSequenceClassification(
        BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, num_labels=1)
    )
    with pytest.raises(StepInputError, match="reward_model_tokenizer"):
        trainer.train(prompts.output["prompt"], reward_model=loaded)
    with pytest.raises(StepInputError, match="step column"):
        trainer.train(prompts, reward_funcs=even_tokens)
    assert trainer.fingerprint is None  # nothing was fingerprinted or trained
