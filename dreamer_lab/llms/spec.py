"""``from_spec``: one string names a model on any provider, so a notebook parameter
(``dreamer-lab run notebook.ipynb -p llm=...``) can switch the whole workflow.

Grammar: ``[PROVIDER:]MODEL[@BASE_URL]``

* ``smollm2`` (or ``""``/``None``/``default``): the embedded SmolLM2-135M-Instruct.
* ``hf:NAME_OR_FOLDER``: :class:`HFTransformers` (a local folder also works without
  ``hf:``).
* ``openai:gpt-4o-mini``, ``openai:served-name@http://127.0.0.1:8000/v1``: :class:`OpenAI`
  (any OpenAI-compatible server: vLLM, llama.cpp, TGI ...).
* ``together:...``, ``mistral:...``, ``openai-assistant:...``, ``vllm:...`` (in-process
  engine), ``hf-endpoint:MODEL@URL`` (:class:`HFAPIEndpoint`; the URL is required).
* ``anthropic:``, ``cohere:``, ``gemini:`` (Google AI Studio), ``vertex:``,
  ``bedrock:``, ``ai21:``: the routing-library backends.

``@BASE_URL`` is split off only when it starts with ``http://`` or ``https://`` (model
names such as Vertex's ``claude-3-5-sonnet@20240620`` keep their ``@``); a provider
prefix is recognised only for the names above (``llama3:8b`` is a model name). API keys
never go in a spec: each backend reads its own environment variable. For an
OpenAI-compatible ``@BASE_URL`` with no key in the environment, the placeholder key
``"none"`` is sent (local servers need none). Keyword arguments of :func:`from_spec` go
to the backend's constructor.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from dreamer_lab.errors import StepInputError

# provider -> (class name in dreamer_lab.llms, environment variable of its key if it is an
# OpenAI-compatible backend that needs one)
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "hf": ("HFTransformers", None),
    "openai": ("OpenAI", "OPENAI_API_KEY"),
    "openai-assistant": ("OpenAIAssistant", "OPENAI_API_KEY"),
    "together": ("Together", "TOGETHER_API_KEY"),
    "mistral": ("MistralAI", "MISTRAL_API_KEY"),
    "vllm": ("VLLM", None),
    "hf-endpoint": ("HFAPIEndpoint", None),
    "anthropic": ("Anthropic", None),
    "cohere": ("Cohere", None),
    "gemini": ("GoogleAIStudio", None),
    "vertex": ("VertexAI", None),
    "bedrock": ("Bedrock", None),
    "ai21": ("AI21", None),
}
ALIASES = {
    "transformers": "hf",
    "huggingface": "hf",
    "mistralai": "mistral",
    "google": "gemini",
    "google-ai-studio": "gemini",
    "vertexai": "vertex",
    "tgi": "hf-endpoint",
}
_OPENAI_COMPATIBLE = {"openai", "openai-assistant", "together", "mistral"}


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """``(provider, model, base_url)`` of a spec string (see the module docstring)."""
    text = spec.strip()
    base_url = None
    for scheme in ("@http://", "@https://"):
        at = text.find(scheme)
        if at != -1:
            text, base_url = text[:at], text[at + 1 :]
            break
    provider = ""
    head, sep, rest = text.partition(":")
    if sep and (head.lower() in PROVIDERS or head.lower() in ALIASES):
        provider, text = ALIASES.get(head.lower(), head.lower()), rest
    return provider, text.strip(), base_url


def _known() -> str:
    return ", ".join(f"{p}:" for p in PROVIDERS)


def from_spec(spec: Any = None, **kwargs: Any) -> Any:
    """The LLM named by ``spec`` (``"[provider:]model[@base_url]"``); an LLM object is
    returned as it is, ``None`` gives the embedded default model."""
    from dreamer_lab.llms.base import LLM
    from dreamer_lab.llms.embedded import is_embedded_name

    if isinstance(spec, LLM):
        return spec
    if spec is not None and not isinstance(spec, str):
        raise StepInputError(
            f"from_spec: expected a string such as 'openai:gpt-4o-mini' or an LLM object, "
            f"got {type(spec).__name__}."
        )
    provider, model, base_url = parse_spec(spec or "")
    if not provider:
        if is_embedded_name(model or None) or Path(model).expanduser().is_dir():
            provider = "hf"
        else:
            raise StepInputError(
                f"from_spec({spec!r}): name the provider, e.g. 'openai:{model}' or "
                f"'hf:{model}'. Known providers: {_known()} (or 'smollm2' for the embedded "
                "model)."
            )
    if not model and provider != "hf":
        raise StepInputError(f"from_spec({spec!r}): no model name after '{provider}:'.")
    cls = _backend(provider, spec)
    if provider == "hf":
        if base_url:
            raise StepInputError(
                f"from_spec({spec!r}): 'hf:' runs the model locally and takes no URL; use "
                f"'hf-endpoint:{model}@{base_url}' for a TGI / Inference Endpoint server or "
                f"'openai:{model}@{base_url}' for an OpenAI-compatible one."
            )
        return cls(model or None, **kwargs)
    if provider == "hf-endpoint":
        if not base_url:
            raise StepInputError(
                f"from_spec({spec!r}): 'hf-endpoint:' needs the endpoint URL, e.g. "
                f"'hf-endpoint:{model}@https://xyz.endpoints.huggingface.cloud'."
            )
        return cls(base_url, model, **kwargs)
    if base_url:
        kwargs.setdefault("base_url", base_url)
        env = PROVIDERS[provider][1]
        if provider in _OPENAI_COMPATIBLE and env and not os.environ.get(env):
            kwargs.setdefault("api_key", "none")
    return cls(model, **kwargs)


def _backend(provider: str, spec: Any) -> Any:
    name = PROVIDERS[provider][0]
    llms = importlib.import_module("dreamer_lab.llms")
    try:
        return getattr(llms, name)
    except (AttributeError, ImportError) as e:
        raise StepInputError(
            f"from_spec({spec!r}): the '{provider}:' provider needs dreamer_lab.llms.{name}, "
            f"which cannot be loaded here ({type(e).__name__}: {e}). Update dreamer_lab or "
            "install its optional dependencies."
        ) from None


__all__ = ["ALIASES", "PROVIDERS", "from_spec", "parse_spec"]
