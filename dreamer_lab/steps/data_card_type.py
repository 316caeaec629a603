"""``DataCardType``: the kinds of card fragments a step registers (DataDreamer's names)."""

from __future__ import annotations


class DataCardType:
    """Kinds of card fragments a step can register (DataDreamer's names)."""

    DATETIME = "Date & Time"
    MODEL_NAME = "Model Name"
    DATASET_NAME = "Dataset Name"
    LICENSE = "License Information"
    CITATION = "Citation Information"
    DATASET_CARD = "Dataset Card"
    MODEL_CARD = "Model Card"
    URL = "URL"
    PROMPT = "Prompt"
    PARAMETERS = "Parameters"
