"""``LLM.format_prompt``'s fitting of in-context examples, as DataDreamer fits them."""

from __future__ import annotations

from collections.abc import Callable

from dreamer_lab.errors import PromptTooLongError


def fit_prompt(
    count: Callable[[str], int],
    limit: int | None,
    beg_instruction: str | None,
    examples: list[str],
    end_instruction: str | None,
    sep: str,
    least: int | None,
    most: int | None,
    where: str,
) -> str:
    """Join ``beg_instruction``, examples and ``end_instruction`` with ``sep``. Examples are
    taken in order; each one that still fits ``limit`` tokens is kept (one that does not
    is skipped), up to ``most``. Fewer than ``least`` (1 when examples are given and
    ``least`` is None) raises :class:`PromptTooLongError`."""
    most = len(examples) if most is None else most
    if least is None and examples:
        least = 1

    def build(chosen: list[str]) -> str:
        parts = [beg_instruction] if beg_instruction is not None else []
        parts += chosen
        if end_instruction is not None:
            parts.append(end_instruction)
        return sep.join(parts)

    # All fit (the common case): one count instead of one per example.
    fits_all = limit is None or count(build(examples[:most])) <= limit
    chosen: list[str] = examples[:most] if fits_all else []
    for example in [] if fits_all else examples:
        if len(chosen) >= most:
            break
        if limit is None or count(build([*chosen, example])) <= limit:
            chosen.append(example)
    if least is not None and len(chosen) < least:
        raise PromptTooLongError(
            f"Only {len(chosen)} in-context examples fit in {where}, fewer than "
            f"min_in_context_examples={least} (1 unless set). Shorten the examples, lower "
            "min_in_context_examples, or use a model with a longer context."
        )
    return build(chosen)
