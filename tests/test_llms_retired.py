"""``CTransformers`` and ``Petals`` stay importable and fail on construction, naming the
replacement."""

from __future__ import annotations

import pytest


def test_ctransformers_names_llama_cpp_and_hf_transformers():
    from dreamer_lab.llms import CTransformers, LLMError

    with pytest.raises(LLMError) as e:
        CTransformers("TheBloke/Llama-2-7B-GGUF", model_type="llama", gpu_layers=50)
    msg = str(e.value)
    assert "archived" in msg
    assert "llama.cpp" in msg and "OpenAI(model_name, base_url='http://127.0.0.1:8080/v1'" in msg
    assert "HFTransformers(" in msg and "quantization_config" in msg


def test_petals_names_the_replacements():
    from dreamer_lab.llms import LLMError, Petals

    with pytest.raises(LLMError) as e:
        Petals("petals-team/StableBeluga2", dtype="bfloat16")
    msg = str(e.value)
    assert "swarm is offline" in msg
    assert "HFTransformers(" in msg and "OpenAI(model_name, base_url=...)" in msg


def test_retired_names_are_datadreamer_import_compatible():
    from dreamer_lab.llms import CTransformers, Petals
    from dreamer_lab.llms.retired import RetiredBackendError

    assert CTransformers.__module__ == Petals.__module__ == "dreamer_lab.llms.retired"
    assert issubclass(RetiredBackendError, RuntimeError)
