"""Guide: generating training data with attributed prompts (movie reviews).

Follows DataDreamer's "Generating Training Data with Attributed Prompts": three prompts ask
an LLM for lists of attribute values (movie names, movie elements, reviewer styles)
(``DataSource`` -> ``Prompt``); ``DataFromAttributedPrompt`` then writes one review per
combination of attributes; the reviews are kept and shuffled, and can be published.
Offline stand-ins: see ``_offline.py``.

Run: ``python examples/datadreamer/attributed_prompts.py [workspace]``.
"""

from __future__ import annotations

import re
from typing import Any

from _offline import stand_in_llm, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.steps import DataFromAttributedPrompt, DataSource, Prompt

ATTRIBUTE_PROMPTS = [
    "List the titles of 5 films that were shown in cinemas, separated by commas.",
    "List 5 aspects of a film that a critic might write about, separated by commas.",
    "List 5 adjectives describing how a film critic might write, separated by commas.",
]
REVIEW_INSTRUCTION = (
    "Write a {review_style} review of the film {movie_name} in two or three sentences, "
    "focusing on its {movie_element}."
)


def attribute_values(generation: str) -> list[str]:
    """The values of a generated list, once each: split at commas (as the guide does) and
    at line breaks, without list numbering, bullets, quotes or a "Here are...:" line (small
    models answer with numbered lists)."""
    values = []
    for part in re.split(r"[,\n]", generation):
        value = re.sub(r"^\s*(?:\d+[.)]|[-•])\s*", "", re.sub(r"[\"*]", "", part)).strip()
        if value and not value.endswith(":") and not value.isdigit():
            values.append(value)
    return list(dict.fromkeys(values)) or [generation.strip()]


def main(
    workspace: str,
    llm: Any = None,
    n: int = 8,
    max_new_tokens: int = 64,
    hub_repo: str | None = None,
    hub_token: str | None = None,
) -> dict[str, Any]:
    """Generate ``n`` movie reviews from attributed prompts; returns the steps by name."""
    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        attribute_prompts = DataSource(
            "Attribute Generation Prompts", data={"prompts": ATTRIBUTE_PROMPTS}
        )
        attributes_step = Prompt(
            "Generate Attributes",
            inputs={"prompts": attribute_prompts.output["prompts"]},
            args={"llm": llm, "max_new_tokens": max_new_tokens},
        )
        attributes = attributes_step.output["generations"]
        generated = DataFromAttributedPrompt(
            "Generate Movie Reviews",
            args={
                "llm": llm,
                "n": n,
                "instruction": REVIEW_INSTRUCTION,
                "attributes": {
                    "movie_name": attribute_values(attributes[0]),
                    "movie_element": attribute_values(attributes[1]),
                    "review_style": attribute_values(attributes[2]),
                },
                "max_new_tokens": max_new_tokens,
            },
            outputs={"generations": "reviews"},
        )
        kept = generated.select_columns(["reviews"])
        reviews = kept.shuffle()
        if hub_repo is not None:
            reviews.publish_to_hf_hub(hub_repo, token=hub_token)
    return {
        "attribute_prompts": attribute_prompts,
        "attributes": attributes_step,
        "generated": generated,
        "kept": kept,
        "reviews": reviews,
    }


if __name__ == "__main__":
    print(main(workspace_arg("./attributed_prompts_workspace"))["reviews"].output.dataset)
