"""TrainSetFitClassifier on all-MiniLM-L6-v2 (shipped by a PyPI package); needs ``setfit``."""

from __future__ import annotations

import pytest
from trainer_fixtures import minilm  # noqa: F401

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps import DataSource

pytest.importorskip(
    "setfit",
    reason="setfit is not installed (optional extra: pip install 'dreamer-lab[setfit]')",
)

TRAIN = {
    "text": [
        "I loved this movie",
        "what a wonderful day",
        "the food was delicious",
        "great service, very happy",
        "an excellent book",
        "this is fantastic news",
        "I really enjoyed the concert",
        "the best gift ever",
        "I hated this movie",
        "what a horrible day",
        "the food was disgusting",
        "awful service, very angry",
        "a terrible book",
        "this is dreadful news",
        "I really disliked the concert",
        "the worst gift ever",
    ],
    "label": ["positive"] * 8 + ["negative"] * 8,
}
HELD_OUT = {
    "text": [
        "an amazing performance, I am delighted",
        "such a lovely and pleasant evening",
        "brilliant work, thank you so much",
        "I adore this song",
        "a miserable and painful experience",
        "this product is broken and useless",
        "I am furious about the delay",
        "the film was boring and bad",
    ],
    "label": ["positive"] * 4 + ["negative"] * 4,
}

UNSEEN = ["I love you", "a great success", "I hate you", "a total failure"]

# Two contrastive steps for the body, five epochs for the head: seconds on 2 CPU cores.
FAST = dict(epochs=(1, 5), batch_size=(16, 16), head_learning_rate=5e-2, max_steps=2)


def test_setfit_classifier_learns_caches_and_loads(workspace, minilm):  # noqa: F811
    from setfit import SetFitModel

    from dreamer_lab.trainers import TrainSetFitClassifier

    train = DataSource("train", TRAIN)
    held_out = DataSource("held out", HELD_OUT)
    columns = dict(
        train_input=train.output["text"],
        train_output=train.output["label"],
        validation_input=held_out.output["text"],
        validation_output=held_out.output["label"],
    )
    clf = TrainSetFitClassifier("setfit sentiment", model_name=str(minilm)).train(**columns, **FAST)
    assert clf.cache_hit is False
    assert clf.record["labels"] == ["negative", "positive"]
    assert clf.metrics["eval_accuracy"] >= 0.85, clf.metrics
    assert [h["embedding_loss"] for h in clf.loss_history if "embedding_loss" in h]
    assert any("eval_embedding_loss" in h for h in clf.loss_history)
    card = clf.record["card"]
    assert any("Few-Shot Learning" in c for c in card["Citation Information"])
    assert card["Dataset Name"] == ["held out", "train"]

    # The saved folder is a SetFit model: it loads with setfit and classifies unseen text.
    loaded = SetFitModel.from_pretrained(str(clf.model_path))
    predicted = list(loaded.predict(HELD_OUT["text"] + UNSEEN))
    truth = HELD_OUT["label"] + ["positive", "positive", "negative", "negative"]
    accuracy = sum(p == y for p, y in zip(predicted, truth, strict=True)) / len(truth)
    assert accuracy >= 0.85, predicted
    # Confidently so: an untrained head scores about 0.5 for every text.
    proba = loaded.predict_proba(HELD_OUT["text"] + UNSEEN)
    true_ids = [loaded.labels.index(y) for y in truth]
    assert float(proba[range(len(truth)), true_ids].mean()) > 0.8

    # The same training again (a new trainer object) is loaded from the workspace.
    again = TrainSetFitClassifier("setfit sentiment", model_name=str(minilm)).train(
        **columns, **FAST
    )
    assert again.cache_hit is True
    assert again.fingerprint == clf.fingerprint
    assert again.model_path == clf.model_path
    assert list(again.model.predict(UNSEEN)) == truth[-4:]
    # A bad argument is refused before any model is loaded.
    other = TrainSetFitClassifier("setfit sentiment", model_name=str(minilm))
    with pytest.raises(StepInputError, match="sampling_strategy"):
        other.train(**columns, sampling_strategy="everything")


def test_setfit_classifier_bad_input(workspace, minilm):  # noqa: F811
    from dreamer_lab.trainers import TrainSetFitClassifier

    clf = TrainSetFitClassifier("bad", model_name=str(minilm))
    train = DataSource("train", TRAIN)
    one = DataSource("one", {"text": ["a", "b"], "label": ["x", "x"]})
    with pytest.raises(StepInputError, match="only one label"):
        clf.train(train_input=one.output["text"], train_output=one.output["label"])
    empty = train.filter(lambda row: False, name="nothing")
    with pytest.raises(StepInputError, match="training data is empty"):
        clf.train(train_input=empty.output["text"], train_output=empty.output["label"])
    with pytest.raises(StepInputError, match="train_output is missing"):
        clf.train(train_input=train.output["text"], train_output=None)
    with pytest.raises(StepInputError, match="different lengths"):
        clf.train(train_input=train.output["text"], train_output=one.output["label"])
    with pytest.raises(StepInputError, match="without validation_output"):
        clf.train(
            train_input=train.output["text"],
            train_output=train.output["label"],
            validation_input=train.output["text"],
        )
    with pytest.raises(StepInputError, match="not supported"):
        TrainSetFitClassifier("multi", model_name=str(minilm), device=["cpu", "cpu"])
    assert not (workspace / "models").exists() or not any((workspace / "models").iterdir())
