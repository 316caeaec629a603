"""The ``LLM`` interface (DataDreamer's) and its wiring to the request-level cache.

Every backend implements a few hooks (:meth:`LLM._identity`, :meth:`LLM._generate_batch`
or :meth:`LLM._generate_missing`, :meth:`LLM.count_tokens`,
:meth:`LLM.get_max_context_length`); :meth:`LLM.run` does the rest the same way for all of
them: validate every prompt before any model call, look each request up in the shared
request cache (key = model identity + generation parameters + rendered prompt + per-row
seed), generate only the missing ones, commit each finished batch, and restore order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.core.loadable import Loadable
from dreamer_lab.core.run_options import RunOptions, collect, session_executor
from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.errors import (  # noqa: F401
    DreamerError,
    LLMError,
    PromptTooLongError,
    StepInputError,
    UnknownModelError,
)
from dreamer_lab.llms.usage import DryRunReport, Usage, estimate_tokens  # noqa: F401


class _Auto:
    """Sentinel for "pick the right value for this model" (DataDreamer's ``AUTO``)."""

    def __repr__(self) -> str:
        return "AUTO"

    def __dreamer_fingerprint__(self) -> str:
        return "AUTO"

    def __reduce__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()


class PromptWithSeed(str):
    """A prompt that carries its own per-row seed, so repeated identical prompts
    (e.g. ``DataFromPrompt`` asking ``n`` times) are distinct requests."""

    seed: Any

    def __new__(cls, value: str, seed: Any) -> PromptWithSeed:
        obj = super().__new__(cls, value)
        obj.seed = seed
        return obj

    def __reduce__(self) -> Any:
        return (PromptWithSeed, (str(self), self.seed))


# Generation parameters that go into the request key (batch sizes and progress do not).
_RUN_CONTROL = {
    "batch_size",
    "batch_scheduler_buffer_size",
    "adaptive_batch_size",
    "progress_interval",
    "force",
    "cache_only",
    "verbose",
    "log_level",
    "total_num_prompts",
    "return_generator",
}


class LLM(Loadable):
    """Base class of LLM backends (DataDreamer's interface).

    Subclasses set ``backend_name`` and implement ``_identity``, ``count_tokens``,
    ``get_max_context_length`` and either ``_generate_batch`` (synchronous batches) or
    ``_generate_missing`` (their own scheduling, e.g. async API requests).
    """

    backend_name: ClassVar[str] = "llm"
    #: Local models batch prompts of similar length (``batch_scheduler_buffer_size``).
    sorts_prompts_by_length: ClassVar[bool] = False
    #: Extra ``run(**kwargs)`` names this backend accepts (beyond the common ones).
    extra_generation_kwargs: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        model_name: str,
        system_prompt: str | None = None,
        cache_folder_path: str | None = None,
    ):
        self.model_name = model_name
        self.system_prompt = system_prompt
        self.cache_folder_path = cache_folder_path
        self.usage = Usage()
        self.last_usage = Usage()

    # -- identity --------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        """Everything that decides what this model generates (never an API key)."""
        return {"model_name": self.model_name, "system_prompt": self.system_prompt}

    def __dreamer_fingerprint__(self) -> str:
        ident = {"backend": type(self).__name__, **self._identity()}
        return hash_value(ident, label=f"the identity of {self!r}")

    def __dreamer_repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r})"

    def __repr__(self) -> str:
        return self.__dreamer_repr__()

    # -- card information ------------------------------------------------------------------
    @property
    def model_card(self) -> str | None:
        return None

    @property
    def license(self) -> str | None:
        return None

    @property
    def citation(self) -> list[str] | None:
        return None

    # -- tokens and prompts ----------------------------------------------------------------
    def count_tokens(self, value: str) -> int:
        """Tokens in ``value`` (backends with a tokenizer count exactly)."""
        return estimate_tokens(value)

    def get_max_context_length(self, max_new_tokens: int) -> int | None:
        """Tokens available for the prompt when generating ``max_new_tokens`` (None: unknown)."""
        return None

    def format_prompt(
        self,
        max_new_tokens: int | None = None,
        beg_instruction: str | None = None,
        in_context_examples: list[str] | None = None,
        end_instruction: str | None = None,
        sep: str = "\n",
        min_in_context_examples: int | None = None,
        max_in_context_examples: int | None = None,
    ) -> str:
        """Join instruction, in-context examples and end instruction with ``sep``, keeping
        the examples that fit the context window (DataDreamer's semantics, see
        :func:`dreamer_lab.llms.prompt_format.fit_prompt`)."""
        from dreamer_lab.llms.prompt_format import fit_prompt

        limit = self.get_max_context_length(max_new_tokens or 0)
        return fit_prompt(
            self.count_tokens,
            limit,
            beg_instruction,
            list(in_context_examples or []),
            end_instruction,
            sep,
            min_in_context_examples,
            max_in_context_examples,
            f"{self!r}'s context window ({limit} tokens with max_new_tokens={max_new_tokens})",
        )

    # -- generation hooks ------------------------------------------------------------------
    def _generate_batch(
        self, prompts: list[str], params: dict[str, Any], seeds: list[Any]
    ) -> list[dict[str, Any]]:
        """Generate one batch: a ``{"g": [texts], "u": usage}`` per prompt."""
        raise NotImplementedError

    def _generate_missing(
        self,
        items: list[tuple[str, str, Any]],
        params: dict[str, Any],
        batch_size: int,
        commit: Callable[[dict[str, Any]], None],
        adaptive_batch_size: bool,
    ) -> None:
        """Generate every ``(key, prompt, seed)`` and ``commit({key: value})`` each batch."""
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            values = self._generate_batch(
                [p for _, p, _ in chunk], params, [s for _, _, s in chunk]
            )
            commit({k: v for (k, _, _), v in zip(chunk, values, strict=True)})

    def _validate_params(self, params: dict[str, Any]) -> None:
        """Reject parameters this backend cannot honour (before any call)."""

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Cost in USD of a request (None: unknown; 0 for local models)."""
        return 0.0

    def unload_model(self) -> None:
        """Free the loaded model (it reloads on the next run)."""

    # -- the public run ------------------------------------------------------------------
    def _params(
        self,
        max_new_tokens: int | None,
        temperature: float,
        top_p: float,
        n: int,
        stop: str | list[str] | None,
        repetition_penalty: float | None,
        logit_bias: dict[int, float] | None,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        where = f"{self!r}.run()"
        unknown = sorted(set(kwargs) - self.extra_generation_kwargs - _RUN_CONTROL - {"_step"})
        if unknown:
            raise StepInputError(
                f"{where}: unknown generation argument(s) {unknown}. Common arguments: "
                "max_new_tokens, temperature, top_p, n, stop, repetition_penalty, logit_bias, "
                f"seed, batch_size; this backend also accepts "
                f"{sorted(self.extra_generation_kwargs) or 'nothing else'}."
            )
        if not isinstance(n, int) or n < 1:
            raise StepInputError(f"{where}: n must be a positive integer, got {n!r}.")
        if max_new_tokens is not None and (
            not isinstance(max_new_tokens, int) or max_new_tokens < 1
        ):
            raise StepInputError(
                f"{where}: max_new_tokens must be a positive integer or None, got "
                f"{max_new_tokens!r}."
            )
        if temperature is None or temperature < 0:
            raise StepInputError(f"{where}: temperature must be >= 0, got {temperature!r}.")
        if top_p is None or not 0 <= top_p <= 1:
            raise StepInputError(f"{where}: top_p must be within [0, 1], got {top_p!r}.")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        params = {
            "max_new_tokens": max_new_tokens,
            "temperature": float(temperature),
            "top_p": float(top_p),
            "n": n,
            "stop": stops,
            "repetition_penalty": repetition_penalty,
            "logit_bias": {str(k): v for k, v in (logit_bias or {}).items()} or None,
        }
        params.update({k: v for k, v in kwargs.items() if k in self.extra_generation_kwargs})
        self._validate_params(params)
        return params

    def _check_prompts(self, prompts: list[Any], max_new_tokens: int | None) -> None:
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise StepInputError(
                    f"{self!r}: prompt {i} is a {type(p).__name__}, not a str. Pass text "
                    "prompts (e.g. a column of strings)."
                )
        limit = self.get_max_context_length(max_new_tokens or 0)
        if limit is None:
            return
        for i, p in enumerate(prompts):
            count = self.count_tokens(self._full_prompt(p))
            if count > limit:
                raise PromptTooLongError(
                    f"Prompt {i} is {count} tokens, but {self!r} has room for {limit} prompt "
                    f"tokens with max_new_tokens={max_new_tokens}. Shorten the prompt (it "
                    f"starts {scrub_text(p[:60])!r}), lower max_new_tokens, or use a model "
                    "with a longer context window. Nothing was sent to the model."
                )

    def request_keys(
        self, prompts: list[str], params: dict[str, Any], seed: Any = None
    ) -> list[str]:
        """Request-cache keys of ``prompts`` under ``params``."""
        from dreamer_lab.core.request_cache import request_key

        ident = self.__dreamer_fingerprint__()
        return [
            request_key(ident, params, str(p), [seed, getattr(p, "seed", None)]) for p in prompts
        ]

    def _cache(self) -> Any:
        """The request cache: ``cache_folder_path`` when given, else the workspace's."""
        from dreamer_lab.core.request_cache import request_cache_for

        return request_cache_for(self.backend_name, folder=self.cache_folder_path)

    def run(
        self,
        prompts: Iterable[str],
        max_new_tokens: int | None = None,
        temperature: float = 1.0,
        top_p: float = 0.0,
        n: int = 1,
        stop: str | list[str] | None = None,
        repetition_penalty: float | None = None,
        logit_bias: dict[int, float] | None = None,
        seed: int | None = None,
        batch_size: int = 10,
        batch_scheduler_buffer_size: int | None = None,
        adaptive_batch_size: bool = True,
        progress_interval: float | None = 60,
        force: bool = False,
        cache_only: bool = False,
        verbose: bool | None = None,
        log_level: int | None = None,
        total_num_prompts: int | None = None,
        return_generator: bool = False,
        **kwargs: Any,
    ) -> list[str | list[str]] | Iterator[str | list[str]]:
        """Generate for every prompt; a str per prompt (a list of ``n`` strs when ``n > 1``).

        ``top_p=0`` or ``temperature=0`` decode greedily. Requests are cached in the
        workspace (or ``cache_folder_path``): rerunning, or resuming after an interruption,
        sends only requests that are not cached yet (``force=True`` regenerates them all).

        Batching and progress (see :mod:`dreamer_lab.core.run_options`): local models sort
        the prompts by length within buffers of ``batch_scheduler_buffer_size`` (a buffer of
        ``batch_size`` keeps the given order) and halve a batch that runs out of memory
        unless ``adaptive_batch_size=False``; ``progress_interval`` seconds between progress
        log lines (``None``: none), ``verbose=False`` hides the bar and the lines,
        ``log_level`` sets the ``dreamer_lab`` logger for the call, and
        ``total_num_prompts`` must match the number of prompts.
        """
        step = kwargs.pop("_step", None)
        params = self._params(
            max_new_tokens, temperature, top_p, n, stop, repetition_penalty, logit_bias, kwargs
        )
        where = f"{self!r}.run()"
        options = RunOptions(
            batch_size,
            batch_scheduler_buffer_size,
            adaptive_batch_size,
            progress_interval,
            verbose,
            log_level,
        ).checked(where, StepInputError)
        prompts = collect(
            prompts, total_num_prompts, "total_num_prompts", "prompts", where, StepInputError
        )
        self._check_prompts(prompts, max_new_tokens)
        keys = self.request_keys(prompts, params, seed)
        cache = self._cache()
        found = {} if force else cache.get_many(keys)
        missing = self._missing(keys, prompts, seed, found, cache_only)
        usage = Usage(cached=len(keys) - sum(1 for k in keys if k in missing))
        self.last_usage = usage
        desc = f"{type(self).__name__} {self.model_name}"
        progress = options.progress(
            len(prompts), desc, "prompts", step, len(prompts) - len(missing)
        )

        def commit(values: dict[str, Any]) -> None:
            cache.put_many(values)
            found.update(values)
            for v in values.values():
                usage.requests += 1
                usage.add(v.get("u") or {})
            progress.update(len(values))

        try:
            if missing:
                self._generate_scheduled(list(missing.values()), params, options, commit)
        finally:
            self._finish_run(progress, usage, step)
        outputs = [found[k]["g"][0] if n == 1 else list(found[k]["g"]) for k in keys]
        return iter(outputs) if return_generator else outputs

    def _missing(
        self,
        keys: list[str],
        prompts: list[Any],
        seed: Any,
        found: dict[str, Any],
        cache_only: bool,
    ) -> dict[str, tuple[str, str, Any]]:
        """``key -> (key, prompt, row seed)`` of the requests not cached yet (each once)."""
        missing: dict[str, tuple[str, str, Any]] = {}
        for k, p in zip(keys, prompts, strict=True):
            if k not in found and k not in missing:
                row_seed = [seed, getattr(p, "seed", None)]
                missing[k] = (k, str(p), row_seed)
        if missing and cache_only:
            raise LLMError(
                f"{self!r}: {len(missing)} of {len(keys)} requests are not cached and "
                "cache_only=True. Run without cache_only to generate them."
            )
        return missing

    def _prompt_length(self, prompt: str) -> int:
        """What batches of similar length compare: the rendered prompt's characters
        (backends with a tokenizer count its tokens, what padding is made of)."""
        return len(self._full_prompt(prompt))

    def _generate_scheduled(
        self,
        todo: list[tuple[str, str, Any]],
        params: dict[str, Any],
        options: RunOptions,
        commit: Callable[[dict[str, Any]], None],
    ) -> None:
        """Generate ``todo`` in the order and batches ``options`` schedule."""
        if self.sorts_prompts_by_length:  # longest first in each buffer
            todo = options.schedule(todo, lambda it: -self._prompt_length(it[1]))
        executor = session_executor()  # DataDreamer(executor="ray"): batches on actors
        with options.scope(StepInputError):
            if executor is not None and executor.handles(self):
                executor.generate(self, todo, params, options, commit)
                return
            self._generate_missing(
                todo, params, options.batch_size, commit, options.adaptive_batch_size
            )

    def _finish_run(self, progress: Any, usage: Usage, step: Any) -> None:
        """Close the progress bar, add up the usage and put it on the step's data card."""
        progress.close()
        self._add_usage(usage)
        if step is not None:
            step.register_data_card("Usage", usage.to_dict())

    def _add_usage(self, u: Usage) -> None:
        total = self.usage
        total.requests += u.requests
        total.cached += u.cached
        total.prompt_tokens += u.prompt_tokens
        total.completion_tokens += u.completion_tokens
        total.retries += u.retries
        total.estimated_tokens |= u.estimated_tokens
        total.cost = None if (u.cost is None or total.cost is None) else total.cost + u.cost

    def dry_run(
        self,
        prompts: Iterable[str],
        max_new_tokens: int | None = None,
        n: int = 1,
        show: int = 3,
        **run_kwargs: Any,
    ) -> DryRunReport:
        """Render and validate prompts and estimate tokens and cost; calls no model."""
        prompts = list(prompts)
        params = self._params(
            max_new_tokens,
            run_kwargs.pop("temperature", 1.0),
            run_kwargs.pop("top_p", 0.0),
            n,
            run_kwargs.pop("stop", None),
            run_kwargs.pop("repetition_penalty", None),
            run_kwargs.pop("logit_bias", None),
            {k: v for k, v in run_kwargs.items() if k != "seed"},
        )
        self._check_prompts(prompts, max_new_tokens)
        keys = self.request_keys(prompts, params, run_kwargs.get("seed"))
        found = self._cache().get_many(keys)
        todo = {k: p for k, p in zip(keys, prompts, strict=True) if k not in found}
        notes = []
        prompt_tokens = sum(self.count_tokens(self._full_prompt(p)) for p in todo.values())
        if max_new_tokens is None:
            per = self._default_completion_estimate()
            notes.append(f"max_new_tokens is not set: completions estimated at {per} tokens each.")
        else:
            per = max_new_tokens
        completion_tokens = per * n * len(todo)
        cost = self._price(prompt_tokens, completion_tokens)
        return DryRunReport(
            model=repr(self),
            num_prompts=len(prompts),
            num_cached=len(prompts) - len(todo),
            first_prompts=[self._full_prompt(p) for p in prompts[:show]],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            notes=notes,
        )

    def _full_prompt(self, prompt: str) -> str:
        """The text the model actually sees (chat template and system prompt applied)."""
        if self.system_prompt:
            return f"{self.system_prompt}\n\n{prompt}"
        return str(prompt)

    def _default_completion_estimate(self) -> int:
        u = self.usage
        if u.requests and u.completion_tokens:
            return max(1, round(u.completion_tokens / u.requests))
        return 256


def truncate_at_stop(text: str, stops: list[str]) -> str:
    """Cut ``text`` at the first stop sequence (the stop itself is removed)."""
    cut = len(text)
    for s in stops:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


def jittered_backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap, base * (2**attempt)))
