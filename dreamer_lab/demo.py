"""A small end-to-end data workflow used by ``dreamer-lab demo`` (no model, no key).

It builds a source, derives features with ``map``, filters, splits and exports, then
prints the lineage. Run it twice: the second run loads every step from the workspace.
"""

from __future__ import annotations

import time
from pathlib import Path

PRODUCTS = ["headphones", "kettle", "backpack", "desk lamp", "running shoes", "blender"]
OPINIONS = {
    "positive": ["works great", "exceeded my expectations", "would buy again", "solid build"],
    "negative": ["broke after a week", "not worth the price", "arrived damaged", "too noisy"],
}


def _rows() -> dict[str, list]:
    texts, labels, products = [], [], []
    for i, product in enumerate(PRODUCTS * 20):
        label = "positive" if i % 3 else "negative"
        phrase = OPINIONS[label][i % 4]
        texts.append(f"The {product} {phrase}.")
        labels.append(label)
        products.append(product)
    return {"text": texts, "label": labels, "product": products}


def word_count(row: dict) -> dict:
    return {"words": len(row["text"].split())}


def run_demo(workspace: Path) -> dict:
    """Run the demo workflow in ``workspace``; returns a summary."""
    from dreamer_lab import DataDreamer, lineage
    from dreamer_lab.steps import DataSource

    t0 = time.perf_counter()
    with DataDreamer(workspace):
        reviews = DataSource("reviews", _rows())
        featured = reviews.map(word_count, name="reviews with word counts")
        short = featured.filter(lambda r: r["words"] <= 6, name="short reviews")
        splits = short.splits(train_size=0.8, test_size=0.2, stratify_by_column="label")
        out = splits["train"].export_to_json(Path(workspace) / "exports" / "train.jsonl")
        steps = [reviews, featured, short, *splits.values()]
        hits = sum(bool(s.cache_hit) for s in steps)
        graph = lineage()
    seconds = time.perf_counter() - t0
    print(f"Workspace: {Path(workspace).resolve()}")
    print(f"{len(steps)} steps, {hits} loaded from cache, {seconds:.2f}s")
    for s in steps:
        print(
            f"  {s.name:<28} {len(s.output):>5} rows  {s.fingerprint[:12]}  {'cache hit' if s.cache_hit else 'computed'}"
        )
    print(f"Exported the train split to {out}")
    print(
        f"Lineage: {len(graph.nodes)} nodes, {len(graph.edges)} edges (dreamer-lab ls -w {workspace})"
    )
    return {"steps": len(steps), "hits": hits, "seconds": seconds, "export": str(out)}
