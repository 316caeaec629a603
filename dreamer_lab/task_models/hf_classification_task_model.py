"""``HFClassificationTaskModel``: a local transformers sequence classifier."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any

from dreamer_lab.core.citations import HF_TRANSFORMERS_CITATION, PEFT_CITATION
from dreamer_lab.core.hf_source import load_error, resolve_model
from dreamer_lab.core.run_options import RunOptions
from dreamer_lab.task_models.task_model import DEFAULT_BATCH_SIZE, TaskModel


def torch_dtype(dtype: Any) -> Any:
    """``"float16"`` / ``torch.float16`` / ``None`` -> a torch dtype (or ``None``/``"auto"``)."""
    if dtype is None or dtype == "auto":
        return dtype
    import torch

    if isinstance(dtype, str):
        value = getattr(torch, dtype.replace("torch.", ""), None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"Unknown dtype {dtype!r}. Use e.g. 'float32', 'bfloat16'.")
        return value
    return dtype


class HFClassificationTaskModel(TaskModel):
    """A Hugging Face ``AutoModelForSequenceClassification`` as a task model.

    ``run(texts)`` returns one ``{label: probability}`` dict per text (softmax over the
    labels, or independent sigmoids for ``problem_type="multi_label_classification"``).

    Args:
        model_name: a local model folder or a Hugging Face Hub name.
        revision: Hub revision (commit, branch or tag).
        trust_remote_code: allow the model's own code from the Hub.
        device: e.g. ``"cpu"``, ``"cuda:0"``, ``0``.
        device_map: passed to ``from_pretrained`` (instead of ``device``).
        dtype: weights dtype (``"float32"``, ``"bfloat16"``, ...).
        adapter_name: a PEFT adapter (folder or Hub name) applied on top of the model.
        adapter_kwargs: keyword arguments for ``PeftModel.from_pretrained``.
        cache_folder_path: where the request cache lives (default: the workspace's).
        **kwargs: passed to ``from_pretrained``.
    """

    backend_name = "hf_classification"

    def __init__(
        self,
        model_name: str,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: Any = None,
        device_map: Any = None,
        dtype: Any = None,
        adapter_name: str | None = None,
        adapter_kwargs: dict[str, Any] | None = None,
        cache_folder_path: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(cache_folder_path=cache_folder_path)
        if adapter_kwargs is not None and adapter_name is None:
            raise ValueError("adapter_kwargs needs adapter_name: pass the adapter to load.")
        self.model_name = model_name
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.device = device
        self.device_map = device_map
        self.dtype = dtype
        self.adapter_name = adapter_name
        self.adapter_kwargs = adapter_kwargs or {}
        self.kwargs = kwargs
        self.source = resolve_model(model_name, revision)
        self.adapter_source = resolve_model(adapter_name) if adapter_name else None
        # Check the config now: an unknown or broken model fails here, before any step. A
        # local folder's config.json is read as JSON (no torch import: a cached run stays fast).
        if self.source.local is not None:
            try:
                json.loads((self.source.local / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise load_error("the classification model", model_name, e) from None
        else:
            _ = self.config
        self.__dreamer_fingerprint__()  # pin the identity to the weights as they are now

    @cached_property
    def config(self) -> Any:
        """The model's transformers config (loaded on first use)."""
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(
                self.source.load_from,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
            )
        except Exception as e:  # noqa: BLE001
            raise load_error("the classification model", self.model_name, e) from None

    def _identity(self) -> dict[str, Any]:
        return {
            "model": self.source.identity(),
            "adapter": self.adapter_source.identity(adapter=True) if self.adapter_source else None,
            "dtype": str(self.dtype),
            "trust_remote_code": self.trust_remote_code,
            "kwargs": self.kwargs,
        }

    # -- loading ---------------------------------------------------------------------
    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(
                self.source.load_from,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
            )
        except Exception as e:  # noqa: BLE001
            raise load_error("the tokenizer of", self.model_name, e) from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        return tok

    @cached_property
    def model(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        load_kwargs = dict(self.kwargs)
        if self.dtype is not None:
            load_kwargs["dtype"] = torch_dtype(self.dtype)
        if self.device_map is not None:
            load_kwargs["device_map"] = self.device_map
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                self.source.load_from,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
                **load_kwargs,
            )
        except Exception as e:  # noqa: BLE001
            raise load_error("the classification model", self.model_name, e) from None
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        if self.device is not None and self.device_map is None:
            model = model.to(self.device)
        if self.adapter_source is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(
                model, self.adapter_source.load_from, **self.adapter_kwargs
            )
        model.eval()
        return model

    # -- facts -----------------------------------------------------------------------
    @property
    def lineage_fingerprint(self) -> str | None:
        """The workspace entry this model was trained into, if any (a lineage parent)."""
        from dreamer_lab.core.store import entry_fingerprint_for

        return entry_fingerprint_for(self.source.local) if self.source.local is not None else None

    @property
    def labels(self) -> list[str]:
        """Label names in id order."""
        id2label = getattr(self.config, "id2label", None) or {}
        return [str(id2label[i]) for i in sorted(id2label)]

    @property
    def model_max_length(self) -> int | None:
        limits = []
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and tok_max < 1_000_000:
            limits.append(tok_max)
        pos = getattr(self.config, "max_position_embeddings", None)
        if isinstance(pos, int) and pos > 0:
            limits.append(pos)
        return min(limits) if limits else None

    def count_tokens(self, value: str) -> int:
        """Tokens in ``value`` (special tokens included)."""
        return self.count_tokens_many([value])[0]

    def count_tokens_many(self, values: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(values, add_special_tokens=True)["input_ids"]]

    @property
    def model_card(self) -> str | None:
        return self.source.model_card

    @property
    def license(self) -> str | None:
        return self.source.license

    @property
    def citation(self) -> list[str]:
        return [HF_TRANSFORMERS_CITATION] + ([PEFT_CITATION] if self.adapter_name else [])

    # -- running ---------------------------------------------------------------------
    def _classify(self, texts: list[str]) -> list[dict[str, float]]:
        import torch

        model = self.model
        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.model_max_length,
            return_tensors="pt",
        )
        device = next(model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = model(**enc).logits.float()
        if getattr(self.config, "problem_type", None) == "multi_label_classification":
            probs = torch.sigmoid(logits)
        else:
            probs = torch.softmax(logits, dim=-1)
        labels = self.labels or [f"LABEL_{i}" for i in range(probs.shape[-1])]
        return [dict(zip(labels, row, strict=True)) for row in probs.cpu().tolist()]

    def run(
        self,
        texts: Iterable[str],
        truncate: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_scheduler_buffer_size: int | None = None,
        adaptive_batch_size: bool = True,
        progress_interval: int | None = 60,
        force: bool = False,
        cache_only: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        total_num_texts: int | None = None,
        return_generator: bool = False,
        _step: Any = None,
        **kwargs: Any,
    ) -> list[dict[str, float]] | Iterator[dict[str, float]]:
        """Classify ``texts``: one ``{label: probability}`` dict per text, in order.

        Texts longer than the model's context raise a ``ValueError`` before any model
        call unless ``truncate=True``. Results come from the request cache when present.
        Batching, progress and logging options: as ``LLM.run``'s (see
        :mod:`dreamer_lab.core.run_options`; a batch that runs out of memory is halved
        unless ``adaptive_batch_size=False``); ``total_num_texts`` must match the number
        of texts.
        """
        if kwargs:
            raise TypeError(
                f"HFClassificationTaskModel.run() got unexpected argument(s) {sorted(kwargs)}."
            )
        options = RunOptions(
            batch_size,
            batch_scheduler_buffer_size,
            adaptive_batch_size,
            progress_interval,
            verbose,
            log_level,
        ).checked(f"{self!r}.run()")
        items = self._as_text_list(texts, total=total_num_texts)
        if not truncate:
            self._check_lengths(items, self.model_max_length)
        # Within the context window, truncate does not change a result: not in the key.
        results = self._run_cached(
            items,
            {"task": "text-classification"},
            self._classify,
            options=options,
            what="texts",
            sort_key=len,
            force=force,
            cache_only=cache_only,
            step=_step,
            on_out_of_memory=self._free_memory,
        )
        return self._maybe_generator(results, return_generator)


__all__ = ["HFClassificationTaskModel"]
