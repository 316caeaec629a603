"""Tokenizer arguments of the API backends count tokens (DataDreamer's parameters, not no-ops)."""

from __future__ import annotations

import warnings

import pytest
from tiny_models import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    build_tokenizer().save_pretrained(folder)
    return folder


TEXT = "the quick brown fox jumps over the lazy dog " * 3


def test_together_embedder_counts_with_the_named_tokenizer(tokenizer_folder, workspace):
    from transformers import AutoTokenizer

    from dreamer_lab.embedders import TogetherEmbedder

    exact = len(
        AutoTokenizer.from_pretrained(tokenizer_folder).encode(TEXT, add_special_tokens=False)
    )
    emb = TogetherEmbedder(
        "BAAI/bge-base-en-v1.5",
        base_url="http://127.0.0.1:9/v1",
        tokenizer_model_name=str(tokenizer_folder),
    )
    assert emb.count_tokens(TEXT) == exact != -(-len(TEXT.encode()) // 4)


def test_together_embedder_warns_once_about_estimates_unless_told_not_to(workspace):
    from dreamer_lab.embedders import TogetherEmbedder

    emb = TogetherEmbedder("some/unknown-model", base_url="http://127.0.0.1:9/v1")
    with pytest.warns(UserWarning, match="estimates"):
        emb.count_tokens(TEXT)
    with pytest.warns(UserWarning, match="input limit is unknown"):
        assert emb.model_max_length is None
    quiet = TogetherEmbedder(
        "some/unknown-model",
        base_url="http://127.0.0.1:9/v1",
        warn_tokenizer_model_name=False,
        warn_max_context_length=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet.count_tokens(TEXT) == -(-len(TEXT.encode()) // 4)
        assert quiet.model_max_length is None


def test_hf_api_endpoint_counts_with_a_local_tokenizer(tokenizer_folder, workspace):
    from transformers import AutoTokenizer

    from dreamer_lab.llms import HFAPIEndpoint

    exact = len(
        AutoTokenizer.from_pretrained(tokenizer_folder).encode(TEXT, add_special_tokens=False)
    )
    local = HFAPIEndpoint("http://127.0.0.1:9/", str(tokenizer_folder))
    assert local.count_tokens(TEXT) == exact
    remote = HFAPIEndpoint("http://127.0.0.1:9/", "not-cached/model-name")
    assert remote.count_tokens(TEXT) != exact  # no download: an estimate
