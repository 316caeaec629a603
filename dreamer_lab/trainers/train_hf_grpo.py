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
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.output import OutputColumn
from dreamer_lab.trainers.base import TrainContext, Trainer, TrainResult
from dreamer_lab.trainers.hf_base import CITATIONS, TrainHFBase, model_identity

logger = logging.getLogger("dreamer_lab")

GRPO_CITATION = (
    "@article{shao2024deepseekmath, title={DeepSeekMath: Pushing the Limits of Mathematical "
    "Reasoning in Open Language Models}, author={Shao, Zhihong and others}, "
    "journal={arXiv:2402.03300}, year={2024}}"
)

# DataDreamer's PPO arguments that GRPO has no use for (accepted, ignored with a warning).
_PPO_ONLY = ("adap_kl_ctrl", "adap_kl_target", "length_sampler", "optimizer", "lr_scheduler")


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

    def train(
        self,
        train_prompts: OutputColumn,
        validation_prompts: OutputColumn | None = None,
        reward_model: Any = None,
        reward_model_tokenizer: Any = None,
        reward_funcs: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generation_kwargs: dict[str, Any] | None = None,
        num_generations: int = 4,
        truncate: bool = True,
        epochs: float = 3.0,
        batch_size: int = 8,
        optim: str = "adamw_torch",
        learning_rate: float = 1e-5,
        weight_decay: float = 0.01,
        lr_scheduler_type: str = "linear",
        warmup_steps: int = 0,
        beta: float = 0.0,
        init_kl_coef: float | None = None,
        max_kl: float | None = None,
        seed: int = 42,
        **kwargs: Any,
    ) -> TrainHFGRPO:
        """Train on ``train_prompts`` to maximize the reward; returns ``self``."""
        where = self._where()
        self._check_columns(
            {"train_prompts": train_prompts}, {"validation_prompts": validation_prompts}
        )
        funcs = _as_list(reward_funcs)
        if reward_model is None and not funcs:
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
        if int(num_generations) < 2:
            raise StepInputError(
                f"{where}: num_generations={num_generations}; GRPO compares completions of the "
                "same prompt, so it needs at least 2 (4 to 16 is typical)."
            )
        ignored = sorted(k for k in _PPO_ONLY if kwargs.pop(k, None) is not None)
        if ignored:
            logger.warning(
                "%s: %s are PPO settings; trl removed PPO, this trainer uses GRPO and ignores "
                "them (use beta/max_kl for the KL penalty).",
                where,
                ", ".join(ignored),
            )
        if init_kl_coef is not None:
            beta = float(init_kl_coef)
        rm_identity = None
        if reward_model is not None:
            rm_identity = _reward_model_identity(reward_model, reward_model_tokenizer, where)
        hyper = dict(
            reward_model=rm_identity,
            reward_funcs=[hash_value(f, label=f"reward function of {where}") for f in funcs],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            generation_kwargs=generation_kwargs,
            num_generations=int(num_generations),
            truncate=truncate,
            epochs=epochs,
            batch_size=batch_size,
            optim=optim,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            lr_scheduler_type=lr_scheduler_type,
            warmup_steps=warmup_steps,
            beta=beta,
            max_kl=max_kl,
            seed=seed,
            **kwargs,
        )
        data = {"train_prompts": train_prompts, "validation_prompts": validation_prompts}

        def train_fn(ctx: TrainContext) -> TrainResult:
            return self._train(ctx, data, dict(hyper), reward_model, reward_model_tokenizer, funcs)

        self._fit(data=data, hyperparams=hyper, train_fn=train_fn, configs=self._configs())
        return self

    # ---------------------------------------------------------------------------------
    def _prompts(self, tokenizer: Any, col: OutputColumn) -> Any:
        from datasets import Dataset

        texts = [str(x) for x in col.to_list()]
        if self.chat_prompt_template is not None and getattr(tokenizer, "chat_template", None):
            system = (
                []
                if self.system_prompt in (None, "auto")
                else [{"role": "system", "content": str(self.system_prompt)}]
            )
            return Dataset.from_dict(
                {"prompt": [system + [{"role": "user", "content": t}] for t in texts]}
            )
        return Dataset.from_dict({"prompt": texts})

    def _train(
        self,
        ctx: TrainContext,
        data: dict[str, Any],
        hyper: dict[str, Any],
        reward_model: Any,
        reward_model_tokenizer: Any,
        funcs: list[Callable[..., Any]],
    ) -> TrainResult:
        import copy

        from trl import GRPOConfig, GRPOTrainer

        tokenizer = self.load_tokenizer()
        tokenizer.padding_side = "left"
        model = self.load_base_model()
        train = self._prompts(tokenizer, data["train_prompts"])
        has_val = data["validation_prompts"] is not None
        val = self._prompts(tokenizer, data["validation_prompts"]) if has_val else None
        rewards = list(funcs)
        if reward_model is not None:
            rewards.insert(0, _reward_model_func(reward_model, reward_model_tokenizer))
        n = hyper["num_generations"]
        core = (
            "reward_model",
            "reward_funcs",
            "max_new_tokens",
            "num_generations",
            "truncate",
            "epochs",
            "batch_size",
            "learning_rate",
            "seed",
            "max_kl",
            "generation_kwargs",
        )
        kwargs = {k: v for k, v in hyper.items() if k not in core}
        extra_callbacks = list(kwargs.pop("callbacks", None) or [])
        if hyper["max_kl"] is not None:
            extra_callbacks.append(_max_kl_callback(float(hyper["max_kl"])))
        max_prompt = getattr(model.config, "max_position_embeddings", None)
        args = self.training_args(
            GRPOConfig,
            ctx,
            has_validation=has_val,
            epochs=hyper["epochs"],
            batch_size=hyper["batch_size"] * n,
            learning_rate=hyper["learning_rate"],
            seed=hyper["seed"],
            kwargs=kwargs,
            num_generations=n,
            max_completion_length=hyper["max_new_tokens"] or 128,
            generation_kwargs=hyper["generation_kwargs"],
            metric_for_best_model="eval_reward",
            greater_is_better=True,
        )
        if hyper["truncate"] and isinstance(max_prompt, int):
            tokenizer.model_max_length = min(tokenizer.model_max_length, max_prompt)
        peft = None
        if self.peft_config is not None:
            peft = copy.deepcopy(self.peft_config)
            peft.task_type = "CAUSAL_LM"
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=rewards,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=self.callbacks(ctx, extra_callbacks),
        )
        return TrainResult(metrics=self.run_hf_trainer(trainer, ctx))

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
