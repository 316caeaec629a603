"""DataDreamer backends whose projects are gone: ``CTransformers`` and ``Petals``.

The names stay importable so that a DataDreamer script fails with a message that says
what to use instead, not with an ``ImportError``:

* ctransformers is archived (no release since 2023, no support for current GGUF files).
  Serve the GGUF file with llama.cpp's OpenAI-compatible server and use
  ``OpenAI(model_name, base_url="http://127.0.0.1:8080/v1", api_key="none")``, or load
  the Hugging Face model with ``HFTransformers(..., quantization_config=...)``.
* Petals' public swarm is offline and the project is no longer maintained. Use an API
  model, ``HFTransformers`` with a quantized model, or several OpenAI-compatible servers
  behind ``ParallelLLM``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from dreamer_lab.errors import RetiredBackendError  # noqa: F401

_LLAMA_CPP = (
    "serve the GGUF file with llama.cpp's OpenAI-compatible server (`llama-server -m "
    "model.gguf --port 8080`, or `python -m llama_cpp.server --model model.gguf`) and use "
    "OpenAI(model_name, base_url='http://127.0.0.1:8080/v1', api_key='none')"
)
_HF_QUANTIZED = (
    "HFTransformers(model_name, quantization_config=BitsAndBytesConfig(load_in_4bit=True))"
)


class CTransformers:
    """Retired: ctransformers is archived. Constructing one raises
    :class:`RetiredBackendError` naming the replacements (llama.cpp's OpenAI-compatible
    server through :class:`~dreamer_lab.llms.OpenAI`, or quantized ``HFTransformers``)."""

    def __init__(self, model_name: str = "", *args: Any, **kwargs: Any) -> NoReturn:
        raise RetiredBackendError(
            f"CTransformers({model_name!r}): the ctransformers project is archived (no "
            "release since 2023; it cannot load current GGUF files), so dreamer_lab does not "
            f"provide it. Instead, {_LLAMA_CPP}; or load the model locally with "
            f"{_HF_QUANTIZED}. See docs/providers.md."
        )


class Petals:
    """Retired: Petals' public swarm is offline. Constructing one raises
    :class:`RetiredBackendError` naming the replacements."""

    def __init__(self, model_name: str = "", *args: Any, **kwargs: Any) -> NoReturn:
        raise RetiredBackendError(
            f"Petals({model_name!r}): the Petals public swarm is offline and the project is "
            "no longer maintained, so dreamer_lab does not provide it. Instead, run the "
            f"model locally with {_HF_QUANTIZED}; or serve it with vLLM or llama.cpp and use "
            "OpenAI(model_name, base_url=...) (several servers: ParallelLLM); or use an API "
            "model. See docs/providers.md."
        )


__all__ = ["CTransformers", "Petals", "RetiredBackendError"]
