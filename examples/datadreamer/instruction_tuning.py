"""Guide: instruction-tuning an LLM with LoRA.

Follows DataDreamer's "Instruction-Tuning a LLM": load an instruction dataset from the Hub
(``HFHubDataSource``), keep a few rows (``take``), fold each row's optional ``input`` into its
instruction (``map``), split, and fine-tune a base model with a ``### Instruction`` /
``### Response`` prompt template and a LoRA adapter (``TrainHFFineTune``).
Offline stand-ins: see ``_offline.py`` (the Alpaca-style sample in ``data/alpaca_sample``).

Run: ``python examples/datadreamer/instruction_tuning.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_model, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import HFHubDataSource
from dreamer_lab.trainers import TrainHFFineTune

CHAT_PROMPT_TEMPLATE = "### Instruction:\n{{prompt}}\n\n### Response:\n"


def with_input(row: dict[str, Any]) -> dict[str, Any]:
    """The row's instruction, preceded by its ``input`` when it has one."""
    instruction = row["instruction"]
    if row["input"]:
        instruction = f"Input: {row['input']}\n\n{instruction}"
    return {"instruction": instruction, "output": row["output"]}


def main(
    workspace: str,
    model_name: str | None = None,
    dataset: str | None = None,
    rows: int = 12,
    epochs: int = 1,
    batch_size: int = 4,
) -> dict[str, Any]:
    """Instruction-tune ``model_name`` on ``rows`` rows of ``dataset``; returns the steps
    and the trainer by name."""
    from peft import LoraConfig

    with DataDreamer(workspace):
        source = HFHubDataSource(
            "Get Alpaca Instruction-Tuning Dataset",
            dataset or sample("alpaca_sample"),
            split="train",
        )
        subset = source.take(rows)
        formatted = subset.map(with_input, remove_columns=["input"], lazy=False)
        splits = formatted.splits(train_size=0.75, validation_size=0.25)
        trainer = TrainHFFineTune(
            "Instruction-Tune the Base Model",
            model_name=stand_in_model(model_name),
            chat_prompt_template=CHAT_PROMPT_TEMPLATE,
            peft_config=LoraConfig(),
        )
        trainer.train(
            train_input=splits["train"].output["instruction"],
            train_output=splits["train"].output["output"],
            validation_input=splits["validation"].output["instruction"],
            validation_output=splits["validation"].output["output"],
            epochs=epochs,
            batch_size=batch_size,
            gradient_accumulation_steps=2,
        )
    return {"source": source, "subset": subset, "formatted": formatted, **splits,
            "trainer": trainer}  # fmt: skip


if __name__ == "__main__":
    print("adapter:", main(workspace_arg("./instruction_tuning_workspace"))["trainer"].model_path)
