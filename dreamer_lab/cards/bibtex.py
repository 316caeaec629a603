"""Building and checking BibTeX entries for cards.

Steps and trainers register citations as free text; the cards keep those that are
well-formed BibTeX (re-printed in a canonical layout) and list the others as plain text.
The parser follows BibTeX's grammar for ``@type{key, field = {value} | "value" | number}``
with balanced braces; ``@comment``, ``@preamble`` and ``@string`` are not citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dreamer_lab.core import citations
from dreamer_lab.errors import BibTeXError  # noqa: F401

_TYPE = re.compile(r"@\s*([A-Za-z]+)\s*([{(])")
_KEY = re.compile(r"\s*([^\s,{}()\"#%'=~\\]+)\s*,")
_NAME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_\-:.+/]*)\s*=\s*")
_NUMBER = re.compile(r"\d+")
KNOWN_TYPES = {
    "article", "book", "booklet", "conference", "inbook", "incollection", "inproceedings",
    "manual", "mastersthesis", "misc", "phdthesis", "proceedings", "techreport", "unpublished",
    "online", "software", "dataset",
}  # fmt: skip
NON_ENTRIES = {"comment", "preamble", "string"}


@dataclass
class BibEntry:
    """One parsed entry: ``@type{key, name = {value}, ...}``."""

    type: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)

    def to_bibtex(self) -> str:
        """Canonical layout: one field per line, values in braces."""
        lines = [f"@{self.type}{{{self.key},"]
        for name, value in self.fields.items():
            lines.append(f"  {name} = {{{value}}},")
        lines.append("}")
        return "\n".join(lines)


def _balanced(text: str, start: int, close: str) -> int:
    """Index just past the ``close`` char that balances braces from ``start``."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                if close == "}":
                    return i
                raise BibTeXError(f"unbalanced '}}' at offset {i}")
            depth -= 1
        elif c == close and depth == 0:
            return i
        i += 1
    raise BibTeXError("unterminated entry or value (missing closing brace)")


def _value(text: str, i: int, close: str) -> tuple[str, int]:
    """Parse one field value (concatenations with # included); return it and the new index."""
    parts = []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise BibTeXError("unterminated field value")
        c = text[i]
        if c == "{":
            end = _balanced(text, i + 1, "}")
            parts.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            j = i + 1
            depth = 0
            while j < len(text) and not (text[j] == '"' and depth == 0):
                depth += text[j] == "{"
                depth -= text[j] == "}"
                if depth < 0:
                    raise BibTeXError("unbalanced '}' inside a quoted value")
                j += 1
            if j >= len(text):
                raise BibTeXError("unterminated quoted value")
            parts.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _NUMBER.match(text, i) or re.compile(r"[A-Za-z][A-Za-z0-9_]*").match(text, i)
            if not m:
                raise BibTeXError(f"expected a value at offset {i}, found {text[i]!r}")
            parts.append(m.group(0))
            i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "#":
            i += 1
            continue
        return " ".join(" ".join(p.split()) for p in parts), i


def parse_bibtex(text: str) -> list[BibEntry]:
    """Parse every entry in ``text``. Raises :class:`BibTeXError` naming the problem."""
    entries: list[BibEntry] = []
    i = 0
    found_any = False
    while True:
        at = text.find("@", i)
        if at < 0:
            break
        m = _TYPE.match(text, at)
        if not m:
            raise BibTeXError(f"'@' at offset {at} does not start an entry (@type{{key, ...}})")
        etype = m.group(1).lower()
        close = "}" if m.group(2) == "{" else ")"
        i = m.end()
        if etype in NON_ENTRIES:
            i = _balanced(text, i, close) + 1
            continue
        found_any = True
        km = _KEY.match(text, i)
        if not km:
            raise BibTeXError(f"entry @{etype} has no citation key followed by a comma")
        entry = BibEntry(type=etype, key=km.group(1))
        i = km.end()
        while True:
            while i < len(text) and (text[i].isspace() or text[i] == ","):
                i += 1
            if i >= len(text):
                raise BibTeXError(f"entry {entry.key!r} is not closed")
            if text[i] == close:
                i += 1
                break
            nm = _NAME.match(text, i)
            if not nm:
                raise BibTeXError(
                    f"entry {entry.key!r}: expected 'name = value' at offset {i}, "
                    f"found {text[i : i + 20]!r}"
                )
            name = nm.group(1).lower()
            if name in entry.fields:
                raise BibTeXError(f"entry {entry.key!r}: field {name!r} appears twice")
            value, i = _value(text, nm.end(), close)
            entry.fields[name] = value
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] not in (",", close):
                raise BibTeXError(f"entry {entry.key!r}: missing ',' after field {name!r}")
        entries.append(entry)
    if not found_any:
        raise BibTeXError("no BibTeX entry found (expected @type{key, ...})")
    return entries


def check_entry(entry: BibEntry) -> list[str]:
    """Problems that make an entry useless as a citation (empty list when fine)."""
    problems = []
    if entry.type not in KNOWN_TYPES:
        problems.append(f"unknown entry type @{entry.type}")
    if not entry.fields.get("title", "").strip():
        problems.append("no title")
    if not (
        entry.fields.get("author") or entry.fields.get("editor") or entry.fields.get("organization")
    ):
        problems.append("no author, editor or organization")
    if not re.fullmatch(r"\d{4}", entry.fields.get("year", "").strip()):
        problems.append("no four-digit year")
    return problems


def normalize_citations(citations: list[str]) -> tuple[list[BibEntry], list[str]]:
    """Split citation strings into well-formed BibTeX entries (deduplicated by key) and
    the rest (returned as given, to be shown as plain text)."""
    entries: dict[str, BibEntry] = {}
    other: list[str] = []
    for c in citations:
        text = str(c)
        try:
            parsed = parse_bibtex(text)
        except BibTeXError:
            if text.strip() and text.strip() not in other:
                other.append(text.strip())
            continue
        for e in parsed:
            if check_entry(e):
                other.append(text.strip())
                break
            entries.setdefault(e.key, e)
    return list(entries.values()), other


def validate_bibtex(text: str) -> list[BibEntry]:
    """Parse and check ``text``; raise :class:`BibTeXError` listing every problem."""
    entries = parse_bibtex(text)
    problems = [f"{e.key}: {p}" for e in entries for p in check_entry(e)]
    keys = [e.key for e in entries]
    problems += [f"duplicate key {k!r}" for k in sorted({k for k in keys if keys.count(k) > 1})]
    if problems:
        raise BibTeXError("; ".join(problems))
    return entries


# The one DataDreamer citation (core.citations), parsed.
DATADREAMER_CITATION = parse_bibtex(citations.DATADREAMER_CITATION)[0]
