"""Guide: cleaning an existing dataset (keep only the sports articles).

Follows DataDreamer's "Cleaning an Existing Dataset": take news articles from a Hub dataset
(``HFHubDataSource`` with a config and split -> ``take``), ask an LLM whether each is about
sports and keep those it says yes to (``FilterWithPrompt``), and optionally publish them.
Offline stand-ins: see ``_offline.py`` (``data/news_sample``).

Run: ``python examples/datadreamer/dataset_cleaning.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_llm, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import FilterWithPrompt, HFHubDataSource

IS_SPORTS = "Is this article about sport? Answer 'Yes' or 'No'."


def main(
    workspace: str,
    llm: Any = None,
    dataset: str | None = None,
    rows: int = 8,
    hub_repo: str | None = None,
    hub_token: str | None = None,
) -> dict[str, Any]:
    """Keep the sports articles among ``rows`` articles; returns the steps by name."""
    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        articles = HFHubDataSource(
            "Get News Articles", dataset or sample("news_sample"), config_name="3.0.0",
            split="test",
        )  # fmt: skip
        subset = articles.take(rows)
        sports = FilterWithPrompt(
            "Filter to only keep sports articles",
            inputs={"inputs": subset.output["article"]},
            args={"llm": llm, "instruction": IS_SPORTS},
        )
        if hub_repo is not None:
            sports.publish_to_hf_hub(hub_repo, token=hub_token)
    return {"articles": articles, "subset": subset, "sports": sports}


if __name__ == "__main__":
    print(main(workspace_arg("./dataset_cleaning_workspace"))["sports"].output.dataset)
