"""What an LLM run used or would use: :class:`Usage` (requests, tokens, cost),
:class:`DryRunReport` and the offline :func:`estimate_tokens`. Re-exported by
:mod:`dreamer_lab.llms.base`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    """Requests, tokens and cost of a ``run()`` (cached requests cost nothing again)."""

    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    retries: int = 0
    estimated_tokens: bool = False

    def add(self, u: dict[str, Any]) -> None:
        self.prompt_tokens += int(u.get("prompt_tokens") or 0)
        self.completion_tokens += int(u.get("completion_tokens") or 0)
        if u.get("estimated"):
            self.estimated_tokens = True
        c = u.get("cost")
        self.cost = None if (c is None or self.cost is None) else self.cost + c

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DryRunReport:
    """What a run would do: the first rendered prompts and token/cost estimates."""

    model: str
    num_prompts: int
    num_cached: int
    first_prompts: list[str]
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        cost = "unknown (no price for this model)" if self.cost is None else f"${self.cost:.4f}"
        lines = [
            f"Dry run for {self.model}: {self.num_prompts} prompts "
            f"({self.num_cached} already cached, {self.num_prompts - self.num_cached} to send)",
            f"Estimated tokens to send: {self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion; estimated cost: {cost}",
        ]
        lines += [f"Note: {n}" for n in self.notes]
        for i, p in enumerate(self.first_prompts):
            lines.append(f"--- prompt {i} ---\n{p}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


def estimate_tokens(text: str) -> int:
    """Offline token estimate for English-like text (about 4 characters per token, and
    at least 4/3 of the word count); used only when no tokenizer or server count exists."""
    if not text:
        return 0
    return max(1, math.ceil(max(len(text) / 4, len(text.split()) * 4 / 3)))
