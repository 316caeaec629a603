"""LLM backends (DataDreamer's names). Importing this package is cheap: backends (and
torch, transformers, openai) load on first use.

Layer: rank 1 (model backends). May import core, errors and the other rank-1 packages'
public modules; never steps, trainers, cards, report or the UIs.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "LLM": "dreamer_lab.llms.base",
    "AUTO": "dreamer_lab.llms.base",
    "LLMError": "dreamer_lab.llms.base",
    "UnknownModelError": "dreamer_lab.llms.base",
    "PromptTooLongError": "dreamer_lab.llms.base",
    "PromptWithSeed": "dreamer_lab.llms.base",
    "DryRunReport": "dreamer_lab.llms.base",
    "Usage": "dreamer_lab.llms.base",
    "estimate_tokens": "dreamer_lab.llms.base",
    "HFTransformers": "dreamer_lab.llms.hf_transformers",
    "OpenAI": "dreamer_lab.llms.openai",
    "CostBudgetExceededError": "dreamer_lab.llms.openai",
    "BatchPendingError": "dreamer_lab.llms.openai",
    "register_price": "dreamer_lab.llms.openai",
    "PRICES": "dreamer_lab.llms.openai",
    "ParallelLLM": "dreamer_lab.llms.parallel",
    "VLLM": "dreamer_lab.llms.vllm",
    "OpenAICompatible": "dreamer_lab.llms.openai_compatible",
    "Together": "dreamer_lab.llms.together",
    "MistralAI": "dreamer_lab.llms.mistral_ai",
    "HFAPIEndpoint": "dreamer_lab.llms.hf_api_endpoint",
    "OpenAIAssistant": "dreamer_lab.llms.openai_assistant",
    "from_spec": "dreamer_lab.llms.spec",
    "Anthropic": "dreamer_lab.llms.anthropic",
    "Cohere": "dreamer_lab.llms.cohere",
    "GoogleAIStudio": "dreamer_lab.llms.google",
    "VertexAI": "dreamer_lab.llms.google",
    "Bedrock": "dreamer_lab.llms.bedrock",
    "AI21": "dreamer_lab.llms.ai21",
    "CTransformers": "dreamer_lab.llms.retired",
    "Petals": "dreamer_lab.llms.retired",
    "embedded_model_path": "dreamer_lab.llms.embedded",
    "StructuredOutputError": "dreamer_lab.llms.structured",
}

__all__ = [*_LAZY, "default_llm"]


def default_llm() -> Any:
    """The embedded default model (SmolLM2-135M-Instruct, offline, no key)."""
    from dreamer_lab.llms.hf_transformers import HFTransformers

    return HFTransformers("smollm2")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dreamer_lab.llms' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
