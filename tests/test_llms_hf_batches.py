"""HFTransformers batches prompts by token count and tokenizes each prompt once per run:
what makes ``run()`` cost what plain ``model.generate`` costs on the same batches."""

from __future__ import annotations

import pytest
from tiny_models import build_tiny_llama

# Character length and token count disagree here: "zqxj..." splits into many tokens.
PROMPTS = [
    "the cat and the dog",
    "zqxjzqxj",
    "a",
    "the sea is water and the city is a river",
    "qzqzqzqzqzqzqz",
    "yes it is",
    "one",
    "xkcdxkcdxkcdxkcdxkcd",
]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama") / "model")


def _spy(llm, monkeypatch):
    """Record each generate() call's inputs and how many texts the tokenizer encodes."""
    calls, encoded = [], []
    model, tok = llm.model, llm.tokenizer
    real_generate, real_call = model.generate, type(tok).__call__

    def generate(**kw):
        calls.append({k: v.clone() for k, v in kw.items() if k in ("input_ids", "attention_mask")})
        return real_generate(**kw)

    def call(self, text=None, *a, **kw):
        encoded.extend([text] if isinstance(text, str) else list(text))
        return real_call(self, text, *a, **kw)

    monkeypatch.setattr(model, "generate", generate)
    monkeypatch.setattr(type(tok), "__call__", call)
    return calls, encoded


def test_batches_are_token_sorted_tokenized_once_and_padded_as_the_tokenizer_pads(
    workspace, tiny_llama, monkeypatch
):
    from dreamer_lab.llms import HFTransformers

    llm = HFTransformers(str(tiny_llama))
    tok = llm.tokenizer
    texts = {p: llm._full_prompt(p) for p in PROMPTS}
    tokens = {p: len(tok(texts[p], add_special_tokens=False)["input_ids"]) for p in PROMPTS}
    by_tokens = sorted(PROMPTS, key=lambda p: -tokens[p])
    by_chars = sorted(PROMPTS, key=lambda p: -len(texts[p]))
    assert [set(by_tokens[i : i + 3]) for i in (0, 3)] != [set(by_chars[i : i + 3]) for i in (0, 3)]

    calls, encoded = _spy(llm, monkeypatch)
    out = llm.run(PROMPTS, max_new_tokens=4, temperature=0, batch_size=3, verbose=False)
    # Each prompt encoded once (the length check, the order and the batch share it).
    assert sorted(encoded) == sorted(texts.values())

    # Longest first by tokens, the padding the tokenizer itself makes (left, mask).
    batches = [by_tokens[i : i + 3] for i in range(0, len(PROMPTS), 3)]
    assert len(calls) == len(batches)
    for got, batch in zip(calls, batches, strict=True):
        want = tok(
            [texts[p] for p in batch], return_tensors="pt", padding=True, add_special_tokens=False
        )
        assert got["input_ids"].tolist() == want["input_ids"].tolist()
        assert got["attention_mask"].tolist() == want["attention_mask"].tolist()
    # The order is restored, and the run keeps no token ids once it is done.
    one_by_one = [
        llm.run([p], max_new_tokens=4, temperature=0, force=True, verbose=False)[0] for p in PROMPTS
    ]
    assert out == one_by_one
    assert not llm._token_memo and not llm._rendered


def test_a_prompt_over_the_memo_budget_is_tokenized_on_its_own(workspace, tiny_llama, monkeypatch):
    """Beyond the memo's budget the run still checks, orders and pads every prompt."""
    import dreamer_lab.llms.hf_generation as hf_generation
    from dreamer_lab.llms import HFTransformers

    monkeypatch.setattr(hf_generation, "TOKEN_MEMO_BUDGET", 1)
    monkeypatch.setattr(hf_generation, "_CHECK_CHUNK", 2)
    llm = HFTransformers(str(tiny_llama))
    out = llm.run(PROMPTS, max_new_tokens=4, temperature=0, batch_size=3, verbose=False)
    monkeypatch.undo()
    fresh = HFTransformers(str(tiny_llama))
    assert out == fresh.run(
        PROMPTS, max_new_tokens=4, temperature=0, batch_size=3, force=True, verbose=False
    )
