"""Guide: augmenting an existing dataset (question decompositions).

Follows DataDreamer's "Augmenting an Existing Dataset": take multi-step questions from a Hub
dataset (``HFHubDataSource`` with a config -> ``select_columns`` -> ``take``), have an LLM
write the intermediate questions needed to answer each (``ProcessWithPrompt``), keep the
question and decomposition columns, and optionally publish them.
Offline stand-ins: see ``_offline.py`` (``data/multistep_questions_sample``).

Run: ``python examples/datadreamer/dataset_augmentation.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_llm, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import HFHubDataSource, ProcessWithPrompt

DECOMPOSE = (
    "This question takes several steps to answer. List, numbered, the simpler questions "
    "one would answer on the way. Reply with the list only."
)


def main(
    workspace: str,
    llm: Any = None,
    dataset: str | None = None,
    rows: int = 6,
    max_new_tokens: int = 64,
    hub_repo: str | None = None,
    hub_token: str | None = None,
) -> dict[str, Any]:
    """Decompose ``rows`` questions; returns the steps by name."""
    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        questions = HFHubDataSource(
            "Get Multi-Step Questions",
            dataset or sample("multistep_questions_sample"),
            config_name="distractor",
            split="train",
        ).select_columns(["question"])
        subset = questions.take(rows)
        decomposed = ProcessWithPrompt(
            "Generate Decompositions",
            inputs={"inputs": subset.output["question"]},
            args={"llm": llm, "instruction": DECOMPOSE, "max_new_tokens": max_new_tokens},
            outputs={"inputs": "questions", "generations": "decompositions"},
        )
        augmented = decomposed.select_columns(["questions", "decompositions"])
        if hub_repo is not None:
            augmented.publish_to_hf_hub(hub_repo, token=hub_token)
    return {"questions": questions, "subset": subset, "decomposed": decomposed,
            "augmented": augmented}  # fmt: skip


if __name__ == "__main__":
    print(main(workspace_arg("./dataset_augmentation_workspace"))["augmented"].output.dataset)
