"""``TrainHFGRPO`` (and ``TrainHFPPO``): on-policy RL from a reward with trl's ``GRPOTrainer``.

The policy samples ``num_generations`` completions per prompt; each is scored by a reward
model (e.g. a :class:`~dreamer_lab.trainers.TrainHFRewardModel`) and/or reward functions,
and the policy moves toward completions scored above their group's mean (Group Relative
Policy Optimization). trl 1.x removed its PPO trainer, so ``TrainHFPPO`` (DataDreamer's
name and signature) trains with GRPO too: no value head, the same reward interface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dreamer_lab.core.citations import GRPO_CITATION
from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainCall, TrainContext, Trainer, TrainResult, trains
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase, max_positions, model_identity
from dreamer_lab.trainers.params import own

logger = logging.getLogger("dreamer_lab")


# DataDreamer's PPO arguments that GRPO has no use for (accepted, ignored with a warning).
_PPO_ONLY = ("adap_kl_ctrl", "adap_kl_target", "length_sampler", "optimizer", "lr_scheduler")

# DataDreamer's order: the rewards and the sampling, then the shared hyperparameters.
_GRPO_HYPERPARAMETERS = (
    own("reward_model", "Any", None),
    own("reward_model_tokenizer", "Any", None),
    own("reward_funcs", "Callable[..., Any] | list[Callable[..., Any]] | None", None),
    own("max_new_tokens", "int | None", None),
    own("temperature", "float", 1.0),
    own("top_p", "float", 1.0),
    own("generation_kwargs", "dict[str, Any] | None", None),
    own("num_generations", "int", 4),
    "truncate",
    "epochs",
    "batch_size",
    "optim",
    own("learning_rate", "float", 1e-5),
    "weight_decay",
    "lr_scheduler_type",
    "warmup_steps",
    own("beta", "float", 0.0),
    own("init_kl_coef", "float | None", None),
    own("max_kl", "float | None", None),
    "seed",
)


class TrainHFGRPO(TrainHFBase):
    """Align a causal LM to a reward with GRPO (trl ``GRPOTrainer``).

    ``reward_model`` is a trained :class:`TrainHFRewardModel`, a folder with a sequence
    classifier (one output), a loaded ``PreTrainedModel`` (with ``reward_model_tokenizer``), or
    a callable ``texts -> scores`` (DataDreamer's form; each text is prompt + completion).
    ``reward_funcs`` adds trl-style functions ``f(prompts, completions, completion_ids,
    **columns) -> list[float]``; all rewards are summed (``reward_weights=[...]`` weighs them).
    ``batch_size`` counts prompts per step; each step trains on ``batch_size *
    num_generations`` completions. ``beta`` (alias ``init_kl_coef``) is the KL penalty toward
    the starting model (0 = none; with a ``peft_config`` the reference is the adapter-free base).
    ``max_kl`` stops training once the logged KL exceeds it.
    """

    version = "1"
    consumes = TrainHFBase.consumes | {
        "reward_model",
        "reward_funcs",
        "max_new_tokens",
        "num_generations",
        "max_kl",
        "generation_kwargs",
    }

    @trains("_train_grpo", ("prompts",), _GRPO_HYPERPARAMETERS)
    def train(self, *args: Any, **kwargs: Any) -> TrainHFGRPO:
        """Train on ``train_prompts`` to maximize the reward; returns ``self``."""

    # ---------------------------------------------------------------------------------
    def _prepare(self, call: TrainCall) -> TrainCall:
        """Check the rewards; fingerprint the reward model by its identity and the reward
        functions by their code, ``init_kl_coef`` as ``beta``, without the PPO settings."""
        where, args = self._where(), call.arguments
        funcs = _as_list(args["reward_funcs"])
        if args["reward_model"] is None and not funcs:
            raise StepInputError(
                f"{where}: there is nothing to reward. Pass reward_model= (a trained "
                "TrainHFRewardModel, a reward-model folder, or a function texts -> scores) "
                "and/or reward_funcs=[f, ...] with f(prompts, completions, **kw) -> scores."
            )
        for f in funcs:
            if not callable(f):
                raise StepInputError(
                    f"{where}: reward_funcs must be functions, got a {type(f).__name__}. Pass "
                    "reward models as reward_model=."
                )
        if int(args["num_generations"]) < 2:
            raise StepInputError(
                f"{where}: num_generations={args['num_generations']}; GRPO compares completions "
                "of the same prompt, so it needs at least 2 (4 to 16 is typical)."
            )
        ignored = sorted(k for k in _PPO_ONLY if args.get(k) is not None)
        if ignored:
            logger.warning(
                "%s: %s are PPO settings; trl removed PPO, this trainer uses GRPO and ignores "
                "them (use beta/max_kl for the KL penalty).",
                where,
                ", ".join(ignored),
            )
        dropped = {*_PPO_ONLY, "init_kl_coef", "reward_model_tokenizer"}
        hyper = {k: v for k, v in call.hyperparams.items() if k not in dropped}
        hyper.update(
            reward_model=None
            if args["reward_model"] is None
            else _reward_model_identity(
                args["reward_model"], args["reward_model_tokenizer"], where
            ),
            reward_funcs=[hash_value(f, label=f"reward function of {where}") for f in funcs],
            num_generations=int(args["num_generations"]),
        )
        if args["init_kl_coef"] is not None:
            hyper["beta"] = float(args["init_kl_coef"])
        return super()._prepare(replace(call, hyperparams=hyper))

    def _prompts(self, tokenizer: Any) -> Callable[[dict[str, OutputColumn]], Any]:
        """A builder of prompt datasets (chat turns when the tokenizer has a template)."""
        from datasets import Dataset

        chat = self.uses_chat(tokenizer)

        def build(cols: dict[str, OutputColumn]) -> Any:
            texts = [str(x) for x in cols["prompts"].to_list()]
            return Dataset.from_dict(
                {
                    "prompt": [self.user_turn(t) for t in texts]
                    if chat
                    else [self.prompt_text(t) for t in texts]
                }
            )

        return build

    def _train_grpo(self, ctx: TrainContext, call: TrainCall) -> TrainResult:
        from trl import GRPOConfig, GRPOTrainer

        tokenizer = self.load_tokenizer()
        tokenizer.padding_side = "left"
        model = self.load_base_model()
        rewards = _as_list(call.arguments["reward_funcs"])
        if call.arguments["reward_model"] is not None:
            rm, rm_tokenizer = (
                call.arguments[k] for k in ("reward_model", "reward_model_tokenizer")
            )
            rewards.insert(0, _reward_model_func(rm, rm_tokenizer))
        n = call["num_generations"]
        args = self.args_for(
            GRPOConfig,
            ctx,
            call,
            batch_size=call["batch_size"] * n,
            num_generations=n,
            max_completion_length=call["max_new_tokens"] or 128,
            generation_kwargs=call["generation_kwargs"],
            metric_for_best_model="eval_reward",
            greater_is_better=True,
        )
        max_prompt = max_positions(model)
        if call["truncate"] and max_prompt is not None:
            tokenizer.model_max_length = min(tokenizer.model_max_length, max_prompt)
        max_kl = call["max_kl"]
        stop = () if max_kl is None else (_max_kl_callback(float(max_kl)),)
        metrics = self.run_hf_trainer(
            GRPOTrainer,
            ctx,
            call,
            args,
            call.datasets(self._prompts(tokenizer)),
            callbacks=stop,
            model=model,
            reward_funcs=rewards,
            processing_class=tokenizer,
            peft_config=self.peft_for("CAUSAL_LM"),
        )
        return TrainResult(metrics=metrics)

    def _citations(self) -> list[str]:
        return [*super()._citations(), CITATIONS["trl"], GRPO_CITATION]


class TrainHFPPO(TrainHFGRPO):
    """DataDreamer's ``TrainHFPPO`` name and arguments, trained with GRPO.

    trl 1.x removed ``PPOTrainer``; GRPO optimizes the same kind of reward without a value
    head. ``init_kl_coef`` maps to GRPO's ``beta``; ``max_kl`` stops training when exceeded;
    ``adap_kl_ctrl``, ``adap_kl_target``, ``length_sampler``, ``optimizer`` and
    ``lr_scheduler`` have no GRPO equivalent and are ignored with a warning.
    """


# -- rewards ----------------------------------------------------------------------------------
def _as_list(funcs: Any) -> list[Any]:
    if funcs is None:
        return []
    return list(funcs) if isinstance(funcs, list | tuple) else [funcs]


def _reward_model_identity(rm: Any, tokenizer: Any, where: str) -> Any:
    """What identifies a reward model in the fingerprint (checked before any training)."""
    if isinstance(rm, Trainer):
        return {"trainer": rm.__dreamer_fingerprint__()}
    if isinstance(rm, str | Path):
        return model_identity(str(rm), None, where)
    if hasattr(rm, "config") and hasattr(rm, "state_dict"):
        if tokenizer is None:
            raise StepInputError(
                f"{where}: a loaded reward model needs its tokenizer: pass "
                "reward_model_tokenizer=AutoTokenizer.from_pretrained(...)."
            )
        return {"weights": _state_digest(rm), "class": type(rm).__name__}
    if callable(rm):
        return {"function": hash_value(rm, label=f"reward_model of {where}")}
    raise StepInputError(
        f"{where}: reward_model must be a TrainHFRewardModel, a model folder, a loaded "
        f"PreTrainedModel, or a function texts -> scores; got a {type(rm).__name__}."
    )


def _state_digest(model: Any) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _text(value: Any) -> str:
    """Plain text of a prompt or completion (conversational ones are lists of messages)."""
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return str(value)


def _reward_model_func(rm: Any, tokenizer: Any) -> Callable[..., list[float]]:
    """A trl reward function scoring ``prompt + completion`` with the reward model."""
    if isinstance(rm, Trainer | str | Path):
        model, tok = _load_reward_model(rm)
        name = getattr(rm, "name", None) or Path(str(rm)).name
    elif hasattr(rm, "config") and hasattr(rm, "state_dict"):
        model, tok, name = rm, tokenizer, type(rm).__name__
    else:
        user_fn = rm

        def reward_function(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
            texts = [_text(p) + _text(c) for p, c in zip(prompts, completions, strict=True)]
            return [float(s) for s in user_fn(texts)]

        reward_function.__name__ = getattr(rm, "__name__", "reward_model")
        return reward_function

    import torch

    model.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token

    def reward_model(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        texts = [_text(p) + _text(c) for p, c in zip(prompts, completions, strict=True)]
        device = next(model.parameters()).device
        enc = tok(texts, return_tensors="pt", padding=True, truncation=True).to(device)
        with torch.no_grad():
            logits = model(**enc).logits
        return [float(x) for x in logits[:, 0].float().cpu()]

    reward_model.__name__ = f"reward_model:{name}"
    return reward_model


def _load_reward_model(rm: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if isinstance(rm, Trainer):
        model, tok = rm.model, rm.tokenizer  # type: ignore[attr-defined]
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        return model, tok
    path = str(rm)
    return (
        AutoModelForSequenceClassification.from_pretrained(path, num_labels=1),
        AutoTokenizer.from_pretrained(path),
    )


def _max_kl_callback(max_kl: float) -> Any:
    from transformers import TrainerCallback

    class _MaxKL(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            kl = (logs or {}).get("kl")
            if isinstance(kl, int | float) and kl > max_kl:
                logger.info("Stopping: kl %.4f > max_kl %.4f", kl, max_kl)
                control.should_training_stop = True

    return _MaxKL()
