"""Compatibility module: the commercial providers through litellm, under their old path.

The code lives in :mod:`dreamer_lab.llms.litellm_base` (the shared :class:`LiteLLM` base),
:mod:`~dreamer_lab.llms.litellm_errors` (reading failures) and one module per provider:
:mod:`~dreamer_lab.llms.anthropic`, :mod:`~dreamer_lab.llms.cohere`,
:mod:`~dreamer_lab.llms.google` (``GoogleAIStudio``, ``VertexAI``),
:mod:`~dreamer_lab.llms.bedrock` and :mod:`~dreamer_lab.llms.ai21`.
``from dreamer_lab.llms.litellm_llms import Anthropic`` (and the rest) keeps working, and
pickles that name this module still load. Importing it does not import litellm.
"""

from __future__ import annotations

import importlib
from typing import Any

from dreamer_lab.llms.ai21 import AI21
from dreamer_lab.llms.anthropic import Anthropic
from dreamer_lab.llms.bedrock import Bedrock
from dreamer_lab.llms.cohere import Cohere
from dreamer_lab.llms.google import GoogleAIStudio, VertexAI
from dreamer_lab.llms.litellm_base import LiteLLM, load_litellm

_MOVED_TO = ("dreamer_lab.llms.litellm_base", "dreamer_lab.llms.litellm_errors")


def __getattr__(name: str) -> Any:
    # The old module's private helpers, read from where they live now (e.g. _LITELLM).
    for module in _MOVED_TO:
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AI21",
    "Anthropic",
    "Bedrock",
    "Cohere",
    "GoogleAIStudio",
    "LiteLLM",
    "VertexAI",
    "load_litellm",
]
