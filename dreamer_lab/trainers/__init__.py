"""Trainers (DataDreamer's names): fine-tuning, classification, preference alignment.

Names load on first use so ``import dreamer_lab.trainers`` stays cheap (no torch).

Layer: rank 2. May import core, errors, the backends, datadreamer and steps; never
cards, report or the UIs (publish_to_hf_hub gets the model card through core.hooks).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Trainer": "dreamer_lab.trainers.base",
    "ModelCardType": "dreamer_lab.trainers.base",
    "TrainHFFineTune": "dreamer_lab.trainers.train_hf_finetune",
    "TrainHFClassifier": "dreamer_lab.trainers.train_hf_classifier",
    "TrainHFDPO": "dreamer_lab.trainers.train_hf_dpo",
    "TrainHFRewardModel": "dreamer_lab.trainers.train_hf_reward_model",
    "TrainSentenceTransformer": "dreamer_lab.trainers.train_sentence_transformer",
    "TrainSetFitClassifier": "dreamer_lab.trainers.train_setfit_classifier",
    "TrainHFGRPO": "dreamer_lab.trainers.train_hf_grpo",
    "TrainHFPPO": "dreamer_lab.trainers.train_hf_grpo",
    "TrainOpenAIFineTune": "dreamer_lab.trainers.train_openai_finetune",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dreamer_lab.trainers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
