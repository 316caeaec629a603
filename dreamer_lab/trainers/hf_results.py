"""The trained model of a Hugging Face trainer: saving, loading, export, Hub upload, a card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from dreamer_lab.core.hooks import render_model_card
from dreamer_lab.core.hub import (
    CARD_OPTIONS,
    check_commit_options,
    check_repo_id,
    publish_folder,
)
from dreamer_lab.errors import StepInputError


class TrainedHFModel:
    """What :class:`~dreamer_lab.trainers.hf_base.TrainHFBase` offers once trained.

    Expects the trainer's ``model_path``, ``record``, ``name``, ``model_name``,
    ``peft_config``, ``auto_cls_name``, ``load_base_model()`` and ``_torch_dtype()``.
    """

    _model: Any = None
    model_path: Path
    record: dict[str, Any]
    name: str
    model_name: str
    peft_config: Any
    auto_cls_name: str

    def save_trained(self, hf_trainer: Any, folder: Path) -> None:
        """Save the trained model, its tokenizer and how to load it (``dreamer_lab.json``)."""
        folder.mkdir(parents=True, exist_ok=True)
        hf_trainer.save_model(str(folder))
        tok = getattr(hf_trainer, "processing_class", None)
        if tok is not None and not (folder / "tokenizer_config.json").is_file():
            tok.save_pretrained(str(folder))  # save_model() saves it in most trainers
        (folder / "dreamer_lab.json").write_text(
            json.dumps(
                {
                    "base_model": self.model_name,
                    "adapter": self.peft_config is not None,
                    "auto_cls": self.auto_cls_name,
                    "load_kwargs": getattr(self, "_load_kwargs", {}),
                }
            )
        )

    @property
    def is_adapter(self) -> bool:
        return (self.model_path / "adapter_config.json").is_file()

    @property
    def model(self) -> Any:
        """The trained model, loaded from ``model_path`` (adapters applied)."""
        if self._model is None:
            self._model = self._load_trained()
        return self._model

    @property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.model_path))

    def _load_trained(self) -> Any:
        import transformers

        auto_cls = getattr(transformers, self.auto_cls_name)
        if self.is_adapter:
            from peft import PeftModel

            meta = json.loads((self.model_path / "dreamer_lab.json").read_text())
            base = self.load_base_model(auto_cls, **meta.get("load_kwargs", {}))
            return PeftModel.from_pretrained(base, str(self.model_path))
        return auto_cls.from_pretrained(str(self.model_path), dtype=self._torch_dtype())

    def unload_model(self) -> None:
        self._model = None

    def export_to_disk(self, path: str | Path, adapter_only: bool = False) -> Any:
        """Write the trained model to ``path``: a merged full model, or only the adapter."""
        path = Path(path)
        if adapter_only and not self.is_adapter:
            raise StepInputError(
                f"{self._where()}: adapter_only=True, but this model was trained without a "
                "peft_config, so there is no adapter. Use adapter_only=False."
            )
        if adapter_only or not self.is_adapter:
            shutil.copytree(self.model_path, path, dirs_exist_ok=True)
            return self.model
        merged = self._load_trained().merge_and_unload()
        merged.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        return merged

    def publish_to_hf_hub(
        self,
        repo_id: str,
        branch: str | None = None,
        private: bool = False,
        token: str | None = None,
        adapter_only: bool = False,
        is_synthetic: bool = True,
        **kwargs: Any,
    ) -> str:
        """Upload the trained model and its model card (``dreamer_lab.cards.model_card``:
        lineage, metrics, licenses, citations) to the Hub model ``repo_id``; returns its URL.

        Repository, branch, token and unchanged files are handled as in a step's
        ``publish_to_hf_hub`` (:func:`dreamer_lab.core.hub.publish_folder`): one commit,
        nothing re-uploaded that the Hub already holds. ``intended_use``/``limitations``
        fill the card's editable sections (a dreamer_lab addition). Other keyword arguments
        (``commit_message``, ``commit_description``, ``create_pr``, ``parent_commit``) go to
        ``HfApi.create_commit``.
        """
        import tempfile

        where = f"publish_to_hf_hub on trainer {self.name!r}"
        check_repo_id(repo_id, where)
        card_options = {k: kwargs.pop(k) for k in CARD_OPTIONS if k in kwargs}
        options = check_commit_options(kwargs, where)
        with tempfile.TemporaryDirectory(prefix="dreamer_lab-publish-") as tmp:
            self.export_to_disk(tmp, adapter_only=adapter_only)
            # The cards layer renders the card; trainers sit below it, so they call it through
            # core.hooks (registered by dreamer_lab/__init__.py), never by importing cards.
            readme = render_model_card(self, is_synthetic, **card_options)
            (Path(tmp) / "README.md").write_text(readme, encoding="utf-8")
            return publish_folder(
                tmp,
                repo_id,
                repo_type="model",
                branch=branch,
                private=private,
                token=token,
                **options,
            )
