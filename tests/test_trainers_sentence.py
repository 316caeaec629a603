"""TrainSentenceTransformer on all-MiniLM-L6-v2 (shipped by a PyPI package)."""

from __future__ import annotations

from trainer_fixtures import minilm  # noqa: F401

from dreamer_lab.steps import DataSource

ANCHORS = ["zork blip", "quax flim", "drel vonk", "mip tazzle"] * 2
POSITIVES = ["apple", "river", "engine", "violin"] * 2
NEGATIVES = ["river", "engine", "violin", "apple"] * 2


def _losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.loss_history if "loss" in h]


def test_triplets_and_labeled_pairs(workspace, minilm):  # noqa: F811
    from dreamer_lab.trainers import TrainSentenceTransformer

    data = DataSource("triplets", {"a": ANCHORS, "p": POSITIVES, "n": NEGATIVES})
    st = TrainSentenceTransformer("st", model_name=str(minilm)).train_with_triplets(
        train_anchors=data.output["a"],
        train_positives=data.output["p"],
        train_negatives=data.output["n"],
        epochs=6,
        batch_size=4,
        learning_rate=1e-4,
    )
    losses = _losses(st)
    assert losses[-1] < 0.5 * losses[0]
    model = st.model
    emb = model.encode(["zork blip", "apple", "river"], normalize_embeddings=True)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2])  # learnt: zork blip ~ apple

    pairs = DataSource(
        "pairs",
        {"a": ANCHORS, "b": POSITIVES[:4] + NEGATIVES[:4], "y": [1.0] * 4 + [0.0] * 4},
    )
    lab = TrainSentenceTransformer("labeled", model_name=str(minilm)).train_with_labeled_pairs(
        train_anchors=pairs.output["a"],
        train_others=pairs.output["b"],
        train_labels=pairs.output["y"],
        epochs=4,
        batch_size=8,
        learning_rate=1e-4,
    )
    losses = _losses(lab)
    assert losses[-1] < losses[0]
