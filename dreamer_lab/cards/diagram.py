"""Lineage diagrams: Mermaid source (cards) and a self-made inline SVG (HTML reports).

Labels are untrusted (step names can contain anything): Mermaid labels use ``#code;``
entities for every character outside a safe set, SVG text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from dreamer_lab.core.secrets import scrub_text

_SAFE = set(" _-.,:/()")


def mermaid_label(text: str) -> str:
    return "".join(
        c if (c.isascii() and c.isalnum()) or c in _SAFE else f"#{ord(c)};" for c in text
    )


def _label(n: dict[str, Any]) -> str:
    rows = n.get("rows")
    hit = n.get("cache_hit")
    cache = " cache hit" if hit else (" computed" if hit is False else "")
    return f"{n['name']} ({n['kind']}{'' if rows is None else f', {rows} rows'}) {n['fingerprint'][:12]}{cache}"


def to_mermaid(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    """A Mermaid flowchart; nodes need ``fingerprint, name, kind`` (``rows, cache_hit`` optional)."""
    lines = ["flowchart TD"]
    for n in nodes:
        shape = ('[("', '")]') if n.get("area") == "models" else ('["', '"]')
        label = mermaid_label(scrub_text(_label(n)))
        lines.append(f"  n{n['fingerprint'][:12]}{shape[0]}{label}{shape[1]}")
    for a, b in edges:
        lines.append(f"  n{a[:12]} --> n{b[:12]}")
    return "\n".join(lines)


def layers(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layer of each node (roots at 0)."""
    parents: dict[str, list[str]] = {}
    for a, b in edges:
        parents.setdefault(b, []).append(a)
    depth: dict[str, int] = {}

    def d(fp: str, seen: frozenset[str]) -> int:
        if fp in depth:
            return depth[fp]
        ps = [p for p in parents.get(fp, []) if p not in seen]
        depth[fp] = 0 if not ps else 1 + max(d(p, seen | {fp}) for p in ps)
        return depth[fp]

    for n in nodes:
        d(n["fingerprint"], frozenset())
    return depth


def to_svg(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> str:
    """An inline SVG of the DAG (layered top to bottom); no script, no external reference."""
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    depth = layers(nodes, edges)
    rows: dict[int, list[dict[str, Any]]] = {}
    for n in nodes:
        rows.setdefault(depth[n["fingerprint"]], []).append(n)
    box_w, box_h, gap_x, gap_y = 230, 54, 24, 40
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    pos: dict[str, tuple[int, int]] = {}
    for level, items in sorted(rows.items()):
        offset = (width - len(items) * (box_w + gap_x) + gap_x) // 2
        for i, n in enumerate(items):
            pos[n["fingerprint"]] = (offset + i * (box_w + gap_x), gap_y + level * (box_h + gap_y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for a, b in edges:
        if a in pos and b in pos:
            x1, y1 = pos[a][0] + box_w // 2, pos[a][1] + box_h
            x2, y2 = pos[b][0] + box_w // 2, pos[b][1]
            parts.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#555" '
                'marker-end="url(#arrow)"/>'
            )
    for n in nodes:
        x, y = pos[n["fingerprint"]]
        hit = n.get("cache_hit")
        fill = "#e8f4ea" if hit else ("#eef2fb" if n.get("area") != "models" else "#fbf1e6")
        name = html.escape(scrub_text(str(n["name"]))[:32])
        rows_txt = "" if n.get("rows") is None else f" · {n['rows']} rows"
        sub = html.escape(f"{scrub_text(str(n['kind']))[:20]}{rows_txt}")
        fp = html.escape(n["fingerprint"][:12] + (" · cache hit" if hit else ""))
        title = html.escape(scrub_text(f"{n['name']} ({n['kind']}) {n['fingerprint']}"))
        parts.append(
            f'<g><title>{title}</title><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" '
            f'rx="6" fill="{fill}" stroke="#889"/>'
            f'<text x="{x + 8}" y="{y + 17}" font-size="13" font-weight="bold">{name}</text>'
            f'<text x="{x + 8}" y="{y + 33}" font-size="11">{sub}</text>'
            f'<text x="{x + 8}" y="{y + 48}" font-size="10" font-family="monospace" '
            f'fill="#555">{fp}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def loss_curve_svg(history: list[dict[str, Any]], width: int = 420, height: int = 180) -> str:
    """A small line chart of training loss (and eval loss) per step; empty string if none."""
    series = {
        key: [(h["step"], float(h[key])) for h in history if key in h and "step" in h]
        for key in ("loss", "eval_loss")
    }
    series = {k: v for k, v in series.items() if v}
    if not series:
        return ""
    pts = [p for v in series.values() for p in v]
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    pad = 36

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    colors = {"loss": "#1f6feb", "eval_loss": "#d1242f"}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>loss curve</title>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>',
        f'<text x="{pad}" y="{height - 10}" font-size="10">step {x0:g}</text>',
        f'<text x="{width - pad - 50}" y="{height - 10}" font-size="10">step {x1:g}</text>',
        f'<text x="2" y="{pad}" font-size="10">{y1:.3g}</text>',
        f'<text x="2" y="{height - pad}" font-size="10">{y0:.3g}</text>',
    ]
    for i, (key, v) in enumerate(series.items()):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in v)
        out.append(
            f'<polyline fill="none" stroke="{colors[key]}" stroke-width="2" points="{path}"/>'
        )
        out.append(
            f'<text x="{width - pad - 70}" y="{pad + 12 * i}" font-size="10" '
            f'fill="{colors[key]}">{key}</text>'
        )
    out.append("</svg>")
    return "".join(out)
