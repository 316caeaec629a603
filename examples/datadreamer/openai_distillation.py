"""Guide: distilling a large OpenAI model into a smaller one with OpenAI fine-tuning.

Follows DataDreamer's "Distilling GPT-4 Capabilities to GPT-3.5": take questions from a Hub
dataset (``HFHubDataSource`` -> ``select_columns`` -> ``take``), have the teacher LLM answer
each like "explain it like I'm 5" (``ProcessWithPrompt``), split, and fine-tune the student
through the OpenAI fine-tuning API (``TrainOpenAIFineTune``).

Offline stand-ins (see ``_offline.py``): the teacher defaults to the embedded SmolLM2, the
questions to ``data/eli5_sample``; the fine-tuning API is OpenAI's, or any server that speaks
it (``base_url``). Run directly without ``OPENAI_BASE_URL``, the script serves the repository's
local test double of the fine-tuning API (``tests/openai_finetune_server.py``) on 127.0.0.1.

Run: ``python examples/datadreamer/openai_distillation.py [workspace]``.
"""

from __future__ import annotations

import os
from typing import Any

from _offline import sample, stand_in_llm, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import HFHubDataSource, ProcessWithPrompt
from dreamer_lab.trainers import TrainOpenAIFineTune

ELI5_INSTRUCTION = "Answer the question the way you would explain it to a five-year-old."


def main(
    workspace: str,
    llm: Any = None,
    dataset: str | None = None,
    student: str = "gpt-3.5-turbo",
    base_url: str | None = None,
    api_key: str | None = None,
    rows: int = 12,
    max_new_tokens: int = 64,
    epochs: int = 1,
    poll_interval: float = 30.0,
) -> dict[str, Any]:
    """Distil the teacher ``llm`` into ``student``; returns the steps and the trainer."""
    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        questions = HFHubDataSource(
            "Get ELI5 Questions", dataset or sample("eli5_sample"), split="train"
        ).select_columns(["title"])
        subset = questions.take(rows)
        answers = ProcessWithPrompt(
            "Generate Explanations",
            inputs={"inputs": subset.output["title"]},
            args={"llm": llm, "instruction": ELI5_INSTRUCTION, "top_p": 1.0,
                  "max_new_tokens": max_new_tokens},
            outputs={"inputs": "questions", "generations": "answers"},
        )  # fmt: skip
        # The fine-tuning API wants at least 10 training examples.
        splits = answers.splits(train_size=10, validation_size=len(answers.output) - 10)
        trainer = TrainOpenAIFineTune(
            "Distill capabilities to the student model",
            model_name=student,
            base_url=base_url,
            api_key=api_key,
            poll_interval=poll_interval,
        )
        trainer.train(
            train_input=splits["train"].output["questions"],
            train_output=splits["train"].output["answers"],
            validation_input=splits["validation"].output["questions"],
            validation_output=splits["validation"].output["answers"],
            epochs=epochs,
            batch_size=8,
        )
    return {"questions": questions, "subset": subset, "answers": answers, **splits,
            "trainer": trainer}  # fmt: skip


def _serve_test_double() -> Any:
    """Start the repository's local fine-tuning API double (tests/) on 127.0.0.1."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from openai_finetune_server import FakeFineTuneServer

    # It stops when idle; teacher generation on a busy CPU can take minutes before the upload.
    return FakeFineTuneServer(phases=(0.5, 0.5, 1.0), idle_timeout=3600).start()


if __name__ == "__main__":
    server = None
    if not os.environ.get("OPENAI_BASE_URL"):
        server = _serve_test_double()
        print("using the local fine-tuning API double at", server.base_url)
    opts = {"base_url": server.base_url, "api_key": server.api_key, "poll_interval": 0.5}
    result = main(workspace_arg("./openai_distillation_workspace"), **(opts if server else {}))
    print("fine-tuned model:", result["trainer"].fine_tuned_model)
