"""Quick Tour: train an "abstract to tweet" model on fully synthetic data.

Follows DataDreamer's Quick Tour example: an LLM writes research-paper abstracts
(``DataFromPrompt``), then a tweet for each (``ProcessWithPrompt``); the pairs are split and a
LoRA adapter is fine-tuned on them (``TrainHFFineTune``); the dataset and the model can be
published to the Hub. Offline stand-ins: see ``_offline.py``.

Run: ``python examples/datadreamer/abstract_to_tweet.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import stand_in_llm, stand_in_model, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataFromPrompt, ProcessWithPrompt
from dreamer_lab.trainers import TrainHFFineTune

ABSTRACT_INSTRUCTION = (
    "Write the abstract of a research paper about natural language processing. "
    "Reply with the abstract only, without a title."
)
TWEET_INSTRUCTION = "Summarize the work described in this abstract as a short tweet."


def main(
    workspace: str,
    llm: Any = None,
    model_name: str | None = None,
    n: int = 8,
    max_new_tokens: int = 64,
    epochs: int = 1,
    batch_size: int = 4,
    dataset_repo: str | None = None,
    model_repo: str | None = None,
    hub_token: str | None = None,
) -> dict[str, Any]:
    """Generate ``n`` abstract/tweet pairs and fine-tune ``model_name`` on them.

    The dataset is published to the Hub dataset ``dataset_repo`` and the model to the Hub
    model ``model_repo`` when given (``hub_token``: else the saved login or ``HF_TOKEN``).
    Returns the steps and the trainer by name.
    """
    from peft import LoraConfig

    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        abstracts = DataFromPrompt(
            "Generate Research Paper Abstracts",
            args={
                "llm": llm,
                "n": n,
                "temperature": 1.2,
                "instruction": ABSTRACT_INSTRUCTION,
                "max_new_tokens": max_new_tokens,
            },
            outputs={"generations": "abstracts"},
        )
        pairs = ProcessWithPrompt(
            "Generate Tweets from Abstracts",
            inputs={"inputs": abstracts.output["abstracts"]},
            args={
                "llm": llm,
                "instruction": TWEET_INSTRUCTION,
                "top_p": 1.0,
                "max_new_tokens": max_new_tokens,
            },
            outputs={"inputs": "abstracts", "generations": "tweets"},
        )
        splits = pairs.splits(train_size=0.75, validation_size=0.25)
        trainer = TrainHFFineTune(
            "Train an Abstract => Tweet Model",
            model_name=stand_in_model(model_name),
            peft_config=LoraConfig(),
        )
        trainer.train(
            train_input=splits["train"].output["abstracts"],
            train_output=splits["train"].output["tweets"],
            validation_input=splits["validation"].output["abstracts"],
            validation_output=splits["validation"].output["tweets"],
            epochs=epochs,
            batch_size=batch_size,
        )
        if dataset_repo is not None:
            pairs.publish_to_hf_hub(
                dataset_repo, train_size=0.75, validation_size=0.25, token=hub_token
            )
        if model_repo is not None:
            trainer.publish_to_hf_hub(model_repo, token=hub_token)
    return {"abstracts": abstracts, "pairs": pairs, **splits, "trainer": trainer}


if __name__ == "__main__":
    result = main(workspace_arg("./abstract_to_tweet_workspace"))
    print(result["pairs"].output.dataset)
    print("model:", result["trainer"].model_path)
