"""The HTML report reads well: lineage labels whole, no edge through a node, parameters and
timings in words, floats rounded, widgets named (no object reprs)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from dreamer_lab.report.html import _parameters, _round_floats, _timings
from dreamer_lab.report.lineage_svg import lineage_svg
from dreamer_lab.report.notebook import clean_output

SVG = "{http://www.w3.org/2000/svg}"


def _node(fp: str, name: str, kind: str, created: int, rows: int | None = 10) -> dict:
    return {"fingerprint": fp * 16, "name": name, "kind": kind, "rows": rows, "created": created}


def _cubic(p0, p1, p2, p3, t):
    return tuple(
        (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d
        for a, b, c, d in zip(p0, p1, p2, p3, strict=True)
    )


def _points(d: str) -> list[tuple[float, float]]:
    """Sampled points of the M/C/L path segments of one edge."""
    out = []
    for seg in re.findall(r"M[^M]+", d):
        nums = [tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", seg)]
        if "C" in seg:
            out += [_cubic(*nums, t / 20) for t in range(21)]
        else:
            out += nums
    return out


LONG = "DataFromAttributedPrompt reviews of every product in the catalogue"
# A fan-out whose long edge skips a layer, and the quickstart's shape: clean -> judge ->
# select -> zipped(clean, select), where clean -> zipped skips two layers past wide nodes.
GRAPHS = [
    (
        [("a", LONG, "DataFromAttributedPrompt"), ("b", "select_columns of the reviews",
         "SelectColumns"), ("c", "synthetic reviews / train", "SplitStep"),
         ("d", "synthetic reviews / test", "SplitStep")],
        [(0, 1), (1, 2), (1, 3), (0, 3)],
    ),
    (
        [("a", "clean reviews", "filter"), ("b", "sentiment judgements", "ProcessWithPrompt"),
         ("c", "sentiment judgements / select_columns", "select_columns"),
         ("d", "zipped(clean reviews, sentiment judgements / select_columns)", "zipped"),
         ("e", "synthetic reviews / test", "splits"), ("f", "classifier", "TrainHFClassifier"),
         ("0", "test predictions", "RunTaskModel")],
        [(0, 1), (1, 2), (0, 3), (2, 3), (3, 4), (3, 5), (5, 6), (4, 6)],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "links"), GRAPHS)
def test_lineage_labels_are_whole_and_no_edge_crosses_a_node(spec, links):
    nodes = [_node(fp, name, kind, i) for i, (fp, name, kind) in enumerate(spec)]
    fps = [n["fingerprint"] for n in nodes]
    edges = [(fps[a], fps[b]) for a, b in links]
    svg = lineage_svg(nodes, edges)
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # Every label is there in full (long names wrap over lines; nothing is cut).
    joined = " ".join(texts)
    for n in nodes:
        assert all(word in joined for word in n["name"].split())
        assert n["kind"] in joined
    assert "synthetic reviews / test" in texts
    rects = [
        tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
        for r in root.iter(f"{SVG}rect")
    ]
    # Text fits its box (estimated glyph widths: 8 px bold names, 7 px smaller lines).
    for g in root.iter(f"{SVG}g"):
        x, _y, w, _h = (float(g.find(f"{SVG}rect").get(k)) for k in ("x", "y", "width", "height"))
        for t in g.iter(f"{SVG}text"):
            glyph = 8.0 if t.get("font-weight") == "bold" else 7.0
            assert float(t.get("x")) + glyph * len(t.text) <= x + w + 1
    # No edge passes through a box (its own ends touch its boxes' borders only).
    edge_paths = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(edge_paths) == len(edges)
    for path in edge_paths:
        for px, py in _points(path.get("d"))[1:-1]:
            for x, y, w, h in rects:
                assert not (x + 1 < px < x + w - 1 and y + 1 < py < y + h - 1), (px, py)
    # It scales to the page.
    assert "max-width:100%" in root.get("style") and root.get("viewBox")


def test_parameters_timings_and_floats_read_as_text():
    html = _parameters(
        {
            "values": {"rows": 32, "prompt": "line one\nline two", "lr": 0.00020000000000000001},
            "injected": ["# Parameters injected by dreamer-lab run\nrows = 12"],
        }
    )
    assert "line one\nline two" in html and "\\n" not in html and "0.0002<" in html
    assert '<pre class="value"># Parameters injected by dreamer-lab run\nrows = 12</pre>' in html
    assert "[" not in html  # no raw JSON lists
    t = _timings(
        {
            "notebook_seconds": 359.6,
            "steps": [
                {"name": "reviews", "seconds": 62.91, "cache_hit": True},
                {"name": "clean", "seconds": 0.42, "cache_hit": False},
            ],
        }
    )
    assert "loaded from cache (computed earlier in 1 min 3 s)" in t
    assert "computed in 0.4 s" in t and "(cache hit)" not in t
    assert "6 min 0 s" in t  # 359.6 s, not "5 min 60 s"
    assert _round_floats("| 3 | 0.69314718055994529 | 1e-05 |") == "| 3 | 0.6931 | 1e-05 |"
    assert _round_floats("version 2.14.0 and 1.5") == "version 2.14.0 and 1.5"


def test_a_widget_output_is_named_not_a_repr():
    out = clean_output(
        {
            "output_type": "display_data",
            "data": {
                "text/plain": "<dreamer_lab.notebook.wizards.GenerationWizard object at 0x7f3a>",
                "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
            },
            "metadata": {},
        }
    )
    assert "GenerationWizard" in out["text"] and "0x" not in out["text"]
    assert "object at" not in out["text"]


def test_card_front_matter_is_readable_folded_and_escaped_once():
    """The card file's YAML escapes (``n\\x3C1K``) read as ``n<1K``, escaped once for HTML,
    folded under "Metadata" before the card's text."""
    from dreamer_lab.cards.card import Card, front_matter
    from dreamer_lab.report.html import _card_html

    front = front_matter({"size_categories": ["n<1K"], "pretty_name": "<script>x</script>"})
    card = Card("dataset", f"{front}\n# Dataset card\n", {"fingerprint": "ab" * 16})
    out = _card_html(card)
    assert out.index("<details><summary>Metadata") < out.index("<h1>Dataset card</h1>")
    assert "n&lt;1K" in out and "x3C" not in out and "&amp;lt;" not in out
    assert "<script>" not in out and "&lt;script&gt;x&lt;/script&gt;" in out
