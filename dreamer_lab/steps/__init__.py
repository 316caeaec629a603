"""The step catalog (DataDreamer's names).

Layer: rank 2. May import core, errors, the backends (llms, embedders, retrievers,
task_models), datadreamer and trainers' public modules; never cards, report or the UIs.
"""

from dreamer_lab.steps.data_sources import (
    CSVDataSource,
    DataSource,
    HFDatasetDataSource,
    HFHubDataSource,
    JSONDataSource,
    TextDataSource,
)
from dreamer_lab.steps.embedding_steps import CosineSimilarity, Embed, Retrieve, RunTaskModel
from dreamer_lab.steps.operations import concat, zipped
from dreamer_lab.steps.output import OutputColumn, OutputDataset
from dreamer_lab.steps.step import DataCardType, Step, wait

__all__ = [
    "Step",
    "DataCardType",
    "DataSource",
    "JSONDataSource",
    "CSVDataSource",
    "TextDataSource",
    "HFDatasetDataSource",
    "HFHubDataSource",
    "OutputDataset",
    "OutputColumn",
    "concat",
    "zipped",
    "wait",
]
__all__ += ["Embed", "Retrieve", "CosineSimilarity", "RunTaskModel"]

from dreamer_lab.steps.prompt_base import dry_run  # noqa: E402
from dreamer_lab.steps.prompt_steps import (  # noqa: E402
    DataFromAttributedPrompt,
    DataFromPrompt,
    FewShotPrompt,
    FilterWithPrompt,
    JudgeGenerationPairsWithPrompt,
    JudgePairsWithPrompt,
    ProcessWithPrompt,
    Prompt,
    RankWithPrompt,
)

__all__ += [
    "dry_run",
    "Prompt",
    "DataFromPrompt",
    "DataFromAttributedPrompt",
    "ProcessWithPrompt",
    "FilterWithPrompt",
    "RankWithPrompt",
    "FewShotPrompt",
    "JudgePairsWithPrompt",
    "JudgeGenerationPairsWithPrompt",
]

from dreamer_lab.steps.prompt_retrieval import FewShotPromptWithRetrieval, RAGPrompt  # noqa: E402

__all__ += ["FewShotPromptWithRetrieval", "RAGPrompt"]

from dreamer_lab.steps.concurrent import concurrent  # noqa: E402
from dreamer_lab.steps.super_step import SuperStep  # noqa: E402

__all__ += ["SuperStep", "concurrent"]

from dreamer_lab.steps.lazy import LazyRowBatches, LazyRows  # noqa: E402
from dreamer_lab.steps.output import (  # noqa: E402
    OutputDatasetColumn,
    OutputIterableDataset,
    OutputIterableDatasetColumn,
)

__all__ += [
    "LazyRows",
    "LazyRowBatches",
    "OutputDatasetColumn",
    "OutputIterableDataset",
    "OutputIterableDatasetColumn",
]
