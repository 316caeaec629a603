"""The step view of a real trainer shows the losses the trainer logged (no fake shapes)."""

from __future__ import annotations

import re

from trainer_fixtures import tiny_bert  # noqa: F401

from dreamer_lab.notebook.views import StepOutput, StepView, summarize
from dreamer_lab.steps import DataSource


def test_the_view_of_a_real_trainer_contains_its_recorded_losses(workspace, tiny_bert):  # noqa: F811
    from dreamer_lab.trainers import TrainHFClassifier

    data = DataSource(
        "reviews",
        {"text": ["good movie", "bad film", "great story", "terrible book"] * 2,
         "label": ["pos", "neg", "pos", "neg"] * 2},
    )  # fmt: skip
    clf = TrainHFClassifier("sentiment", model_name=str(tiny_bert)).train(
        train_input=data.output["text"],
        train_output=data.output["label"],
        epochs=1,
        batch_size=2,  # 8 rows: 4 optimizer steps, each logged
        learning_rate=1e-2,  # on CPU the trainers turn bf16 and gradient checkpointing off
    )
    logged = [(h["step"], h["loss"]) for h in clf.loss_history if "loss" in h]
    assert len(logged) == 4  # what the trainer recorded (the record's history)

    s = summarize(clf)
    assert s["kind"] == "TrainHFClassifier" and s["fingerprint"] == clf.fingerprint
    assert s["status"] == "computed"
    assert s["plots"]["loss"] == [[step, loss] for step, loss in logged]

    widget = StepView(summary=s)
    data_, meta = StepOutput(s, widget)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data_
    assert widget.summary["plots"]["loss"] == [[step, loss] for step, loss in logged]
    (first_step, first), (last_step, last) = logged[0], logged[-1]
    for text in (data_["text/markdown"], data_["text/plain"]):
        assert f"step {first_step}: {first:.4g}" in text and f"step {last_step}: {last:.4g}" in text
    assert re.search(r"loss: [▁▂▃▄▅▆▇█]{4} ", data_["text/markdown"])  # one tick per step
    assert meta["dreamer_lab"]["fingerprint"] == clf.fingerprint

    # Loaded from the workspace by a second trainer: the same curve, from its record.
    again = TrainHFClassifier("sentiment", model_name=str(tiny_bert)).train(
        train_input=data.output["text"],
        train_output=data.output["label"],
        epochs=1,
        batch_size=2,
        learning_rate=1e-2,
    )
    cached = summarize(again)
    assert again.cache_hit and cached["status"] == "loaded from cache"
    assert cached["plots"]["loss"] == s["plots"]["loss"]


def test_an_untrained_trainer_has_an_empty_view(workspace, tiny_bert):  # noqa: F811
    from dreamer_lab.trainers import TrainHFClassifier

    s = summarize(TrainHFClassifier("not yet", model_name=str(tiny_bert)))
    assert s["plots"] == {} and s["fingerprint"] is None and s["status"] == "not trained"
