"""Every BibTeX entry dreamer_lab cites, and the well-known upstream models' facts.

Each citation is defined once, here, at the lowest layer (rank 0: core, standard library
only), so that backends, steps, trainers and cards (which parses them, ``cards.bibtex``)
all cite the same text. Cards cite every model that made the data or the weights. Steps
and trainers record a model by the name they were given; a local folder (a package's copy
of a Hub model, the converted embedded model) is recognized by its ``README.md`` title or
``SOURCE.txt``, so its card still names and cites the original (:func:`hub_name`).
"""

from __future__ import annotations

import re
from pathlib import Path

DATADREAMER_CITATION = """@inproceedings{patel-etal-2024-datadreamer,
  title = {DataDreamer: A Tool for Synthetic Data Generation and Reproducible LLM Workflows},
  author = {Patel, Ajay and Raffel, Colin and Callison-Burch, Chris},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)},
  year = {2024},
  url = {https://aclanthology.org/2024.acl-long.208},
}"""

# Libraries and methods
HF_TRANSFORMERS_CITATION = """@inproceedings{wolf-etal-2020-transformers,
  title = "Transformers: State-of-the-Art Natural Language Processing",
  author = "Wolf, Thomas and Debut, Lysandre and Sanh, Victor and others",
  booktitle = "Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing: System Demonstrations",
  year = "2020",
  publisher = "Association for Computational Linguistics",
  url = "https://aclanthology.org/2020.emnlp-demos.6",
}"""

SENTENCE_TRANSFORMERS_CITATION = """@inproceedings{reimers-2019-sentence-bert,
  title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
  author = "Reimers, Nils and Gurevych, Iryna",
  booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
  year = "2019",
  publisher = "Association for Computational Linguistics",
  url = "https://arxiv.org/abs/1908.10084",
}"""

PEFT_CITATION = """@Misc{peft,
  title = {PEFT: State-of-the-art Parameter-Efficient Fine-Tuning methods},
  author = {Sourab Mangrulkar and Sylvain Gugger and Lysandre Debut and Younes Belkada and Sayak Paul and Benjamin Bossan},
  howpublished = {\\url{https://github.com/huggingface/peft}},
  year = {2022}
}"""

LORA_CITATION = (
    "@inproceedings{hu2022lora, title={LoRA: Low-Rank Adaptation of Large Language Models},"
    " author={Hu, Edward J. and others}, booktitle={ICLR}, year={2022}}"
)

TRL_CITATION = (
    "@misc{vonwerra2022trl, title={TRL: Transformer Reinforcement Learning}, author={von "
    "Werra, Leandro and others}, howpublished={\\url{https://github.com/huggingface/trl}},"
    " year={2020}}"
)

DPO_CITATION = (
    "@inproceedings{rafailov2023direct, title={Direct Preference Optimization: Your Language"
    " Model is Secretly a Reward Model}, author={Rafailov, Rafael and others}, "
    "booktitle={NeurIPS}, year={2023}}"
)

GRPO_CITATION = (
    "@article{shao2024deepseekmath, title={DeepSeekMath: Pushing the Limits of Mathematical "
    "Reasoning in Open Language Models}, author={Shao, Zhihong and others}, "
    "journal={arXiv:2402.03300}, year={2024}}"
)

SETFIT_CITATION = (
    "@misc{tunstall2022efficient, title={Efficient Few-Shot Learning Without Prompts}, "
    "author={Tunstall, Lewis and Reimers, Nils and Jo, Unso Eun Seo and Bates, Luke and Korat, "
    "Daniel and Wasserblat, Moshe and Pereg, Oren}, doi={10.48550/ARXIV.2209.11055}, "
    "year={2022}}"
)

VLLM_CITATION = """@inproceedings{kwon2023efficient,
  title = {Efficient Memory Management for Large Language Model Serving with
    PagedAttention},
  author = {Kwon, Woosuk and Li, Zhuohan and Zhuang, Siyuan and Sheng, Ying and Zheng, Lianmin
    and Yu, Cody Hao and Gonzalez, Joseph E. and Zhang, Hao and Stoica, Ion},
  booktitle = {Proceedings of the ACM SIGOPS 29th Symposium on Operating Systems Principles},
  year = {2023}
}"""

MISTRAL_CITATION = """@article{jiang2023mistral,
  title = {Mistral 7B},
  author = {Jiang, Albert Q. and Sablayrolles, Alexandre and Mensch, Arthur and
    Bamford, Chris and Chaplot, Devendra Singh and de las Casas, Diego and Bressand, Florian
    and Lengyel, Gianna and Lample, Guillaume and Saulnier, Lucile and others},
  journal = {arXiv preprint arXiv:2310.06825},
  year = {2023}
}"""

LLM_JUDGE_CITATION = (
    "@article{Zheng2023JudgingLW,\n  title={Judging LLM-as-a-judge with MT-Bench and Chatbot "
    "Arena},\n  author={Lianmin Zheng and others},\n  journal={ArXiv},\n  year={2023},\n"
    "  volume={abs/2306.05685}\n}"
)

NEAREST_NEIGHBOR_CITATION = (
    "@inproceedings{shi-etal-2022-nearest,\n  title={Nearest Neighbor Zero-Shot Inference},"
    "\n  author={Shi, Weijia and Michael, Julian and Gururangan, Suchin and Zettlemoyer, "
    "Luke},\n  booktitle={Proceedings of the 2022 Conference on Empirical Methods in Natural "
    "Language Processing},\n  year={2022},\n  url={https://aclanthology.org/2022.emnlp-main.214}"
    "\n}"
)

REALM_CITATION = (
    "@article{Guu2020REALMRL,\n  title={REALM: Retrieval-Augmented Language Model "
    "Pre-Training},\n  author={Kelvin Guu and Kenton Lee and Zora Tung and Panupong Pasupat "
    "and Ming-Wei Chang},\n  journal={ArXiv},\n  year={2020},\n  volume={abs/2002.08909}\n}"
)

# Well-known upstream models
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
