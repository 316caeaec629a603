"""Well-known upstream models: their Hub names and the papers to cite for them.

Cards cite every model that made the data or the weights. Steps and trainers record a
model by the name they were given; a local folder (a package's copy of a Hub model, the
converted embedded model) is recognized by its ``README.md`` title or ``SOURCE.txt``, so
its card still names and cites the original.
"""

from __future__ import annotations

import re
from pathlib import Path

from dreamer_lab.task_models._hf import SENTENCE_TRANSFORMERS_CITATION

SMOLLM2_CITATION = """@misc{allal2025smollm2,
  title = {SmolLM2: When Smol Goes Big -- Data-Centric Training of a Small Language Model},
  author = {Ben Allal, Loubna and Lozhkov, Anton and Bakouch, Elie and others},
  year = {2025},
  eprint = {2502.02737},
  archiveprefix = {arXiv},
  url = {https://arxiv.org/abs/2502.02737},
}"""

MINILM_CITATION = """@inproceedings{wang2020minilm,
  title = {MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained Transformers},
  author = {Wang, Wenhui and Wei, Furu and Dong, Li and Bao, Hangbo and Yang, Nan and Zhou, Ming},
  booktitle = {Advances in Neural Information Processing Systems},
  year = {2020},
}"""

# Hub name -> BibTeX entries to cite when the model is used.
KNOWN_CITATIONS: dict[str, list[str]] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": [SMOLLM2_CITATION],
    "HuggingFaceTB/SmolLM2-135M": [SMOLLM2_CITATION],
    "sentence-transformers/all-MiniLM-L6-v2": [SENTENCE_TRANSFORMERS_CITATION, MINILM_CITATION],
}


def _folder_hub_name(folder: Path) -> str | None:
    """The Hub name of a local copy of a known model (README title or SOURCE.txt)."""
    texts = []
    for fname in ("SOURCE.txt", "README.md"):
        try:
            texts.append((folder / fname).read_text(encoding="utf-8", errors="ignore")[:20_000])
        except OSError:
            continue
    for hub in KNOWN_CITATIONS:
        short = hub.split("/", 1)[1]
        if texts and texts[0].startswith("Converted from") and hub in texts[0]:
            return hub
        if any(re.search(rf"^#\s+{re.escape(short)}\s*$", t, re.MULTILINE) for t in texts):
            return hub
    return None


def hub_name(name: str | None) -> str | None:
    """The Hub name of a known model given as a Hub name or a local folder (else None)."""
    if not name:
        return None
    for hub in KNOWN_CITATIONS:  # the Hub name, or its short form ("all-MiniLM-L6-v2")
        if str(name).lower() in (hub.lower(), hub.split("/", 1)[1].lower()):
            return hub
    try:
        path = Path(str(name)).expanduser()
        is_dir = path.is_dir()
    except (OSError, ValueError):
        return None
    return _folder_hub_name(path) if is_dir else None


def known_citations(names: list[str]) -> list[str]:
    """BibTeX entries for every known model among ``names`` (in order, no repeats)."""
    out: list[str] = []
    for n in names:
        for c in KNOWN_CITATIONS.get(hub_name(n) or "", []):
            if c not in out:
                out.append(c)
    return out
