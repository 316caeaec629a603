"""Task models (DataDreamer's names): non-generative models, every call request-cached."""

from dreamer_lab.task_models.hf_classification_task_model import HFClassificationTaskModel
from dreamer_lab.task_models.task_model import CacheOnlyMissError, TaskModel

__all__ = ["TaskModel", "HFClassificationTaskModel", "CacheOnlyMissError"]
