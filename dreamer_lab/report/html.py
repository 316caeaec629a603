"""Self-contained HTML report: inline CSS, inline SVG, no script but the embedded JSON data.

Every text from a notebook, a record or a model is escaped; Markdown (the user's cells and
the cards) is rendered with raw HTML disabled, and HTML outputs are never passed through.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from dreamer_lab.cards.diagram import loss_curve_svg
from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.report.lineage_svg import lineage_svg

CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;padding:0 24px 60px;color:#1f2328}
h1{margin-top:28px}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:36px}
pre{background:#f6f8fa;padding:10px;overflow:auto;border-radius:6px;white-space:pre-wrap;word-break:break-word}
code{font-family:ui-monospace,Menlo,monospace;font-size:90%}
table{border-collapse:collapse;margin:8px 0;max-width:100%}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.wide{overflow-x:auto;max-width:100%}pre.value{margin:0;padding:4px}svg.lineage{display:block;margin:8px auto}
.cell{border-left:3px solid #d0d7de;margin:14px 0;padding-left:12px}.cell.code{border-color:#1f6feb}
.out{border-left:3px solid #8c959f;margin:6px 0 0;padding-left:8px}.err pre{background:#fff0f0}
.stamp{font-size:12px;color:#57606a}.hit{color:#1a7f37}.card{border:1px solid #d0d7de;border-radius:8px;padding:4px 18px;margin:18px 0}
nav a{margin-right:14px}.muted{color:#57606a}
.card details{margin:12px 0}.card summary{cursor:pointer;color:#57606a}
"""


def esc(value: Any) -> str:
    return html.escape(scrub_text(str(value)), quote=True)


def render_md(text: str) -> str:
    """Markdown to HTML with raw HTML off (tags in the text are shown, not interpreted)."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return f"<pre>{esc(text)}</pre>"
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return md.render(scrub_text(text))


def _table(rows: list[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _value_html(value: Any) -> str:
    """A parameter value as people read it: text with its line breaks, numbers rounded,
    mappings as tables, lists of text as code blocks, other values as compact JSON."""
    if isinstance(value, dict):
        return _parameters(value) if value else "<i>none</i>"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        blocks = "".join(f'<pre class="value">{esc(v)}</pre>' for v in value)
        return blocks or "<i>none</i>"
    if isinstance(value, str):
        return f'<pre class="value">{esc(value)}</pre>' if "\n" in value else esc(value)
    if isinstance(value, float):
        return esc(f"{value:.6g}")
    if isinstance(value, bool | int) or value is None:
        return esc(json.dumps(value))
    return f"<code>{esc(json.dumps(value, sort_keys=True, default=str))}</code>"


def _parameters(values: dict[str, Any]) -> str:
    if not values:
        return "<p>No parameters cell.</p>"
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{_value_html(v)}</td></tr>" for k, v in values.items()
    )
    return f"<table>{body}</table>"


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "unknown"
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    return f"{whole // 60} min {whole % 60} s"


def _timings(t: dict[str, Any]) -> str:
    rows = [("whole notebook", _seconds(t["notebook_seconds"]))]
    for step in t["steps"]:
        if step["cache_hit"]:
            how = "loaded from cache" + (
                f" (computed earlier in {_seconds(step['seconds'])})" if step["seconds"] else ""
            )
        else:
            how = f"computed in {_seconds(step['seconds'])}"
        rows.append((f"step {step['name']}", how))
    return _table(rows)


def _outputs(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for o in outputs:
        stamp = o.get("dreamer_lab")
        if o["type"] == "image":
            parts.append(
                f'<div class="out"><img alt="output" src="data:{esc(o["mime"])};base64,{esc(o["data"])}"></div>'
            )
        elif o["type"] == "markdown":
            parts.append(f'<div class="out">{render_md(o["text"])}</div>')
        elif o["type"] == "error":
            parts.append(f'<div class="out err"><pre>{esc(o["text"])}</pre></div>')
        else:
            parts.append(f'<div class="out"><pre>{esc(o["text"])}</pre></div>')
        if stamp:
            hit = ' <span class="hit">cache hit</span>' if stamp.get("cache_hit") else ""
            parts.append(
                f'<div class="stamp">step <b>{esc(stamp.get("step"))}</b> · '
                f'<a href="#fp-{esc(str(stamp.get("fingerprint"))[:12])}"><code>'
                f"{esc(str(stamp.get('fingerprint'))[:12])}</code></a>{hit}</div>"
            )
    return "".join(parts)


_LONG_FLOAT = re.compile(r"(?<![\w.])(-?\d+\.\d{5,})(?:[eE][-+]?\d+)?(?![\w.])")


def _round_floats(text: str) -> str:
    """Floats printed with many digits (loss histories, metrics) to 4 significant digits."""
    return _LONG_FLOAT.sub(lambda m: f"{float(m.group(0)):.4g}", text)


def _front_matter_html(front: str) -> str:
    """A card's YAML front matter, folded under "Metadata": loaded and written back as plain
    YAML (the file's ``\\x3C``-style escapes become the characters they stand for), escaped
    once for HTML; shown as written when it does not load."""
    import yaml

    try:
        data = yaml.safe_load(front)
        front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88).rstrip()
    except yaml.YAMLError:
        pass
    return (
        "<details><summary>Metadata (YAML front matter)</summary>"
        f"<pre><code>{esc(front)}</code></pre></details>"
    )


def _card_html(card: Any) -> str:
    from dreamer_lab.report.saved_cards import without_placeholders

    md = _round_floats(without_placeholders(card.markdown))
    md = re.sub(r"^<!-- dreamer_lab:editable .*-->$", "", md, flags=re.MULTILINE)
    md = re.sub(r'^<div class="loss-curve">.*</div>$', "", md, flags=re.MULTILINE)
    front = ""
    m = re.match(r"^---\n(.*?)\n---\n", md, flags=re.DOTALL)
    if m:
        front = _front_matter_html(m.group(1))
        md = md[m.end() :]
    chart = ""
    if card.kind == "model":
        chart = loss_curve_svg(card.data.get("loss_history") or [])
    return f'<div class="card" id="card-{esc(card.data["fingerprint"][:12])}">{front}{chart}{render_md(md)}</div>'


def _embedded_json(public: dict[str, Any]) -> str:
    text = json.dumps(public, sort_keys=True, default=str)
    # Nothing in the data can close the element or open a comment.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="dreamer-lab-report">{text}</script>'


def render_html(report: dict[str, Any]) -> str:
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    run = report["run"]
    nb = report["notebook"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">",
        f"<title>dreamer_lab report: {esc(nb['path'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Report: {esc(nb['path'])}</h1>",
        '<nav><a href="#run">Run record</a><a href="#lineage">Lineage</a>'
        '<a href="#notebook">Notebook</a><a href="#cards">Cards</a></nav>',
        f'<p class="muted">Generated {esc(run["generated"])} by dreamer_lab. Workspace: '
        f"<code>{esc(report.get('workspace') or 'none found')}</code>. The machine-readable form "
        "is embedded below (<code>#dreamer-lab-report</code>) and written as report.json.</p>",
        '<h2 id="run">Run record</h2>',
        "<h3>Parameters</h3>",
        _parameters(run["parameters"]),
        "<h3>Timings</h3>",
        _timings(run["timings"]),
        "<h3>Versions</h3>",
        _table(sorted(run["versions"]["installed"].items())),
        "<h3>Hardware</h3>",
        _table(sorted((k, v) for k, v in run["hardware"].items() if v not in (None, ""))),
        "<h3>Git</h3>",
        _table(sorted(run["git"].items())) if run["git"] else "<p>Not in a git repository.</p>",
        '<h2 id="lineage">Lineage</h2>',
        lineage_svg(report["_diagram_nodes"], report["_edges"]),
        '<div class="wide"><table class="lineage-table"><tr><th>step</th><th>kind</th>'
        "<th>rows</th><th>fingerprint</th><th>last run</th><th>models</th></tr>",
    ]
    for n in report["lineage"]["nodes"]:
        last = {True: '<span class="hit">cache hit</span>', False: "computed"}.get(
            n["cache_hit"], ""
        )
        parts.append(
            f'<tr id="fp-{esc(n["fingerprint"][:12])}"><td>{esc(n["name"])}</td><td>{esc(n["kind"])}</td>'
            f"<td>{esc(n['rows'] if n['rows'] is not None else '')}</td>"
            f'<td><code title="{esc(n["fingerprint"])}">{esc(n["fingerprint"][:12])}</code></td>'
            f"<td>{last}</td><td>{esc(', '.join(map(str, n['models'])))}</td></tr>"
        )
    parts += [
        "</table></div>",
        "<details><summary>Mermaid source</summary>",
        f"<pre><code>{esc(report['lineage']['mermaid'])}</code></pre></details>",
        '<h2 id="notebook">Notebook</h2>',
    ]
    if nb["hide_inputs"]:
        parts.append('<p class="muted">Code inputs are hidden in this report.</p>')
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            parts.append(f'<div class="cell md">{render_md(c["source"])}</div>')
            continue
        if c["cell_type"] != "code":
            continue
        src = "" if c["source"] is None else f"<pre><code>{esc(c['source'])}</code></pre>"
        count = c["execution_count"] if c["execution_count"] is not None else " "
        parts.append(
            f'<div class="cell code"><div class="stamp">[{esc(count)}]</div>{src}'
            f"{_outputs(c['outputs'])}</div>"
        )
    parts.append('<h2 id="cards">Cards</h2>')
    if not report["_cards"]:
        parts.append(
            "<p>This notebook saved no cards (<code>card_for(step).save(folder)</code> saves "
            "one).</p>"
        )
    for meta, card in zip(report["cards"], report["_cards"], strict=True):
        link = f' (<a href="{esc(meta["markdown"])}">README.md</a>)' if meta.get("markdown") else ""
        parts.append(f"<h3>{esc(card.kind)} card: {esc(meta['name'])}{link}</h3>")
        parts.append(_card_html(card))
    parts += [_embedded_json(public), "</body></html>"]
    return "\n".join(parts)
