"""The shared part of the pairwise judge steps (``JudgePairsWithPrompt``,
``JudgeGenerationPairsWithPrompt`` in :mod:`dreamer_lab.steps.prompt_steps`)."""

from __future__ import annotations

from random import Random
from typing import Any

from dreamer_lab.core.citations import LLM_JUDGE_CITATION
from dreamer_lab.steps.prompt_base import PromptStepBase, labeled


class JudgeStepBase(PromptStepBase):
    """Pairwise LLM judges: which of two responses is better, optionally with the prompt,
    in a random (seeded) order; subclasses register their inputs."""

    citation = LLM_JUDGE_CITATION
    has_prompts = False
    #: What is judged: "input" (JudgePairsWithPrompt) or "response" (generation pairs);
    #: it names the default labels ("Input A:") and the default instruction.
    item = "input"

    def _register_judge(self) -> None:
        word = self.item.capitalize()
        la, lb = f"{word} A", f"{word} B"
        self._register_llm_arg()
        self.register_arg(
            "instruction",
            required=False,
            help="An instruction that describes how to judge the input.",
            default_help=repr(self._default_instruction(la, lb)),
        )
        self.register_arg(
            "judgement_func",
            required=False,
            help="A function (generation, swapped) -> judgement.",
            default_help=f"the label ('{la}' / '{lb}') the generation names",
        )
        self.register_arg(
            "randomize_order",
            required=False,
            default=True,
            help="Randomly swap 'a' and 'b' in the prompt against position bias.",
        )
        if self.has_prompts:
            self.register_arg("prompt_label", required=False, default="Prompt:")
        self.register_arg("a_label", required=False, default=f"{la}:")
        self.register_arg("b_label", required=False, default=f"{lb}:")
        self.register_arg("instruction_label", required=False, default="Instruction:")
        self.register_arg("max_new_tokens", required=False)
        self.register_arg("sep", required=False, default="\n")
        self._register_optional_args()
        if self.has_prompts:
            self.register_output("prompts")
        self.register_output("a")
        self.register_output("b")
        self.register_output("judge_prompts")
        self.register_output("judge_generations")
        self.register_output("judgements")

    def _labels(self) -> tuple[str, str]:
        return self.args["a_label"].strip(":"), self.args["b_label"].strip(":")

    def _default_instruction(self, la: str, lb: str) -> str:
        return f"Which {self.item} is better? Respond with '{la}' or '{lb}'."

    def _swaps(self, count: int) -> list[bool]:
        rng = Random(1)
        return [
            rng.randint(0, 1) == 1 if self.args["randomize_order"] else False for _ in range(count)
        ]

    def _prompts(self) -> list[str]:
        a = self.args
        sep = a["sep"]
        la, lb = self._labels()
        instruction = a["instruction"]
        if instruction is None:
            instruction = self._default_instruction(la, lb)
        xs, ys = self.inputs["a"].to_list(), self.inputs["b"].to_list()
        ps = self.inputs["prompts"].to_list() if self.has_prompts else [None] * len(xs)
        out = []
        for p, x, y, swap in zip(ps, xs, ys, self._swaps(len(xs)), strict=True):
            if swap:
                x, y = y, x
            body = labeled(a["a_label"], x) + sep + sep + labeled(a["b_label"], y)
            if p is not None:
                body = labeled(a["prompt_label"], p) + sep + sep + body
            out.append(
                self.llm.format_prompt(
                    max_new_tokens=a["max_new_tokens"],
                    beg_instruction=body,
                    end_instruction=sep + labeled(a["instruction_label"], instruction),
                    sep=sep,
                )
            )
        return out

    def _rows(self, prompts: list[str], generations: list[Any]) -> Any:
        la, lb = self._labels()
        if not self._span.start:  # the first rows: a new pass starts the same draws again
            self._judge_rng = Random(0)
        rng = self._judge_rng

        def default(gen: str, swapped: bool) -> str:
            if la in gen and lb not in gen:
                j = la
            elif lb in gen and la not in gen:
                j = lb
            else:
                j = lb if rng.randint(0, 1) else la
            if swapped:
                j = la if j == lb else lb
            return j

        judge = self.args.get("judgement_func") or default
        swaps = self._swaps(len(self.inputs["a"]))[self._span]
        rows: dict[str, Any] = {}
        if self.has_prompts:
            rows["prompts"] = self._column("prompts")
        rows["a"] = self._column("a")
        rows["b"] = self._column("b")
        rows["judge_prompts"] = prompts
        rows["judge_generations"] = generations
        rows["judgements"] = [judge(g, s) for g, s in zip(generations, swaps, strict=True)]
        return rows
