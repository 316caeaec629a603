"""Shared machinery of the prompting steps: the LLM argument, generation keyword
arguments, ``{column}`` templates checked before any model call, card fragments and the
dry run."""

from __future__ import annotations

import contextvars
import re
from typing import Any, ClassVar

from dreamer_lab.core.fingerprint import hash_value
from dreamer_lab.errors import StepInputError
from dreamer_lab.steps.step import DataCardType, Step

# Keyword arguments a prompting step forwards to ``LLM.run`` (besides its own args).
GENERATION_KWARGS = frozenset(
    {
        "max_new_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "repetition_penalty",
        "logit_bias",
        "seed",
        "batch_size",
        "batch_scheduler_buffer_size",
        "adaptive_batch_size",
        "cache_only",
        "response_format",
        "on_invalid_output",
    }
)
_NOT_IN_FINGERPRINT = {
    "batch_size",
    "batch_scheduler_buffer_size",
    "adaptive_batch_size",
    "cache_only",
}

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")

_DRY_RUN: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "dreamer_lab_dry_run", default=None
)


def template_variables(template: str) -> list[str]:
    """``{name}`` placeholders in ``template`` (``{{`` and ``}}`` are literal braces)."""
    return list(dict.fromkeys(m.group(1) for m in _VAR.finditer(template) if m.group(1)))


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders; other braces (e.g. JSON examples) are kept as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        return str(values[m.group(1)])

    return _VAR.sub(sub, template)


LAZY_HELP = (
    "Stream the output (an OutputIterableDataset): the LLM runs on chunks of rows as they "
    "are read, through its request cache (a second pass sends no request)."
)
_LAZY_CHUNK = 10  # prompts per chunk when streaming (LLM.run's default batch size)


class PromptStepBase(Step):
    """Base of the steps that prompt an LLM. Subclasses implement ``_prompts()`` (the
    rendered prompts) and ``_rows(prompts, generations)`` (the output)."""

    #: Registered args forwarded to ``LLM.run`` as generation parameters.
    generation_args: ClassVar[tuple[str, ...]] = ("max_new_tokens",)
    citation: ClassVar[str | None] = None

    def _register_llm_arg(self) -> None:
        self.register_arg(
            "llm",
            required=False,
            help="The LLM to use (default: the embedded SmolLM2 model).",
        )

    def _register_optional_args(self) -> None:
        self.register_arg(
            "post_process", required=False, help="A function applied to each generation."
        )
        self.register_arg(
            "lazy",
            required=False,
            default=False,
            help=LAZY_HELP,
        )

    # -- binding: generation kwargs, default model, templates -----------------------------
    def _bind_args(self, args: dict[str, Any]) -> dict[str, Any]:
        known = {k: v for k, v in args.items() if k in self._arg_specs}
        extra = {k: v for k, v in args.items() if k not in self._arg_specs}
        bound = super()._bind_args(known)
        if not isinstance(bound.get("lazy", False), bool):
            raise StepInputError(
                f"{self._where()}: lazy must be True or False, got {bound['lazy']!r}."
            )
        llm = bound.get("llm")
        if llm is None:
            from dreamer_lab.llms import default_llm

            llm = bound["llm"] = default_llm()
        from dreamer_lab.llms.base import LLM

        if not isinstance(llm, LLM):
            raise StepInputError(
                f"{self._where()}: 'llm' must be an LLM such as "
                "dreamer_lab.llms.HFTransformers('smollm2') or OpenAI('gpt-4o-mini'), not a "
                f"{type(llm).__name__}."
            )
        allowed = GENERATION_KWARGS | llm.extra_generation_kwargs
        unknown = sorted(set(extra) - allowed)
        if unknown:
            raise StepInputError(
                f"{self._where()}: unknown argument(s) {unknown}. Valid arguments: "
                f"{list(self._arg_specs)}, plus LLM generation arguments "
                f"{sorted(allowed)}."
            )
        self.gen_kwargs = extra
        self.args = bound
        self._bind_structured_output(llm)
        self._validate()
        return bound

    def _bind_structured_output(self, llm: Any) -> None:
        """Check ``response_format`` / ``on_invalid_output`` before any call. Backends that
        accept ``response_format`` constrain decoding; for the others it is only validated
        after generation (see :mod:`dreamer_lab.llms.structured`)."""
        from dreamer_lab.llms.structured import normalize_response_format

        self._response_format = normalize_response_format(
            self.gen_kwargs.get("response_format"), self._where()
        )
        self._constrained = "response_format" in llm.extra_generation_kwargs
        policy = self.gen_kwargs.get("on_invalid_output", "raise")
        if policy not in ("raise", "null"):
            raise StepInputError(
                f"{self._where()}: on_invalid_output must be 'raise' (stop and list the "
                f"invalid rows) or 'null' (store None for them), got {policy!r}."
            )

    def _validate(self) -> None:
        """Check templates and inputs before any model call (subclasses extend)."""

    def _check_template(self, template: str | None, columns: list[str], what: str) -> None:
        if not template:
            return
        missing = [v for v in template_variables(template) if v not in columns]
        if missing:
            raise StepInputError(
                f"{self._where()}: the {what} uses {', '.join('{' + m + '}' for m in missing)} "
                f"but no column provides it. Available columns: {columns}. Rename the "
                "placeholder, add the column, or write literal braces as {{ and }}."
            )

    def _fingerprint_extra(self) -> dict[str, str]:
        gen = {k: v for k, v in self.gen_kwargs.items() if k not in _NOT_IN_FINGERPRINT}
        return {"generation": hash_value(gen, label=f"generation arguments of {self._where()}")}

    # -- running -------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        return self.args["llm"]

    def _run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``LLM.run`` (what this LLM accepts)."""
        kw = {k: self.args[k] for k in self.generation_args if self.args.get(k) is not None}
        kw.update(self.gen_kwargs)
        kw.pop("on_invalid_output", None)
        if not getattr(self, "_constrained", True):
            kw.pop("response_format", None)
        return kw

    def _prompts(self) -> list[str]:
        raise NotImplementedError

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        raise NotImplementedError

    def _register_cards(self) -> None:
        llm = self.llm
        self.register_data_card(DataCardType.MODEL_NAME, llm.model_name)
        if llm.model_card:
            self.register_data_card(DataCardType.MODEL_CARD, llm.model_card)
        if llm.license:
            self.register_data_card(DataCardType.LICENSE, llm.license)
        for c in llm.citation or []:
            self.register_data_card(DataCardType.CITATION, c)
        if self.citation:
            self.register_data_card(DataCardType.CITATION, self.citation)
        for name in ("instruction", "template"):
            if self.args.get(name):
                self.register_data_card(DataCardType.PROMPT, self.args[name])
        params = {k: v for k, v in self._run_kwargs().items() if k not in _NOT_IN_FINGERPRINT}
        self.register_data_card(DataCardType.PARAMETERS, params)
        if self._response_format is not None:
            self.register_data_card(
                "Structured Output",
                {
                    "response_format": self._response_format,
                    "enforcement": "constrained decoding by the backend, then validated"
                    if self._constrained
                    else "validated after generation (this backend cannot constrain decoding)",
                },
            )

    def _generate(self, prompts: list[str]) -> list[Any]:
        from dreamer_lab.llms.structured import StructuredOutputError

        try:
            gens = self.llm.run(
                prompts,
                progress_interval=self.progress_interval,
                verbose=self.verbose,
                _step=self,
                **self._run_kwargs(),
            )
        except StructuredOutputError as e:
            gens = e.generations  # validated below, with this step's policy
        if self._response_format is not None:
            gens = self._check_structured(list(gens))
        post = self.args.get("post_process")
        return [post(g) if g is not None else None for g in gens] if post is not None else gens

    def _check_structured(self, gens: list[Any]) -> list[Any]:
        """Validate every generation against ``response_format``: raise listing the invalid
        rows, or (``on_invalid_output='null'``) store ``None`` and record each row's error."""
        from dreamer_lab.llms.structured import (
            StructuredOutputError,
            check_generations,
            describe_errors,
        )

        errors = check_generations(gens, self._response_format)
        bad = [i for i, e in enumerate(errors) if e]
        if not bad:
            return gens
        if self.gen_kwargs.get("on_invalid_output", "raise") == "raise":
            how = (
                ""
                if self._constrained
                else f"{self.llm!r} cannot constrain decoding: describe the JSON in the "
                "prompt, use a stronger model, or a backend that honours response_format "
                "(OpenAI). "
            )
            raise StructuredOutputError(
                f"{self._where()}: {len(bad)} of {len(gens)} generations do not match "
                f"response_format:\n{describe_errors(errors)}\nThe generations are cached. "
                f"{how}Raise max_new_tokens for cut-off rows, or pass on_invalid_output='null' "
                "to keep the valid rows (invalid ones become None, errors go in the record).",
                gens,
                errors,
            )
        for i in bad:
            self.register_data_card("Structured Output Errors", {"row": i, "error": errors[i]})
        return [None if e else g for g, e in zip(gens, errors, strict=True)]

    #: The rows ``_rows`` builds (``_column``): all of them, or one lazy chunk.
    _span: slice = slice(None)

    def _column(self, name: str) -> list[Any]:
        """The input column ``name`` as a list, cut to the rows being built."""
        cache = self.__dict__.setdefault("_columns", {})
        if name not in cache:
            cache[name] = self.inputs[name].to_list()
        return cache[name][self._span]

    def _streams(self) -> bool:
        """Whether this run streams its output (``lazy=True``; subclasses may refuse)."""
        return bool(self.args.get("lazy"))

    def _lazy_num_rows(self, count: int) -> int | None:
        return count

    #: When streaming, build the prompts chunk by chunk from this input (its rows, cut by
    #: ``_column``), because building them calls a model (retrieval); else all up front.
    _prompts_per_chunk: ClassVar[str | None] = None

    def _chunk(self, prompts: list[str] | None, indices: list[int]) -> Any:
        """The output rows of ``indices`` (consecutive), generated now."""
        self._span = slice(indices[0], indices[-1] + 1)
        try:
            chunk = self._prompts() if prompts is None else [prompts[i] for i in indices]
            return self._rows(chunk, self._generate(chunk))
        finally:
            self._span = slice(None)

    def run(self) -> Any:
        self._register_cards()
        if not self._streams():
            prompts = self._prompts()
            return self._rows(prompts, self._generate(prompts))
        from dreamer_lab.steps.lazy import lazy_chunks

        if self._prompts_per_chunk:
            lazy_prompts = None
            count = len(self.inputs[self._prompts_per_chunk])
        else:
            lazy_prompts = self._prompts()
            count = len(lazy_prompts)
        return lazy_chunks(
            lambda: range(count),
            lambda idx: self._chunk(lazy_prompts, idx),
            self._lazy_num_rows(count),
            chunk_size=self.gen_kwargs.get("batch_size") or _LAZY_CHUNK,
        )

    # -- dry run -------------------------------------------------------------------------
    def _execute(self) -> None:
        reports = _DRY_RUN.get()
        if reports is None:
            super()._execute()
            return
        for parent in self.parents:
            parent.wait()
        kw = self._run_kwargs()
        reports.append(
            self.llm.dry_run(
                self._prompts(),
                max_new_tokens=kw.pop("max_new_tokens", None),
                n=kw.pop("n", 1),
                **{k: v for k, v in kw.items() if k not in _NOT_IN_FINGERPRINT},
            )
        )


def dry_run(step_class: type[PromptStepBase], *args: Any, **kwargs: Any) -> Any:
    """Build a prompting step without running it: render its prompts, validate them, and
    estimate tokens and cost for the whole step. Returns a ``DryRunReport``.

    ``dry_run(ProcessWithPrompt, "rewrite", inputs=..., args=...)`` takes the step's
    usual arguments. Nothing is generated or stored.
    """
    if not (isinstance(step_class, type) and issubclass(step_class, PromptStepBase)):
        raise StepInputError(
            f"dry_run() takes a prompting step class such as ProcessWithPrompt, not {step_class!r}."
        )
    reports: list[Any] = []
    token = _DRY_RUN.set(reports)
    try:
        step_class(*args, **kwargs)
    finally:
        _DRY_RUN.reset(token)
    return reports[0]


def labeled(label: str | None, value: Any) -> str:
    return f"{label} {value}" if label else str(value)
