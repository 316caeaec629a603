"""Offline stand-ins shared by the DataDreamer workflow scripts in this folder.

DataDreamer's guides call GPT-4 (paid), load models and datasets from the Hugging Face Hub
(remote) and publish to the Hub. These scripts keep every step and trainer of the guides and
swap only what cannot run offline:

* the LLM defaults to the embedded SmolLM2-135M-Instruct (``HFTransformers("smollm2")``);
  pass ``llm=OpenAI("gpt-4")`` (or any LLM) to get the guide's model back;
* models to train default to the embedded SmolLM2 folder; pass ``model_name=`` for another;
* datasets default to small hand-written samples in ``data/`` that have the columns, configs
  and splits of the Hub datasets the guides load; pass ``dataset=`` with a Hub id to use it;
* publishing happens only when a Hub repo id is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


def sample(name: str) -> str:
    """The folder of the bundled sample dataset ``name`` (loadable by ``HFHubDataSource``)."""
    folder = DATA / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no sample dataset {name!r} in {DATA}")
    return str(folder)


def stand_in_llm(llm: Any = None) -> Any:
    """``llm``, or the embedded SmolLM2 in place of the guide's GPT-4."""
    if llm is not None:
        return llm
    from dreamer_lab.llms import HFTransformers

    return HFTransformers("smollm2")


def stand_in_model(model_name: str | None = None) -> str:
    """``model_name``, or the embedded SmolLM2 folder in place of the guide's Hub model."""
    if model_name is not None:
        return str(model_name)
    from dreamer_lab.llms import embedded_model_path

    return str(embedded_model_path())


def workspace_arg(default: str) -> str:
    """The workspace folder from the command line (``python script.py [folder]``)."""
    import sys

    return sys.argv[1] if len(sys.argv) > 1 else default
