"""Token counts for API backends: a Hugging Face tokenizer when one is named, else an estimate.

API providers count tokens on their side; locally we only need counts to check context
limits and estimate cost before sending. DataDreamer loads the model's tokenizer from the
Hub for that; here a tokenizer is used when the user names one that loads (a local folder or
the Hugging Face cache: nothing is downloaded when ``HF_HUB_OFFLINE`` is set), and otherwise
the count is an estimate (UTF-8 bytes / 4), so a count never blocks a request.
"""

from __future__ import annotations

import warnings
from typing import Any


class TokenCounter:
    """Counts tokens with ``AutoTokenizer.from_pretrained(name, revision, trust_remote_code)``
    (loaded on first use), or estimates when ``name`` is None or does not load."""

    def __init__(
        self,
        name: str | None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        *,
        local_files_only: bool = False,
        quiet: bool = False,
    ):
        self.name = name
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.local_files_only = local_files_only
        self.quiet = quiet
        self._tokenizer: Any = None
        self._tried = False

    @property
    def exact(self) -> bool:
        """True when counts come from a real tokenizer."""
        return self._load() is not None

    def _load(self) -> Any:
        if self._tried or self.name is None:
            return self._tokenizer
        self._tried = True
        try:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.name,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
                local_files_only=self.local_files_only,
            )
        except Exception as e:  # noqa: BLE001 - any failure: fall back to the estimate
            if self.quiet:
                return None
            warnings.warn(
                f"Could not load the tokenizer {self.name!r} ({type(e).__name__}); token "
                "counts are estimates (UTF-8 bytes / 4). Pass a local tokenizer folder or a "
                "cached Hub name for exact counts.",
                stacklevel=3,
            )
        return self._tokenizer

    def count(self, text: str) -> int:
        tok = self._load()
        if tok is not None:
            return len(tok.encode(text, add_special_tokens=False))
        return -(-len(text.encode("utf-8")) // 4)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _tokenizer=None, _tried=False)
