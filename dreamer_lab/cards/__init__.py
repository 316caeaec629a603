"""Data cards and model cards generated from lineage records (Hugging Face compatible).

Layer: rank 3. May import everything below it (core, errors, backends, steps,
trainers) and report/contamination; never notebook, server or the CLI.
"""

from __future__ import annotations

from dreamer_lab.cards.card import Card
from dreamer_lab.cards.data_card import data_card
from dreamer_lab.cards.model_card import model_card


def card_for(target: object, workspace: object = None, **kwargs: object) -> Card:
    """A data card for a step, a model card for a trained model (by object, fp or name)."""
    from dreamer_lab.cards.upstream import as_workspace, read_node, resolve

    ws = as_workspace(workspace if workspace is not None else getattr(target, "workspace", None))  # type: ignore[arg-type]
    fp = resolve(target, ws)
    node = read_node(ws, fp)
    if node is not None and node.area == "models":
        return model_card(fp, ws, **kwargs)  # type: ignore[arg-type]
    return data_card(fp, ws, **kwargs)  # type: ignore[arg-type]


__all__ = ["Card", "data_card", "model_card", "card_for"]
