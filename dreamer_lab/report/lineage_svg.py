"""The report's lineage drawing: a layered DAG in inline SVG that fits the page.

Layers by longest path; an edge that spans several layers passes through a narrow waypoint
in each layer between (so no edge crosses a node); nodes in a layer are ordered by the
mean position of their neighbours (a few sweeps down and up); boxes are as wide as their
text needs, and long names wrap instead of being cut. The SVG scales down to the page
width (``viewBox`` with ``max-width: 100%``). No script, no external reference; every
text is escaped.
"""

from __future__ import annotations

import html
import textwrap
from typing import Any

from dreamer_lab.core.secrets import scrub_text

CHAR_W = 7.0  # average glyph width at the 11-12 px fonts used below
BOLD_W = 8.0  # ... and of the 13 px bold name lines
LINE_H = 16
GAP_X, GAP_Y, PAD = 28, 48, 12
MIN_W, MAX_CHARS = 140, 34
WAYPOINT_W = 12


def _layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a in parents and b in parents:
            parents[b].append(a)
    depth: dict[str, int] = {}

    def visit(node: str, seen: frozenset[str]) -> int:
        if node not in depth:
            ps = [p for p in parents[node] if p not in seen]
            depth[node] = 1 + max((visit(p, seen | {node}) for p in ps), default=-1)
        return depth[node]

    for i in ids:
        visit(i, frozenset())
    return depth


def _label(n: dict[str, Any]) -> list[str]:
    name = scrub_text(str(n["name"]))
    lines = textwrap.wrap(name, MAX_CHARS, break_long_words=True) or [""]
    rows = "" if n.get("rows") is None else f" · {n['rows']} rows"
    lines.append(scrub_text(str(n["kind"])) + rows)
    lines.append(n["fingerprint"][:12] + (" · cache hit" if n.get("cache_hit") else ""))
    return lines


def _barycentre(v: str, nbrs: dict[str, list[str]], index: dict[str, int]) -> float:
    ps = [index[p] for p in nbrs[v] if p in index]
    return sum(ps) / len(ps) if ps else index[v]


def _box_width(lines: list[str]) -> int:
    """Wide enough for the bold name lines and the two smaller lines under them."""
    names, rest = lines[:-2], lines[-2:]
    text = max([len(t) * BOLD_W for t in names] + [len(t) * CHAR_W for t in rest])
    return max(MIN_W, int(text) + 2 * PAD)


def _order(layers: list[list[str]], nbrs: dict[str, list[str]]) -> None:
    """Reorder each layer by the barycentre of its neighbours (in place)."""
    for sweep in range(4):
        seq = layers[1:] if sweep % 2 == 0 else layers[-2::-1]
        for layer in seq:
            index = {v: i for lay in layers for i, v in enumerate(lay)}
            layer.sort(key=lambda v, index=index: _barycentre(v, nbrs, index))


def lineage_svg(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    """An inline SVG of the lineage DAG."""
    if not nodes:
        return ""
    by_id = {n["fingerprint"]: n for n in nodes}
    depth = _layers(list(by_id), edges)
    nbrs: dict[str, list[str]] = {i: [] for i in by_id}
    chains: list[list[str]] = []
    for k, (a, b) in enumerate(edges):
        if a not in by_id or b not in by_id:
            continue
        chain = [a]
        for d in range(depth[a] + 1, depth[b]):
            w = f"~{k}~{d}"  # a waypoint of this edge in layer d
            depth[w] = d
            nbrs[w] = []
            chain.append(w)
        chain.append(b)
        for u, v in zip(chain, chain[1:], strict=False):
            nbrs[v].append(u)
            nbrs[u].append(v)
        chains.append(chain)
    layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for v in sorted(depth, key=lambda v: (by_id[v].get("created") or 0) if v in by_id else 0):
        layers[depth[v]].append(v)
    _order(layers, nbrs)
    labels = {i: _label(n) for i, n in by_id.items()}
    widths = {v: _box_width(labels[v]) if v in by_id else WAYPOINT_W for v in depth}
    heights = [
        max((len(labels[v]) * LINE_H + PAD for v in lay if v in by_id), default=LINE_H)
        for lay in layers
    ]
    row_w = [sum(widths[v] for v in lay) + GAP_X * (len(lay) - 1) for lay in layers]
    width = max(row_w) + 2 * GAP_X
    pos: dict[str, tuple[float, float]] = {}
    y = GAP_X / 2
    for d, lay in enumerate(layers):
        x = (width - row_w[d]) / 2
        for v in lay:
            pos[v] = (x, y)
            x += widths[v] + GAP_X
        y += heights[d] + GAP_Y
    height = int(y - GAP_Y + GAP_X / 2)
    return _draw(by_id, labels, chains, pos, widths, heights, depth, int(width), height)


def _draw(
    by_id: dict[str, Any],
    labels: dict[str, list[str]],
    chains: list[list[str]],
    pos: dict[str, tuple[float, float]],
    widths: dict[str, int],
    heights: list[int],
    depth: dict[str, int],
    width: int,
    height: int,
) -> str:
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" style="max-width:100%;height:auto" role="img" '
        'aria-label="lineage of the steps and models">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker>'
        "</defs>",
    ]

    def bottom(v: str) -> tuple[float, float]:
        x, y = pos[v]  # a waypoint spans its layer's height (drawn as a straight line)
        return x + widths[v] / 2, y + heights[depth[v]]

    def top(v: str) -> tuple[float, float]:
        x, y = pos[v]
        return x + widths[v] / 2, y

    for chain in chains:
        d = []
        for u, v in zip(chain, chain[1:], strict=False):
            (x1, y1), (x2, y2) = bottom(u), top(v)
            mid = (y1 + y2) / 2
            d.append(f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}")
            if v not in by_id:  # through the waypoint's layer, straight down
                h = heights[depth[v]]
                d.append(f"M{x2:.0f},{y2:.0f} L{x2:.0f},{y2 + h:.0f}")
        parts.append(
            f'<path d="{" ".join(d)}" fill="none" stroke="#57606a" marker-end="url(#arrow)"/>'
        )
    for v, n in by_id.items():
        x, y = pos[v]
        hit = n.get("cache_hit")
        fill = "#e8f4ea" if hit else ("#eef2fb" if n.get("area") != "models" else "#fbf1e6")
        title = esc(scrub_text(f"{n['name']} ({n['kind']}) {n['fingerprint']}"))
        parts.append(
            f'<g><title>{title}</title><rect x="{x:.0f}" y="{y:.0f}" width="{widths[v]}" '
            f'height="{heights[depth[v]]}" rx="6" fill="{fill}" stroke="#8c959f"/>'
        )
        lines = labels[v]
        for i, text in enumerate(lines):
            last, kind_line = i == len(lines) - 1, i == len(lines) - 2
            style = (
                'font-size="11" font-family="monospace" fill="#57606a"'
                if last
                else (
                    'font-size="12" fill="#1f2328"'
                    if kind_line
                    else 'font-size="13" font-weight="bold" fill="#1f2328"'
                )
            )
            parts.append(
                f'<text x="{x + PAD:.0f}" y="{y + PAD / 2 + (i + 1) * LINE_H - 4:.0f}" {style}>'
                f"{esc(text)}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
