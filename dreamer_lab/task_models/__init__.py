"""Task models (DataDreamer's names): non-generative models, every call request-cached.

Layer: rank 1 (model backends). May import core, errors and the other rank-1
packages' public modules; never steps, trainers, cards, report or the UIs.
"""

from dreamer_lab.task_models.hf_classification_task_model import HFClassificationTaskModel
from dreamer_lab.task_models.parallel_task_model import ParallelTaskModel
from dreamer_lab.task_models.task_model import CacheOnlyMissError, TaskModel

__all__ = ["TaskModel", "HFClassificationTaskModel", "CacheOnlyMissError", "ParallelTaskModel"]
