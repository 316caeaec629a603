"""Prompting steps (DataDreamer's names, arguments and output columns).

``{column}`` placeholders in an ``instruction`` (ProcessWithPrompt, FilterWithPrompt,
RankWithPrompt) or a ``template`` (Prompt) are filled from the columns of the step that
produced ``inputs``/``prompts``; an unknown placeholder is an error before any model call.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

from dreamer_lab.core.citations import LLM_JUDGE_CITATION
from dreamer_lab.errors import StepInputError
from dreamer_lab.llms.base import PromptWithSeed
from dreamer_lab.steps.judge_base import JudgeStepBase
from dreamer_lab.steps.prompt_base import (
    PromptStepBase,
    labeled,
    render_template,
    template_variables,
)


def _input_columns(step: PromptStepBase, name: str) -> list[str]:
    col = step.inputs.get(name)
    return col.step.output.column_names if col is not None else []


def _input_rows(step: PromptStepBase, name: str, template: str | None) -> list[dict[str, Any]]:
    """Per-row values of the placeholders ``template`` uses, from the input's step."""
    col = step.inputs[name]
    names = template_variables(template or "")
    if not names:
        return [{} for _ in range(len(col))]
    data = col.step.output.dataset.select_columns(names)
    return data.to_list()


class Prompt(PromptStepBase):
    """Runs a set of prompts through an LLM.

    Inputs: ``prompts``. Args: ``llm``, ``post_process``, ``lazy``, any ``LLM.run``
    argument, and (dreamer_lab) ``template``: a prompt with ``{column}`` placeholders
    rendered per row from the step that produced ``prompts`` (``{prompts}`` is the input).
    Outputs: ``prompts``, ``generations``.
    """

    def setup(self) -> None:
        self.register_input("prompts", help="The prompts to process with the LLM.")
        self._register_llm_arg()
        self.register_arg("template", required=False, help="A prompt template ({column}).")
        self._register_optional_args()
        self.register_output("prompts")
        self.register_output("generations")

    def _validate(self) -> None:
        cols = [*_input_columns(self, "prompts"), "prompts"]
        self._check_template(self.args.get("template"), cols, "template")

    def _prompts(self) -> list[str]:
        prompts = self.inputs["prompts"].to_list()
        template = self.args.get("template")
        if not template:
            return prompts
        rows = _input_rows(self, "prompts", template.replace("{prompts}", ""))
        return [
            render_template(template, {**r, "prompts": p})
            for r, p in zip(rows, prompts, strict=True)
        ]

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {"prompts": [str(p) for p in prompts], "generations": generations}


class DataFromPrompt(PromptStepBase):
    """Generates ``n`` rows from one instruction (each row is a separate request with its
    own seed). Args: ``llm``, ``instruction``, ``n``, ``temperature`` (1.0), ``top_p``
    (1.0), ``post_process``, ``lazy``, ``LLM.run`` arguments. Outputs: ``prompts``,
    ``generations``."""

    generation_args = ("max_new_tokens", "temperature", "top_p")

    def setup(self) -> None:
        self._register_llm_arg()
        self.register_arg("instruction", help="The instruction to generate data from.")
        self.register_arg("n", help="The number of rows to generate.")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("temperature", required=False, default=1.0)
        self.register_arg("top_p", required=False, default=1.0)
        self._register_optional_args()
        self.register_output("prompts")
        self.register_output("generations")

    def _validate(self) -> None:
        n = self.args["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise StepInputError(f"{self._where()}: n must be a positive integer, got {n!r}.")
        if not isinstance(self.args["instruction"], str):
            raise StepInputError(f"{self._where()}: instruction must be a str.")

    def _prompts(self) -> list[str]:
        return [PromptWithSeed(self.args["instruction"], i) for i in range(self.args["n"])]

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {"prompts": [str(p) for p in prompts], "generations": generations}


_ATTRIBUTE = re.compile(r"\{([A-Za-z0-9:_.]+)\}")


def attribute_names(instruction: str) -> list[str]:
    """The ``{name}`` attributes of an attributed instruction, as DataDreamer reads them
    (names of letters, digits, ``_``, ``:`` and ``.``; ``{{``/``}}`` are not openers)."""
    parts = re.split(r"\{\{|\}\}", instruction)
    return [name for part in parts for name in _ATTRIBUTE.findall(part)]


def fill_attributes(instruction: str, values: dict[str, Any]) -> str:
    """Replace every ``{name}`` of ``values`` with ``str(value)`` in one pass; other text,
    doubled braces included, is sent as written (so prompts equal DataDreamer's)."""
    if not values:
        return instruction
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: str(values[m.group(0)[1:-1]]), instruction)


class DataFromAttributedPrompt(PromptStepBase):
    """Generates ``n`` rows from an instruction with ``{attribute}`` placeholders, cycling
    through attribute combinations (AttrPrompt). ``attributes`` is a dict of lists (all
    combinations) or a list of dicts (exactly those). Outputs: ``attributes``, ``prompts``,
    ``generations``."""

    generation_args = ("max_new_tokens", "temperature", "top_p")
    citation = (
        "@article{yu2023large,\n  title={Large language model as attributed training data "
        "generator: A tale of diversity and bias},\n  author={Yu, Yue and others},\n"
        "  journal={arXiv preprint arXiv:2306.15895},\n  year={2023}\n}"
    )

    def setup(self) -> None:
        self._register_llm_arg()
        self.register_arg("instruction", help="The instruction with {attribute} placeholders.")
        self.register_arg("attributes", help="A dict of lists, or a list of dicts.")
        self.register_arg("n", help="The number of rows to generate.")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("temperature", required=False, default=1.0)
        self.register_arg("top_p", required=False, default=1.0)
        self._register_optional_args()
        self.register_output("attributes")
        self.register_output("prompts")
        self.register_output("generations")

    def _combinations(self) -> list[dict[str, Any]]:
        attrs = self.args["attributes"]
        if isinstance(attrs, dict):
            for k, v in attrs.items():
                if isinstance(v, str) or not hasattr(v, "__iter__"):
                    raise StepInputError(
                        f"{self._where()}: attribute {k!r} must be a list of values, got "
                        f"{type(v).__name__}."
                    )
            keys = list(attrs)
            return [
                dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(list(attrs[k]) for k in keys))
            ]
        if isinstance(attrs, list) and all(isinstance(a, dict) for a in attrs):
            return list(attrs)
        raise StepInputError(
            f"{self._where()}: attributes must be a dict of lists or a list of dicts, got "
            f"{type(attrs).__name__}."
        )

    def _validate(self) -> None:
        n = self.args["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise StepInputError(f"{self._where()}: n must be a positive integer, got {n!r}.")
        combos = self._combinations()
        if not combos:
            raise StepInputError(f"{self._where()}: attributes give no combination.")
        names = attribute_names(self.args["instruction"])
        for combo in combos:
            if set(combo) != set(names):
                raise StepInputError(
                    f"{self._where()}: the instruction uses placeholders {names} but an "
                    f"attribute combination has {sorted(combo)}. Every placeholder needs an "
                    "attribute and every attribute a placeholder."
                )

    def _prompts(self) -> list[str]:
        combos = self._combinations()
        counter: Counter[int] = Counter()
        prompts = []
        self._row_attrs = []
        for _, idx in zip(range(self.args["n"]), itertools.cycle(range(len(combos)))):
            combo = combos[idx]
            text = fill_attributes(self.args["instruction"], combo)
            prompts.append(PromptWithSeed(text, counter[idx]))
            counter[idx] += 1
            self._row_attrs.append(combo)
        return prompts

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {
            "attributes": self._row_attrs[self._span],
            "prompts": [str(p) for p in prompts],
            "generations": generations,
        }


class ProcessWithPrompt(PromptStepBase):
    """Processes each input with an instruction. Inputs: ``inputs``. Args: ``llm``,
    ``instruction``, ``input_label`` ("Input:"), ``instruction_label`` ("Instruction:"),
    ``max_new_tokens``, ``sep`` ("\\n\\n"), ``post_process``, ``lazy``. Outputs:
    ``inputs``, ``prompts``, ``generations``."""

    default_sep = "\n\n"

    def setup(self) -> None:
        self.register_input("inputs", help="The inputs to process with the LLM.")
        self._register_llm_arg()
        self._register_instruction_args()
        self._register_optional_args()
        self._register_outputs()

    def _register_instruction_args(self) -> None:
        self.register_arg("instruction", help="How to process each input ({column} allowed).")
        self.register_arg("input_label", required=False, default="Input:")
        self.register_arg("instruction_label", required=False, default="Instruction:")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("sep", required=False, default=self.default_sep)

    def _register_outputs(self) -> None:
        self.register_output("inputs")
        self.register_output("prompts")
        self.register_output("generations")

    def _validate(self) -> None:
        if not isinstance(self.args["instruction"], str):
            raise StepInputError(f"{self._where()}: instruction must be a str.")
        self._check_template(
            self.args["instruction"], _input_columns(self, "inputs"), "instruction"
        )

    def _prompts(self) -> list[str]:
        a = self.args
        rows = _input_rows(self, "inputs", a["instruction"])
        out = []
        for value, row in zip(self.inputs["inputs"].to_list(), rows, strict=True):
            instruction = render_template(a["instruction"], row)
            out.append(
                self.llm.format_prompt(
                    max_new_tokens=a["max_new_tokens"],
                    beg_instruction=labeled(a["input_label"], value),
                    end_instruction=labeled(a["instruction_label"], instruction),
                    sep=a["sep"],
                )
            )
        return out

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {
            "inputs": self._column("inputs"),
            "prompts": prompts,
            "generations": generations,
        }


def _source_columns(step: PromptStepBase, extra: tuple[str, ...] = ()) -> list[str]:
    """The columns of the step producing ``inputs`` (a lazy output's names)."""
    names = [c for c in _input_columns(step, "inputs") if c not in extra]
    return [*names, *extra]


def _yes(generation: Any) -> bool:
    """DataDreamer's default filter: the generation says "yes" (any case) as a word."""
    return bool(re.search(r"\byes\W*\b", str(generation), re.IGNORECASE))


class FilterWithPrompt(ProcessWithPrompt):
    """Keeps the rows of the step producing ``inputs`` for which ``filter_func`` of the
    generation is true (default: the generation says "yes"). Output: all of that step's
    columns, filtered (``lazy=True``: filtered as the rows are read)."""

    citation = LLM_JUDGE_CITATION

    def setup(self) -> None:
        self.register_input("inputs", help="The inputs to filter.")
        self._register_llm_arg()
        self._register_instruction_args()
        self.register_arg(
            "filter_func",
            required=False,
            help="A function generation -> bool: keep the row?",
            default_help="keep rows whose generation says 'yes'",
        )
        self._register_optional_args()
        self.register_output("*columns", help="All columns of the step producing 'inputs'.")

    def _output_names(self) -> list[str] | None:
        return _source_columns(self) if self._streams() else None

    def _lazy_num_rows(self, count: int) -> int | None:
        return None  # unknown until the filter has run

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        keep = self.args.get("filter_func") or _yes
        start = self._span.start or 0
        idx = [start + i for i, g in enumerate(generations) if keep(g)]
        return self.inputs["inputs"].step.output.dataset.select(idx)


def _parse_score(generation: Any) -> float | int | None:
    """DataDreamer's score: the first run of digits and dots ("7", "8.5", "4." -> 4.0);
    None when there is none (or it is only dots)."""
    m = re.search(r"[0-9.]+", str(generation))
    if m is None:
        return None
    text = m.group()
    try:
        return float(text) if "." in text else int(text)
    except ValueError:  # "." or "1.2.3": DataDreamer fails here; the row gets no score
        return None


class RankWithPrompt(ProcessWithPrompt):
    """Scores each input with an instruction (the first number in the generation), then
    optionally sorts (``sort``, ``reverse``) and filters (``score_threshold``) the rows of
    the step producing ``inputs``. Outputs: that step's columns plus ``scores``.
    ``lazy=True`` streams only with ``sort=False``: sorting needs every score, so a sorted
    output is computed whole (as DataDreamer's sort of a lazy output)."""

    citation = LLM_JUDGE_CITATION

    def setup(self) -> None:
        self.register_input("inputs", help="The inputs to score.")
        self._register_llm_arg()
        self._register_instruction_args()
        self.register_arg("sort", required=False, default=True)
        self.register_arg("reverse", required=False, default=True)
        self.register_arg("score_threshold", required=False)
        self._register_optional_args()
        self.register_output("*columns", help="All columns of the step producing 'inputs'.")
        self.register_output("scores", help="The score parsed from each generation.")

    def _output_names(self) -> list[str] | None:
        return _source_columns(self, ("scores",)) if self._streams() else None

    def _streams(self) -> bool:
        # Sorting needs every score: the output is then computed whole (as DataDreamer's
        # sort of a lazy output); unsorted rows stream, filtered by the threshold.
        return super()._streams() and not self.args["sort"]

    def _lazy_num_rows(self, count: int) -> int | None:
        return None if self.args.get("score_threshold") is not None else count

    def _generate(self, prompts: list[str]) -> list[Any]:
        gens = self.llm.run(prompts, verbose=self.verbose, _step=self, **self._run_kwargs())
        post = self.args.get("post_process")
        return [_parse_score(post(g) if post else g) for g in gens]

    def _rows(self, prompts: list[str], scores: list[Any]) -> Any:
        ds = self.inputs["inputs"].step.output.dataset
        if self._span != slice(None):
            ds = ds.select(range(self._span.start, self._span.stop))
        if "scores" in ds.column_names:
            ds = ds.remove_columns(["scores"])
        ds = ds.add_column("scores", scores)
        order = list(range(len(scores)))
        if self.args["sort"]:
            missing = float("-inf") if self.args["reverse"] else float("inf")
            order.sort(
                key=lambda i: scores[i] if scores[i] is not None else missing,
                reverse=self.args["reverse"],
            )
        threshold = self.args.get("score_threshold")
        if threshold is not None:
            order = [i for i in order if scores[i] is not None and scores[i] >= threshold]
        return ds.select(order)


class FewShotPrompt(PromptStepBase):
    """Processes inputs with in-context examples. Inputs: ``input_examples``,
    ``output_examples``, ``inputs``. Args: ``llm``, ``input_label`` ("Input:"),
    ``output_label`` ("Output:"), ``max_new_tokens``, ``instruction``, ``sep`` ("\\n"),
    ``min_in_context_examples``, ``max_in_context_examples``. Outputs: ``inputs``,
    ``prompts``, ``generations``."""

    citation = (
        "@inproceedings{Radford2019LanguageMA,\n  title={Language Models are Unsupervised "
        "Multitask Learners},\n  author={Alec Radford and others},\n  year={2019}\n}"
    )

    def setup(self) -> None:
        self.register_input("input_examples", help="In-context example inputs.")
        self.register_input("output_examples", help="In-context example outputs.")
        self.register_input("inputs", help="The inputs to process.")
        self._register_llm_arg()
        self.register_arg("input_label", required=False, default="Input:")
        self.register_arg("output_label", required=False, default="Output:")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("instruction", required=False)
        self.register_arg("sep", required=False, default="\n")
        self.register_arg("min_in_context_examples", required=False)
        self.register_arg("max_in_context_examples", required=False)
        self._register_optional_args()
        self.register_output("inputs")
        self.register_output("prompts")
        self.register_output("generations")

    def _bind_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        # Examples and inputs are different rows: only the two example columns must align.
        specs = self._input_specs
        unknown = [k for k in inputs if k not in specs]
        if unknown:
            raise StepInputError(
                f"{self._where()}: unknown input(s) {unknown}. This step's inputs are "
                f"{list(specs)}."
            )
        try:
            self._input_specs = {k: v for k, v in specs.items() if k != "inputs"}
            examples = super()._bind_inputs({k: v for k, v in inputs.items() if k != "inputs"})
            self._input_specs = {"inputs": specs["inputs"]}
            main = super()._bind_inputs({k: v for k, v in inputs.items() if k == "inputs"})
        finally:
            self._input_specs = specs
        return {**examples, **main}

    def _prompts(self) -> list[str]:
        a = self.args
        sep = a["sep"]
        ins = self.inputs["input_examples"].to_list()
        outs = self.inputs["output_examples"].to_list()
        examples = [
            labeled(a["input_label"], i) + sep + labeled(a["output_label"], o)
            for i, o in zip(ins, outs, strict=True)
        ]
        beg = a["instruction"] + sep if a["instruction"] is not None else None
        return [
            self.llm.format_prompt(
                max_new_tokens=a["max_new_tokens"],
                beg_instruction=beg,
                in_context_examples=examples,
                end_instruction=labeled(a["input_label"], x) + sep + (a["output_label"] or ""),
                sep=sep,
                min_in_context_examples=a["min_in_context_examples"],
                max_in_context_examples=a["max_in_context_examples"],
            )
            for x in self.inputs["inputs"].to_list()
        ]

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        return {
            "inputs": self._column("inputs"),
            "prompts": prompts,
            "generations": generations,
        }


class JudgePairsWithPrompt(JudgeStepBase):
    """Judges between pairs ``a``/``b`` with an LLM (order randomized against position
    bias). Outputs: ``a``, ``b``, ``judge_prompts``, ``judge_generations``,
    ``judgements`` ("Input A" / "Input B")."""

    def setup(self) -> None:
        self.register_input("a", help="Items to judge between.")
        self.register_input("b", help="Items to judge between.")
        self._register_judge()


class JudgeGenerationPairsWithPrompt(JudgeStepBase):
    """Judges between generations ``a``/``b`` produced for ``prompts``. Outputs:
    ``prompts``, ``a``, ``b``, ``judge_prompts``, ``judge_generations``, ``judgements``
    ("Response A" / "Response B")."""

    has_prompts = True
    item = "response"

    def setup(self) -> None:
        self.register_input("prompts", help="The prompts that produced 'a' and 'b'.")
        self.register_input("a", help="Generations to judge between.")
        self.register_input("b", help="Generations to judge between.")
        self._register_judge()


__all__ = [
    "Prompt",
    "DataFromPrompt",
    "DataFromAttributedPrompt",
    "ProcessWithPrompt",
    "FilterWithPrompt",
    "RankWithPrompt",
    "FewShotPrompt",
    "JudgePairsWithPrompt",
    "JudgeGenerationPairsWithPrompt",
]
