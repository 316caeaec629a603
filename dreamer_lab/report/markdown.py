"""Markdown report: the same content as the HTML one, quoted so nothing can break it."""

from __future__ import annotations

from typing import Any

from dreamer_lab.cards.escape import md_block, md_code_inline, md_inline
from dreamer_lab.cards.param_table import param_table


def _parameters_lines(params: dict[str, Any]) -> list[str]:
    """The values in effect as a table (as in the HTML report), then the parameter cells."""
    lines = param_table(params.get("values") or {}) or ["No parameters cell."]
    for title, key in (("Parameters cell", "cells"), ("Injected parameters", "injected")):
        for source in params.get(key) or []:
            lines += ["", f"{title}:", "", md_block(source, "python")]
    return lines


def _user_markdown(text: str) -> str:
    # The user's own Markdown keeps its structure; raw HTML is neutralized.
    return text.replace("<", "&lt;")


def render_markdown(report: dict[str, Any]) -> str:
    run = report["run"]
    nb = report["notebook"]
    lines = [
        f"# Report: {md_inline(nb['path'])}",
        "",
        f"Generated {md_inline(run['generated'])} by dreamer_lab. Workspace: "
        f"{md_code_inline(report.get('workspace') or 'none found')}. Machine-readable form: "
        "`report.json`.",
        "",
        "## Run record",
        "",
        "### Parameters",
        "",
        *_parameters_lines(run["parameters"]),
        "",
        "### Timings",
        "",
        f"- Notebook: {run['timings']['notebook_seconds']} s",
    ]
    for t in run["timings"]["steps"]:
        hit = " (cache hit)" if t["cache_hit"] else ""
        lines.append(f"- Step {md_inline(t['name'])}: {t['seconds'] or 0:.2f} s{hit}")
    lines += ["", "### Versions", ""]
    lines += [
        f"- {md_inline(k)}: {md_inline(v)}" for k, v in sorted(run["versions"]["installed"].items())
    ]
    lines += ["", "### Hardware", ""]
    lines += [f"- {md_inline(k)}: {md_inline(v)}" for k, v in sorted(run["hardware"].items())]
    lines += ["", "### Git", ""]
    if run["git"]:
        lines += [f"- {md_inline(k)}: {md_inline(v)}" for k, v in sorted(run["git"].items())]
    else:
        lines.append("Not in a git repository.")
    lines += ["", "## Lineage", "", "```mermaid", report["lineage"]["mermaid"], "```", ""]
    lines += ["| step | kind | rows | fingerprint | last run |", "|---|---|---|---|---|"]
    for n in report["lineage"]["nodes"]:
        last = {True: "cache hit", False: "computed"}.get(n["cache_hit"], "")
        rows = "" if n["rows"] is None else n["rows"]
        lines.append(
            f"| {md_inline(n['name'])} | {md_inline(n['kind'])} | {rows} | "
            f"`{n['fingerprint']}` | {last} |"
        )
    lines += ["", "## Notebook", ""]
    if nb["hide_inputs"]:
        lines += ["Code inputs are hidden in this report.", ""]
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            lines += [_user_markdown(c["source"]), ""]
        elif c["cell_type"] == "code":
            if c["source"] is not None:
                lines += [md_block(c["source"], "python"), ""]
            for o in c["outputs"]:
                if o["type"] == "image":
                    lines += [f"![output](data:{o['mime']};base64,{o['data']})", ""]
                else:
                    lines += [md_block(o["text"]), ""]
                stamp = o.get("dreamer_lab")
                if stamp:
                    hit = " (cache hit)" if stamp.get("cache_hit") else ""
                    lines += [
                        f"Step {md_inline(stamp.get('step'))}: "
                        f"{md_code_inline(stamp.get('fingerprint'))}{hit}",
                        "",
                    ]
    lines += ["## Cards", ""]
    for meta in report["cards"]:
        target = meta.get("markdown", "")
        lines.append(
            f"- {md_inline(meta['kind'])} card: [{md_inline(meta['name'])}]({target}) "
            f"{md_code_inline(meta['fingerprint'][:12])}"
        )
    if not report["cards"]:
        lines.append("This notebook saved no cards (`card_for(step).save(folder)` saves one).")
    return "\n".join(lines) + "\n"
