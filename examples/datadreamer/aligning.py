"""Guide: aligning an LLM with human preferences (DPO with LoRA).

Follows DataDreamer's "Aligning a LLM with Human Preferences": load a dataset of preference
pairs (``question``, ``chosen``, ``rejected``) from the Hub (``HFHubDataSource``), keep a few
rows (``take``), split, and align a chat model with DPO and a LoRA adapter (``TrainHFDPO``).
Offline stand-ins: see ``_offline.py`` (the pairs sample in ``data/dpo_pairs_sample``).

Run: ``python examples/datadreamer/aligning.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_model, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import HFHubDataSource
from dreamer_lab.trainers import TrainHFDPO


def main(
    workspace: str,
    model_name: str | None = None,
    dataset: str | None = None,
    rows: int = 8,
    epochs: int = 1,
    batch_size: int = 2,
) -> dict[str, Any]:
    """Align ``model_name`` on ``rows`` preference pairs; returns the steps and trainer."""
    from peft import LoraConfig

    with DataDreamer(workspace):
        source = HFHubDataSource(
            "Get DPO Dataset", dataset or sample("dpo_pairs_sample"), split="train"
        )
        subset = source.take(rows)
        splits = subset.splits(train_size=0.75, validation_size=0.25)
        trainer = TrainHFDPO(
            "Align the Chat Model",
            model_name=stand_in_model(model_name),
            peft_config=LoraConfig(),
        )
        trainer.train(
            train_prompts=splits["train"].output["question"],
            train_chosen=splits["train"].output["chosen"],
            train_rejected=splits["train"].output["rejected"],
            validation_prompts=splits["validation"].output["question"],
            validation_chosen=splits["validation"].output["chosen"],
            validation_rejected=splits["validation"].output["rejected"],
            epochs=epochs,
            batch_size=batch_size,
            gradient_accumulation_steps=2,
        )
    return {"source": source, "subset": subset, **splits, "trainer": trainer}


if __name__ == "__main__":
    print("adapter:", main(workspace_arg("./aligning_workspace"))["trainer"].model_path)
