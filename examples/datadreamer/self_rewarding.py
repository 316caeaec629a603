"""Guide: a self-improving LLM with self-rewarding (RLAIF with DPO).

Follows DataDreamer's "Training a Self-Improving LLM with Self-Rewarding": take prompts from a
Hub dataset (``HFHubDataSource`` -> ``select_columns`` -> ``take``); in each round, on that
round's shard of prompts (``shard``), the current model (``HFTransformers``, with the previous
round's adapter) samples two responses per prompt (two ``Prompt`` steps with different
seeds), judges its own pairs (``JudgeGenerationPairsWithPrompt``), turns the judgements into
preference pairs (``map``), and is aligned on them with DPO and LoRA (``TrainHFDPO``); the new
adapter is used in the next round. Offline stand-ins: see ``_offline.py``.

Run: ``python examples/datadreamer/self_rewarding.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_model, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.llms import HFTransformers
from dreamer_lab.steps import HFHubDataSource, JudgeGenerationPairsWithPrompt, Prompt
from dreamer_lab.trainers import TrainHFDPO


def to_preference(row: dict[str, Any]) -> dict[str, Any]:
    """A judged pair as a DPO row: the response the judge preferred is ``chosen``."""
    a_wins = row["judgements"] == "Response A"
    return {
        "question": row["prompts"],
        "chosen": row["a"] if a_wins else row["b"],
        "rejected": row["b"] if a_wins else row["a"],
    }


def run_round(
    r: int, prompts: Any, model: str, adapter: str | None, max_new_tokens: int, train: dict
) -> dict[str, Any]:
    """One round of self-rewarding on the ``prompts`` step; returns its steps and trainer."""
    from peft import LoraConfig

    llm = HFTransformers(model, adapter_name=adapter)
    candidates = [
        Prompt(
            f"Round #{r + 1}: Sample Candidate Response #{i}",
            inputs={"prompts": prompts.output["question"]},
            args={
                "llm": llm,
                "batch_size": 2,
                "top_p": 1.0,
                "seed": i,
                "max_new_tokens": max_new_tokens,
            },
        )  # fmt: skip
        for i in range(2)
    ]
    judgements = JudgeGenerationPairsWithPrompt(
        f"Round #{r + 1}: Judge Candidate Responses",
        args={"llm": llm, "batch_size": 1, "max_new_tokens": 5},
        inputs={
            "prompts": prompts.output["question"],
            "a": candidates[0].output["generations"],
            "b": candidates[1].output["generations"],
        },
    )
    llm.unload_model()
    pairs = judgements.map(
        to_preference, lazy=False, name=f"Round #{r + 1}: Create Self-Reward Preference Dataset"
    )
    splits = pairs.splits(train_size=0.5, validation_size=0.5)
    trainer = TrainHFDPO(
        f"Round #{r + 1}: Self-Reward Align the Chat Model",
        model_name=model,
        peft_config=LoraConfig(),
    )
    trainer.train(
        train_prompts=splits["train"].output["question"],
        train_chosen=splits["train"].output["chosen"],
        train_rejected=splits["train"].output["rejected"],
        validation_prompts=splits["validation"].output["question"],
        validation_chosen=splits["validation"].output["chosen"],
        validation_rejected=splits["validation"].output["rejected"],
        **train,
    )
    trainer.unload_model()
    return {"prompts": prompts, "candidate_0": candidates[0], "candidate_1": candidates[1],
            "judgements": judgements, "pairs": pairs, **splits, "trainer": trainer}  # fmt: skip


def main(
    workspace: str,
    model_name: str | None = None,
    dataset: str | None = None,
    rows: int = 8,
    rounds: int = 2,
    max_new_tokens: int = 24,
    epochs: int = 1,
    batch_size: int = 2,
) -> dict[str, Any]:
    """``rounds`` rounds of self-rewarding over ``rows`` prompts; returns every round's steps
    and trainer as ``{"round 1": {...}, ...}`` plus the prompt steps."""
    model = stand_in_model(model_name)
    train = {"epochs": epochs, "batch_size": batch_size, "gradient_accumulation_steps": 1}
    result: dict[str, Any] = {}
    with DataDreamer(workspace):
        source = HFHubDataSource(
            "Get Prompts Dataset", dataset or sample("dpo_pairs_sample"), split="train"
        )
        questions = source.select_columns(["question"])
        prompts = questions.take(rows)
        result.update(source=source, questions=questions, prompts=prompts)
        adapter = None
        for r in range(rounds):
            shard = prompts.shard(num_shards=rounds, index=r, name=f"Round #{r + 1}: Get Prompts")
            result[f"round {r + 1}"] = step = run_round(
                r, shard, model, adapter, max_new_tokens, train
            )
            adapter = str(step["trainer"].model_path)
    return result


if __name__ == "__main__":
    result = main(workspace_arg("./self_rewarding_workspace"))
    print("final adapter:", result[f"round {len(result) - 3}"]["trainer"].model_path)
