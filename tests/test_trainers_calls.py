"""``train...()`` calls derived once from the explicit signature (``trainers/calls.py``).

Columns are the data, every other parameter (with ``**kwargs``) a hyperparameter; the
fingerprint is the one ``Trainer._fit`` gives the same data and hyperparameters, and what
a trainer does not consume is passed on.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from trainer_fixtures import tiny_bert  # noqa: F401

from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, Trainer, TrainResult, trains


class Echo(Trainer):
    """A trainer that trains nothing: it records the call it got."""

    consumes = frozenset({"epochs"})

    @trains("_echo", mode="echo")
    def train(
        self,
        train_x: OutputColumn,
        validation_x: OutputColumn | None = None,
        epochs: int = 1,
        lr: float = 0.1,
        **kwargs: Any,
    ) -> Echo:
        """Echo the call."""

    def _echo(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        self.seen = call
        ctx.final_dir.mkdir(parents=True)
        (ctx.final_dir / "model.txt").write_text("nothing")
        return TrainResult(metrics={"rows": len(call.data["train_x"])})


class Direct(Echo):
    """The same run through ``_fit`` with hand-made data and hyperparameters."""

    def train(self, train_x: OutputColumn, **hyper: Any) -> Direct:  # type: ignore[override]
        def train_fn(ctx: TrainContext) -> TrainResult:
            ctx.final_dir.mkdir(parents=True)
            (ctx.final_dir / "model.txt").write_text("nothing")
            return TrainResult()

        self._fit(
            data={"train_x": train_x, "validation_x": None}, hyperparams=hyper, train_fn=train_fn
        )
        return self


@pytest.fixture
def column(workspace):
    from dreamer_lab.steps import DataSource

    return DataSource("rows", {"x": ["a", "b", "c"]}).output["x"]


def test_a_call_splits_into_data_and_hyperparameters(column):
    echo = Echo("e").train(column, epochs=2, extra=[1, 2])
    call = echo.seen
    assert call.method == "train" and call.data == {"train_x": column, "validation_x": None}
    assert call.hyperparams == {"epochs": 2, "lr": 0.1, "mode": "echo", "extra": [1, 2]}
    assert call.arguments == {"epochs": 2, "lr": 0.1, "extra": [1, 2]}  # as passed
    assert call.options(Echo.consumes) == {"lr": 0.1, "extra": [1, 2]}  # passed on
    assert call.columns("train") == {"x": column} and call.columns("validation") is None
    assert not call.has_validation
    assert echo.record["hyperparams"] == call.hyperparams and echo.metrics == {"rows": 3}
    # Positional or keyword, the same call; fingerprinted as _fit does the same parts.
    again = Echo("e2").train(train_x=column, validation_x=None, epochs=2, lr=0.1, extra=[1, 2])
    assert again.fingerprint == echo.fingerprint and again.cache_hit
    direct = Direct("d").train(column, epochs=2, lr=0.1, mode="echo", extra=[1, 2])
    assert direct.record["components"] == {
        **echo.record["components"],
        "kind": f"{__name__}.Direct",
    }


def test_the_signature_stays_the_api(column):
    params = inspect.signature(Echo.train).parameters
    assert list(params) == ["self", "train_x", "validation_x", "epochs", "lr", "kwargs"]
    assert Echo.train.__doc__ == "Echo the call."
    with pytest.raises(TypeError):
        Echo("e").train(column, None, 1, 0.1, "one too many")
    with pytest.raises(TypeError):
        Echo("e").train()
    with pytest.raises(StepInputError, match=r"mode= is set by train\(\) itself"):
        Echo("e").train(column, mode="other")
    with pytest.raises(StepInputError, match="train_x must be a step column"):
        Echo("e").train(["a", "b"])


def test_hf_trainers_pass_on_what_they_do_not_consume(workspace, tiny_bert, monkeypatch):  # noqa: F811
    from dreamer_lab.steps import DataSource
    from dreamer_lab.trainers import TrainHFClassifier

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(Trainer, "_fit", lambda self, **kw: seen.append(kw))
    data = DataSource("d", {"text": ["good", "bad"], "label": [1, 0]}).output
    clf = TrainHFClassifier("c", model_name=str(tiny_bert))
    clf.train(data["text"], data["label"], epochs=1, max_steps=2)
    clf.train(data["text"], data["label"], None, None, True, 1, max_steps=2)
    assert seen[0]["hyperparams"] == seen[1]["hyperparams"]
    names = [p for p in inspect.signature(TrainHFClassifier.train).parameters if p != "self"]
    columns = ["train_input", "train_output", "validation_input", "validation_output"]
    assert list(seen[0]["data"]) == columns
    assert list(seen[0]["hyperparams"]) == [n for n in names if n not in columns + ["kwargs"]] + [
        "max_steps"
    ]
