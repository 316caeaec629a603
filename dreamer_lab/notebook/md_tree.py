"""Markdown as a small element tree the widgets build with ``textContent`` only.

markdown-it-py parses (CommonMark plus tables, raw HTML off, so ``<script>`` stays text and
entities such as ``&#x27;`` become the character they name); the tree keeps a fixed set of
tags and no attributes except a code block's language, so a card preview renders as
Markdown without any HTML parsing in the browser.
"""

from __future__ import annotations

from typing import Any

#: Tags the tree may contain (the browser creates exactly these, text via textContent).
TAGS = frozenset(
    [
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "p",
        "ul",
        "ol",
        "li",
        "blockquote",
        "pre",
        "code",
        "em",
        "strong",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "hr",
        "br",
        "del",
        "span",
        "div",
        "details",
        "summary",
    ]
)
_CLOSE = "_close"


def markdown_tree(markdown: str) -> list[Any]:
    """``[node, ...]``; a node is a string (text) or ``{"tag": t, "children": [...]}``."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    front, text = _split_front_matter(markdown)
    root: dict[str, Any] = {"tag": "div", "children": []}
    if front is not None:
        root["children"].append(_metadata(front))
    _build(md.parse(text), root)
    return root["children"]


def _split_front_matter(markdown: str) -> tuple[str | None, str]:
    """``(yaml, body)``: the ``---``-delimited front matter (None if absent) and the rest."""
    if markdown.startswith("---\n"):
        end = markdown.find("\n---\n", 4)
        if end > 0:
            return markdown[4:end], markdown[end + 5 :]
    return None, markdown


def _metadata(front: str) -> dict[str, Any]:
    """The front matter as a collapsed "Metadata" block: loaded, then written back as plain
    YAML (the file's ``\\x3C``-style escapes become the characters they stand for; the browser
    escapes them once, as text), or shown as written when it does not load."""
    import yaml

    try:
        data = yaml.safe_load(front)
        shown = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88).rstrip()
    except yaml.YAMLError:
        shown = front
    code = {"tag": "code", "children": [shown]}
    summary = {"tag": "summary", "children": ["Metadata (YAML front matter)"]}
    return {"tag": "details", "children": [summary, {"tag": "pre", "children": [code]}]}


def _build(tokens: list[Any], parent: dict[str, Any]) -> None:
    stack = [parent]
    for tok in tokens:
        if tok.type.endswith("_open"):
            tag = tok.tag if tok.tag in TAGS else ("div" if tok.block else "span")  # links: text
            node = {"tag": tag, "children": []}
            stack[-1]["children"].append(node)
            stack.append(node)
        elif tok.type.endswith(_CLOSE):
            if len(stack) > 1:
                stack.pop()
        elif tok.type == "inline":
            _build(tok.children or [], stack[-1])
        elif tok.type in ("fence", "code_block"):
            code = {"tag": "code", "children": [tok.content]}
            stack[-1]["children"].append({"tag": "pre", "children": [code]})
        elif tok.type == "code_inline":
            stack[-1]["children"].append({"tag": "code", "children": [tok.content]})
        elif tok.type in ("softbreak",):
            stack[-1]["children"].append(" ")
        elif tok.type == "hardbreak":
            stack[-1]["children"].append({"tag": "br", "children": []})
        elif tok.type == "hr":
            stack[-1]["children"].append({"tag": "hr", "children": []})
        elif tok.content:  # text, html_inline/html_block (as text: html is off)
            stack[-1]["children"].append(tok.content)
