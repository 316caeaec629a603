"""What README's DataDreamer compatibility sentence claims, checked name by name.

``UPSTREAM`` is DataDreamer 0.46's public API (the ``__all__`` of each of its modules,
from its API reference). Every name must either import from the same path under
``dreamer_lab`` or be listed as not yet provided in docs/datadreamer_compat.md, so the
document (and the README sentence that links it) says exactly what holds.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

UPSTREAM: dict[str, list[str]] = {
    "": ["DataDreamer"],
    "steps": [
        "Step",
        "DataSource",
        "HFHubDataSource",
        "HFDatasetDataSource",
        "JSONDataSource",
        "CSVDataSource",
        "TextDataSource",
        "Prompt",
        "RAGPrompt",
        "ProcessWithPrompt",
        "FewShotPrompt",
        "FewShotPromptWithRetrieval",
        "DataFromPrompt",
        "DataFromAttributedPrompt",
        "FilterWithPrompt",
        "RankWithPrompt",
        "JudgePairsWithPrompt",
        "JudgeGenerationPairsWithPrompt",
        "RunTaskModel",
        "Embed",
        "CosineSimilarity",
        "Retrieve",
        "concat",
        "zipped",
        "wait",
        "concurrent",
        "DataCardType",
        "LazyRows",
        "LazyRowBatches",
        "SuperStep",
    ],
    "llms": [
        "LLM",
        "OpenAI",
        "OpenAIAssistant",
        "HFTransformers",
        "CTransformers",
        "VLLM",
        "Petals",
        "HFAPIEndpoint",
        "Together",
        "MistralAI",
        "Anthropic",
        "Cohere",
        "AI21",
        "Bedrock",
        "GoogleAIStudio",
        "VertexAI",
        "ParallelLLM",
    ],
    "embedders": [
        "Embedder",
        "OpenAIEmbedder",
        "SentenceTransformersEmbedder",
        "TogetherEmbedder",
        "ParallelEmbedder",
    ],
    "retrievers": ["Retriever", "EmbeddingRetriever", "ParallelRetriever"],
    "task_models": ["TaskModel", "HFClassificationTaskModel", "ParallelTaskModel"],
    "trainers": [
        "Trainer",
        "TrainOpenAIFineTune",
        "TrainHFClassifier",
        "TrainHFFineTune",
        "TrainSentenceTransformer",
        "TrainHFDPO",
        "TrainHFRewardModel",
        "TrainHFPPO",
        "TrainSetFitClassifier",
    ],
    "datasets": [
        "OutputDataset",
        "OutputDatasetColumn",
        "OutputIterableDataset",
        "OutputIterableDatasetColumn",
    ],
    "errors": ["StepOutputError", "StepOutputTypeError"],
}

DOC = Path(__file__).resolve().parents[1] / "docs" / "datadreamer_compat.md"


def _missing() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for sub, names in UPSTREAM.items():
        path = "dreamer_lab" + (f".{sub}" if sub else "")
        try:
            module = importlib.import_module(path)
        except ImportError:
            out[sub] = set(names)
            continue
        out[sub] = {n for n in names if not hasattr(module, n)}
    return out


def _documented_missing() -> dict[str, set[str]]:
    """The doc's "Not provided yet" table: one row per module, names in backticks."""
    text = DOC.read_text()
    section = text.split("## Not provided yet", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(datadreamer(?:\.\w+)?)`\s*\|(.*)\|", line)
        if m:
            sub = m.group(1).partition(".")[2]
            out[sub] = set(re.findall(r"`(\w+)`", m.group(2)))
    return out


def test_every_upstream_name_imports_or_is_documented_as_missing() -> None:
    missing = {k: v for k, v in _missing().items() if v}
    assert missing == {k: v for k, v in _documented_missing().items() if v}, (
        "docs/datadreamer_compat.md's 'Not provided yet' table must list exactly the "
        "DataDreamer names that dreamer_lab lacks"
    )


def test_the_readme_counts_match() -> None:
    total = sum(len(v) for v in UPSTREAM.values())
    missing = sum(len(v) for v in _missing().values())
    readme = (DOC.parents[1] / "README.md").read_text()
    assert f"{total - missing} of DataDreamer 0.46's {total} public names" in readme
