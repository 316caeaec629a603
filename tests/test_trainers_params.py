"""Every named parameter of every ``train...()`` method reaches the training.

The signatures are built from one declaration (``trainers/params.py``); this checks the
other half: each parameter a signature shows, given a value that is not its default,
arrives where it acts (a field of the library's training arguments, the tokenizer's
length, the reward functions ...) or is refused with a clear error. A parameter added to
a signature without a place where it acts fails here. The run stops where the library's
trainer would start (no training), so the file is fast.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from trainer_fixtures import minilm, tiny_bert, tiny_llama  # noqa: F401

from dreamer_lab.errors import DreamerError, StepInputError
from dreamer_lab.steps import DataSource
from dreamer_lab.trainers.hf_run import HFTrainingRun


class _Stop(DreamerError):
    """Raised where the library's trainer would be built: the arguments are complete
    (a DreamerError, so the trainer passes it on as it is)."""


def _reward(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
    return [1.0 for _ in completions]


# A value that is not the default, for each hyperparameter of the HF trainers.
VALUES: dict[str, Any] = {
    "truncate": False,
    "epochs": 2.0,
    "batch_size": 3,
    "optim": "sgd",
    "learning_rate": 2e-4,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 2,
    "neftune_noise_alpha": 5.0,
    "seed": 7,
    "dpo_beta": 0.3,
    "loss_type": "hinge",
    "disable_dropout": False,
    "precompute_ref_log_probs": True,
    "reward_funcs": [_reward],
    "max_new_tokens": 9,
    "temperature": 0.7,
    "top_p": 0.9,
    "generation_kwargs": {"top_k": 5},
    "num_generations": 3,
    "beta": 0.2,
    "max_kl": 3.0,
}

# Where each parameter acts: the training-arguments field that holds it.
FIELDS = {
    "epochs": "num_train_epochs",
    "learning_rate": "learning_rate",
    "seed": "seed",
    "optim": "optim",
    "weight_decay": "weight_decay",
    "lr_scheduler_type": "lr_scheduler_type",
    "warmup_steps": "warmup_steps",
    "neftune_noise_alpha": "neftune_noise_alpha",
    "dpo_beta": "beta",
    "loss_type": "loss_type",
    "disable_dropout": "disable_dropout",
    "precompute_ref_log_probs": "precompute_ref_log_probs",
    "max_new_tokens": "max_completion_length",
    "temperature": "temperature",
    "top_p": "top_p",
    "generation_kwargs": "generation_kwargs",
    "num_generations": "num_generations",
    "beta": "beta",
}


def _hyperparameters(method: Any) -> list[str]:
    params = list(inspect.signature(method).parameters.values())[1:]
    return [
        p.name
        for p in params
        if "OutputColumn" not in str(p.annotation) and p.kind is not p.VAR_KEYWORD
    ]


def _captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def run_hf_trainer(self, trainer_cls, ctx, call, args, datasets, *, callbacks=(), **kw):  # noqa: ANN001, ANN202
        seen.update(args=args, kwargs=kw, callbacks=list(callbacks), datasets=datasets)
        raise _Stop

    monkeypatch.setattr(HFTrainingRun, "run_hf_trainer", run_hf_trainer)
    return seen


def _check(name: str, method: Any, seen: dict[str, Any], given: dict[str, Any]) -> None:
    """Each hyperparameter of ``method`` arrived (``given``: the values passed)."""
    args = seen["args"]
    for param in _hyperparameters(method):
        value = given.get(param)
        if param in FIELDS:
            got = getattr(args, FIELDS[param])
            got = got[0] if isinstance(got, list) and len(got) == 1 else got  # trl: loss lists
            assert got == value, f"{name}: {param} did not arrive"
        elif param == "batch_size":
            n = given.get("num_generations", 1)  # GRPO: prompts per step x completions
            assert args.per_device_train_batch_size == value * n, f"{name}: batch_size"
        elif param == "truncate":
            assert value or _untruncated(seen), f"{name}: truncate=False did not arrive"
        elif param in ("reward_model", "reward_model_tokenizer", "init_kl_coef"):
            assert name == "TrainHFGRPO.train"  # test_grpo_rewards_and_kl_arrive
        elif param == "max_kl":
            assert any(type(c).__name__ == "_MaxKL" for c in seen["callbacks"]), name
        elif param == "reward_funcs":
            assert seen["kwargs"]["reward_funcs"] == value, name
        else:
            raise AssertionError(f"{name}: {param} has no place where it acts")


def _untruncated(seen: dict[str, Any]) -> bool:
    """Whether nothing was cut to the model's length (the data has a ~600-token text)."""
    args, kwargs = seen["args"], seen["kwargs"]
    if hasattr(args, "max_length"):  # trl's configs, SentenceTransformer's none
        return args.max_length is None
    train = seen["datasets"][0]
    if "input_ids" in train.column_names:  # tokenized rows
        return max(len(ids) for ids in train["input_ids"]) > 512
    limit = kwargs["model"].config.max_position_embeddings  # GRPO: the prompt tokenizer
    return kwargs["processing_class"].model_max_length > limit


def _run(monkeypatch, trainer: Any, method: str, columns: dict[str, Any]) -> None:
    fn = getattr(type(trainer), method)
    given = {k: v for k, v in VALUES.items() if k in _hyperparameters(fn)}
    seen = _captured(monkeypatch)
    with pytest.raises(_Stop):
        getattr(trainer, method)(**columns, **given)
    _check(f"{type(trainer).__name__}.{method}", fn, seen, given)


@pytest.fixture
def rows(workspace):
    return DataSource(
        "rows",
        {
            "a": ["one two", "three four", "five six", " ".join(["seven eight"] * 300)],
            "b": ["two", "four", "six", "eight"],
            "c": ["x", "y", "z", "w"],
            "label": ["p", "q", "p", "q"],
            "score": [1.0, 0.0, 0.5, 0.2],
        },
    ).output


def test_causal_trainers(monkeypatch, rows, tiny_llama):  # noqa: F811
    from dreamer_lab.trainers import TrainHFDPO, TrainHFFineTune, TrainHFGRPO

    model = str(tiny_llama)
    _run(
        monkeypatch,
        TrainHFFineTune("sft", model),
        "train",
        {"train_input": rows["a"], "train_output": rows["b"]},
    )
    triple = {"train_prompts": rows["a"], "train_chosen": rows["b"], "train_rejected": rows["c"]}
    _run(monkeypatch, TrainHFDPO("dpo", model), "train", triple)
    _run(monkeypatch, TrainHFGRPO("grpo", model), "train", {"train_prompts": rows["a"]})


def test_encoder_trainers(monkeypatch, rows, tiny_bert):  # noqa: F811
    from dreamer_lab.trainers import TrainHFClassifier, TrainHFRewardModel

    model = str(tiny_bert)
    io = {"train_input": rows["a"], "train_output": rows["label"]}
    _run(monkeypatch, TrainHFClassifier("clf", model), "train", io)
    pairs = {"train_prompts": rows["a"], "train_chosen": rows["b"], "train_rejected": rows["c"]}
    _run(monkeypatch, TrainHFRewardModel("rm", model), "train_with_pairs", pairs)
    scored = {**pairs, "train_chosen_scores": rows["score"], "train_rejected_scores": rows["score"]}
    _run(monkeypatch, TrainHFRewardModel("rm2", model), "train_with_pairs_and_scores", scored)
    scores = {
        "train_prompts": rows["a"],
        "train_generations": rows["b"],
        "train_scores": rows["score"],
    }
    _run(monkeypatch, TrainHFRewardModel("rm3", model), "train_with_scores", scores)


def test_sentence_transformer(monkeypatch, rows, minilm):  # noqa: F811
    from dreamer_lab.trainers import TrainSentenceTransformer

    st = TrainSentenceTransformer("st", str(minilm))
    pairs = {"train_anchors": rows["a"], "train_positives": rows["b"]}
    # sentence-transformers always cuts to its limit: truncate=False refuses instead.
    with pytest.raises(StepInputError, match="truncate=False, but 1 text"):
        st.train_with_positive_pairs(**pairs, truncate=False)
    monkeypatch.setitem(VALUES, "truncate", True)
    _run(monkeypatch, st, "train_with_positive_pairs", pairs)


def test_setfit_classifier(monkeypatch, rows, minilm):  # noqa: F811
    import setfit

    from dreamer_lab.trainers import TrainSetFitClassifier

    seen: dict[str, Any] = {}

    def trainer(**kwargs: Any) -> Any:
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(setfit, "Trainer", trainer)
    io = {"train_input": rows["a"], "train_output": rows["label"]}
    clf = TrainSetFitClassifier("sf", str(minilm))
    with pytest.raises(StepInputError, match="truncate=False, but 1 text"):
        clf.train(**io, truncate=False)
    given = dict(
        sampling_strategy="undersampling",
        end_to_end=True,
        epochs=(2.0, 3),
        batch_size=(3, 2),
        body_learning_rate=(2e-4, 3e-4),
        head_learning_rate=5e-3,
        weight_decay=0.05,
        warmup_steps=2,
        seed=7,
    )
    assert set(given) | {"truncate"} == set(_hyperparameters(TrainSetFitClassifier.train))
    with pytest.raises(_Stop):
        clf.train(**io, **given)
    args = seen["args"]
    assert (args.sampling_strategy, args.end_to_end, args.seed) == ("undersampling", True, 7)
    assert (args.num_epochs, args.batch_size) == ((2.0, 3), (3, 2))
    assert (args.body_learning_rate, args.head_learning_rate) == ((2e-4, 3e-4), 5e-3)
    assert args.l2_weight == 0.05 and args.warmup_proportion > 0


def test_openai_finetune(workspace):
    from openai_finetune_server import API_KEY, FakeFineTuneServer

    from dreamer_lab.trainers import TrainOpenAIFineTune

    data = DataSource("qa", {"q": [f"q{i}" for i in range(10)], "a": [f"a{i}" for i in range(10)]})
    given = dict(truncate=True, epochs=2, batch_size=4, learning_rate_multiplier=0.5, seed=9)
    assert set(given) == set(_hyperparameters(TrainOpenAIFineTune.train))
    with FakeFineTuneServer(phases=(0.01, 0.01, 0.05), idle_timeout=60) as srv:
        ft = TrainOpenAIFineTune(
            "ft", "gpt-4o-mini-2024-07-18", base_url=srv.base_url, api_key=API_KEY
        )
        ft.poll_interval = ft.max_poll_interval = 0.02
        ft.train(data.output["q"], data.output["a"], **given)
        job = srv.jobs[ft.job_id]
    assert job["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert job["seed"] == 9
    # truncate is DataDreamer's; the API truncates over-long examples itself.


def test_grpo_rewards_and_kl_arrive(monkeypatch, rows, tiny_llama, tiny_bert):  # noqa: F811
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from dreamer_lab.trainers import TrainHFGRPO

    rm = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=1)
    grpo = TrainHFGRPO("kl", str(tiny_llama))
    prompts = {"train_prompts": rows["b"], "num_generations": 2}
    with pytest.raises(StepInputError, match="needs its tokenizer"):
        grpo.train(**prompts, reward_model=rm)  # reward_model_tokenizer is read
    seen = _captured(monkeypatch)
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    with pytest.raises(_Stop):
        grpo.train(**prompts, reward_model=rm, reward_model_tokenizer=tok, init_kl_coef=0.4)
    assert seen["args"].beta == 0.4  # init_kl_coef is DataDreamer's name for beta
    (score,) = seen["kwargs"]["reward_funcs"]  # the reward model, scoring with its tokenizer
    assert len(score(["a prompt"], [" a completion"])) == 1
