"""Escaping untrusted text (model output, step names, prompts) for Markdown and HTML.

Everything a model or a user wrote is quoted through these helpers, so that it can never
open a heading, a YAML block, a table cell, a code fence or an HTML element in a card.
"""

from __future__ import annotations

import html
import re

from dreamer_lab.core.secrets import scrub_text

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:])")


def md_inline(text: object, limit: int | None = 300, *, quote: bool = True) -> str:
    """One line of untrusted text, safe inside Markdown prose, lists and table cells
    (``quote=False``: quotes stay as they are, for text that never goes into an attribute)."""
    s = scrub_text(str(text))
    s = " ".join(s.split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    # Markdown punctuation first, then HTML (<, >, & and quotes become entities).
    return html.escape(_MD_SPECIAL.sub(r"\\\1", s), quote=quote)


def md_code_inline(text: object) -> str:
    """Untrusted text shown as an inline code span (a fingerprint, a column name)."""
    s = " ".join(scrub_text(str(text)).split()) or " "
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def md_block(text: object, lang: str = "text") -> str:
    """Multi-line untrusted text as a fenced code block whose fence it cannot close."""
    s = scrub_text(str(text))
    longest = max((len(m) for m in re.findall(r"`+|~+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{s}\n{fence}"


def html_text(text: object) -> str:
    """Untrusted text for HTML element content or attribute values."""
    return html.escape(scrub_text(str(text)), quote=True)


def single_line(text: object, limit: int = 120) -> str:
    """Untrusted text reduced to one printable line (for labels and license ids)."""
    s = " ".join(scrub_text(str(text)).split())
    return s[:limit]
