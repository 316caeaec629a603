"""``%%dream`` and ``%dream``: the notebook front door to the step catalog.

``%%dream result = Kind(option=value, ...)`` runs a step (or trainer) and binds it to
``result``; ``%%dream`` alone memoizes an ordinary code cell; ``%dream status|ls|why|config|
steps|help`` inspect the workspace. The grammar is documented in :mod:`.parser`; every view
is a thin layer over the Python API, so a ``%%dream`` cell does exactly what the equivalent
Python call does.
"""

from __future__ import annotations

import ast
import difflib
import functools
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Int, Unicode, observe

from dreamer_lab.core.status import Status
from dreamer_lab.errors import DreamerError
from dreamer_lab.notebook.catalog import (
    TEMPLATE_INPUT,
    Options,
    is_step_class,
    options_for,
    resolve_kind,
)
from dreamer_lab.notebook.commands import (  # noqa: F401 - re-exported
    GENERAL_HELP,
    CommandsMixin,
    Report,
    _general_help,
)
from dreamer_lab.notebook.parser import (
    CodeLine,
    DreamSyntaxError,
    HelpLine,
    StepLine,
    parse_first_line,
)
from dreamer_lab.notebook.views import StepOutput, summarize

#: Generation cap of %%dream prompting cells that set no ``max_new_tokens`` (a small local
#: model left uncapped generates up to its context length: minutes per row on a CPU).
DEFAULT_MAX_NEW_TOKENS = 256


@magics_class
class DreamMagics(CommandsMixin, Magics):
    """The ``%dream`` line magic and ``%%dream`` cell magic."""

    default_llm = Unicode(
        "", config=True, help="Notebook variable used as llm= when a step needs one."
    )
    budget = Float(
        None,
        allow_none=True,
        config=True,
        help=(
            "Cost budget (USD) of %%dream cells from when it is set: the API LLMs the cells use "
            "(those with a max_cost, e.g. OpenAI) send no request that could exceed it."
        ),
    )
    show_widget = Bool(True, config=True, help="Show the interactive step view (anywidget).")
    max_new_tokens = Int(
        DEFAULT_MAX_NEW_TOKENS,
        allow_none=True,
        config=True,
        help=(
            "max_new_tokens of prompting steps in %%dream cells that do not set it (None: up "
            "to the model's context length, as in the Python API)."
        ),
    )

    def __init__(self, shell: Any = None, **kwargs: Any):
        super().__init__(shell, **kwargs)
        self._session: Any = None
        self.budget_spent = 0.0  # spent by %%dream cells since the budget was set

    @observe("budget")
    def _budget_changed(self, change: Any) -> None:
        self.budget_spent = 0.0  # a new budget starts from nothing spent

    def _within_budget(self, build: Any, values: dict[str, Any]) -> Any:
        """``build`` with the cell's API LLMs capped by what is left of ``budget``."""
        __tracebackhide__ = True
        if self.budget is None:
            return build()
        llms = _costed_llms(values.values())
        if not llms:
            return build()
        left = max(0.0, self.budget - self.budget_spent)
        saved = [(llm, llm.max_cost, llm.spent) for llm in llms]
        for llm, own, spent in saved:
            cap = spent + left / len(llms)  # several LLMs share what is left
            llm.max_cost = cap if own is None else min(own, cap)
        try:
            return build()
        except DreamerError as e:
            if "max_cost" not in str(e):
                raise
            spent = self.budget_spent + sum(llm.spent - sp for llm, _, sp in saved)
            try:
                explained = type(e)(
                    f"{e} (max_cost comes from `%dream config budget={self.budget:g}`: "
                    f"${spent:.4f} spent by %%dream cells so far. Raise it with "
                    "`%dream config budget=...`, or `budget=none` to remove it.)"
                )
            except Exception:  # noqa: BLE001 - an error class with other arguments
                raise e from None
            raise explained from e
        finally:
            for llm, own, spent in saved:
                self.budget_spent += llm.spent - spent
                llm.max_cost = own

    @property
    def ns(self) -> dict[str, Any]:
        return self.shell.user_ns

    # -- entry point ---------------------------------------------------------------------
    @line_cell_magic
    def dream(self, line: str, cell: str | None = None) -> Any:
        """Run a step cell, a memoized code cell, or a workspace command (see --help)."""
        __tracebackhide__ = True
        if cell is None:
            return self._command(line)
        parsed = parse_first_line(line)
        if isinstance(parsed, HelpLine):
            return self._help(parsed.topic)
        if isinstance(parsed, CodeLine):
            return self._code_cell(cell, parsed)
        return self._step_cell(parsed, cell)

    def _help(self, topic: str | None) -> None:
        if topic is None:
            print(_general_help())
        else:
            print(options_for(resolve_kind(topic, self.ns)).help_text())

    # -- memoized code cells -------------------------------------------------------------
    def _code_cell(self, cell: str, parsed: CodeLine) -> Any:
        __tracebackhide__ = True
        from IPython.display import display

        from dreamer_lab.notebook.cell_memo import run_cell

        result = run_cell(
            cell,
            self.ns,
            label=parsed.flags.name or None,
            force=parsed.flags.force,
            filename=self.shell.compile.cache(cell) if hasattr(self.shell, "compile") else "<c>",
        )
        if not parsed.flags.quiet:
            status = Status.CACHED if result.cache_hit else Status.COMPUTED
            if result.cache_hit:
                what = "cache hit: the cell was skipped" + (
                    f"; restored {', '.join(result.restored)}" if result.restored else ""
                )
            else:
                what = "ran the cell" + (
                    f"; saved {', '.join(result.saved)}" if result.saved else ""
                )
            if result.unsaved:
                what += (
                    f"; not saved (cannot be pickled, so missing after a cache hit): "
                    f"{', '.join(result.unsaved)}"
                )
            summary = summarize(None, label=result.label, status=status, seconds=result.seconds)
            summary.update(kind="cell", fingerprint=result.fingerprint, cache_hit=result.cache_hit)
            summary["why"] = what
            display(StepOutput(summary))
        return result.value

    # -- step cells ----------------------------------------------------------------------
    def _eval(self, node: ast.expr, what: str) -> Any:
        __tracebackhide__ = True
        code = compile(ast.Expression(node), "<%%dream first line>", "eval")
        try:
            return eval(code, self.ns)  # noqa: S307 - the user's own notebook expression
        except NameError as e:
            name = getattr(e, "name", None) or str(e)
            raise DreamSyntaxError(
                f"{what}: {name!r} is not defined in the notebook. Define it in an earlier "
                "cell (or check the spelling)."
            ) from None

    def _step_cell(self, parsed: StepLine, cell: str) -> None:
        __tracebackhide__ = True
        cls = resolve_kind(parsed.kind, self.ns)
        opts = options_for(cls)
        self._check_option_names(parsed, opts, self._llm_options(parsed, opts))
        values = {
            k: self._eval(v, f"option {k}={parsed.option_source(k)}")
            for k, v in parsed.options.items()
        }
        positional = (
            self._eval(parsed.positional[0], "the positional argument")
            if parsed.positional
            else None
        )
        label = values.pop("name", None) or parsed.target
        self._apply_defaults(opts, values)
        if opts.caps_generation() and "max_new_tokens" not in values and self.max_new_tokens:
            values["max_new_tokens"] = self.max_new_tokens
        if parsed.flags.force:
            values["force"] = True
        body = cell.strip()
        if opts.trainer:
            if body:
                raise DreamSyntaxError(
                    f"{cls.__name__} is a trainer and takes no cell body; pass its settings as "
                    "options on the first line (remove the body)."
                )
            build = functools.partial(self._build_trainer, cls, opts, values, label)
        else:
            self._apply_template(cls, opts, values, positional, body, label)
            build = functools.partial(self._build_step, cls, opts, values, label)
        build = functools.partial(self._within_budget, build, values)
        result = self._run_with_view(
            build, label, cls.__name__, quiet=parsed.flags.quiet, trainer=opts.trainer
        )
        self.ns[parsed.target] = result

    def _llm_options(self, parsed: StepLine, opts: Options) -> frozenset[str]:
        """The backend-specific generation options of the cell's LLM (``top_k`` ...)."""
        from dreamer_lab.notebook.catalog import llm_generation_options

        if not opts.generation:
            return frozenset()
        if "llm" in parsed.options:
            return llm_generation_options(self._eval(parsed.options["llm"], "option llm="))
        if self.default_llm in self.ns:
            return llm_generation_options(self.ns[self.default_llm])
        from dreamer_lab.llms.hf_transformers import HFTransformers  # the default model

        return llm_generation_options(HFTransformers)

    def _check_option_names(
        self, parsed: StepLine, opts: Options, extra: frozenset[str] = frozenset()
    ) -> None:
        valid = [*opts.all_names(), *sorted(extra)]
        for key in parsed.options:
            if key in valid or (not opts.probed and not opts.trainer):
                continue
            shown = [*opts.user_names(), *sorted(extra)]
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"Did you mean {close[0]}=? " if close else ""
            raise DreamSyntaxError(
                f"{opts.kind.__name__} has no option {key!r}. {hint}Its options: "
                f"{', '.join(shown)} (`%dream help {opts.kind.__name__}` explains them)."
            )

    def _apply_defaults(self, opts: Options, values: dict[str, Any]) -> None:
        accepts = set(opts.args) | set(opts.init) | set(opts.train)
        if "llm" in accepts and "llm" not in values and self.default_llm:
            if self.default_llm not in self.ns:
                raise DreamSyntaxError(
                    f"The default LLM is the variable {self.default_llm!r}, which is not defined."
                    " Define it, or change it with `%dream config llm=NAME`."
                )
            values["llm"] = self.ns[self.default_llm]

    def _apply_template(
        self,
        cls: type,
        opts: Options,
        values: dict[str, Any],
        positional: Any,
        body: str,
        label: str,
    ) -> None:
        from dreamer_lab.notebook.template import interpolate, render_row

        name = cls.__name__
        if positional is not None and not is_step_class(type(positional)):
            raise DreamSyntaxError(
                f"The positional argument of {name}(...) must be a step whose rows fill the "
                f"template, not a {type(positional).__name__}; pass other values as option=value."
            )
        columns = list(positional.output.column_names) if positional is not None else []
        if not body:
            if positional is not None:
                raise DreamSyntaxError(
                    f"{name}(...) was given the step {positional.name!r} to fill a template, but "
                    "the cell has no body. Write the template below the first line."
                )
            return
        target = opts.template_arg()
        where = f"{name} cell"
        if target is not None:
            if target in values:
                raise DreamSyntaxError(
                    f"The template is given twice: as {target}= and as the cell body. Keep one."
                )
            attributes = values.get("attributes")
            keep = set(columns) | set(opts.inputs)
            if isinstance(attributes, dict):
                keep |= set(map(str, attributes))
            hint = _keep_hint(opts, columns, attributes)
            values[target] = interpolate(body, keep, self.ns, where=where, keep_hint=hint)
            if positional is not None:
                # The positional step supplies the rows: its column feeds the first
                # required input not given as an option.
                for inp, spec in opts.inputs.items():
                    if spec.get("required") and inp not in values:
                        values[inp] = positional.output[inp if inp in columns else columns[0]]
                        break
            return
        if TEMPLATE_INPUT in opts.inputs:
            if TEMPLATE_INPUT in values:
                raise DreamSyntaxError(
                    f"The prompts are given twice: as {TEMPLATE_INPUT}= and as the cell body. "
                    "Keep one."
                )
            if positional is None:
                raise DreamSyntaxError(
                    f"{name} renders the template once per row: pass the step whose rows fill "
                    f"its {{column}} placeholders first, e.g. `%%dream out = {name}(questions, "
                    "llm=...)`."
                )
            hint = f"a column of {positional.name!r} (columns: {', '.join(columns)})"
            fmt = interpolate(body, set(columns), self.ns, where=where, keep_hint=hint)
            fn = functools.partial(render_row, template=fmt, column="prompt")
            rendered = positional.map(fn, remove_columns=columns, name=f"{label} / prompts")
            values[TEMPLATE_INPUT] = rendered.output["prompt"]
            return
        raise DreamSyntaxError(
            f"{name} takes no template, but the cell has a body. Remove the body (steps with an "
            "'instruction' or 'template' argument, or a 'prompts' input, use it)."
        )

    def _as_column(self, key: str, value: Any, kind: str) -> Any:
        if is_step_class(type(value)):
            cols = value.output.column_names
            if key in cols:
                return value.output[key]
            if len(cols) == 1:
                return value.output[cols[0]]
            raise DreamSyntaxError(
                f"Input {key}= of {kind} needs one column; {value.name!r} has {cols}. "
                f"Write {key}={value.name}.output[{cols[0]!r}]."
            )
        return value

    def _build_step(self, cls: type, opts: Options, values: dict[str, Any], label: str) -> Any:
        __tracebackhide__ = True
        inputs, args, kwargs = {}, {}, {}
        for k, v in values.items():
            if k in opts.inputs:
                inputs[k] = self._as_column(k, v, cls.__name__)
            elif k in opts.args or (k not in opts.init and (opts.generation or not opts.probed)):
                args[k] = v
            else:
                kwargs[k] = v
        if inputs:
            kwargs["inputs"] = inputs
        if args:
            kwargs["args"] = args
        return cls(name=label, **kwargs)

    def _build_trainer(self, cls: type, opts: Options, values: dict[str, Any], label: str) -> Any:
        __tracebackhide__ = True
        init = {k: v for k, v in values.items() if k in opts.init}
        train = {k: v for k, v in values.items() if k not in opts.init}
        if "name" in opts.init:
            init["name"] = label
        trainer = cls(**init)
        trainer.train(**train)
        return trainer

    def _run_with_view(
        self, build: Any, label: str, kind: str, *, quiet: bool, trainer: bool = False
    ) -> Any:
        __tracebackhide__ = True
        from dreamer_lab.notebook.running import run_with_view

        return run_with_view(
            build, label, kind, quiet=quiet, show_widget=self.show_widget, trainer=trainer
        )


def _keep_hint(opts: Options, columns: list[str], attributes: Any) -> str:
    """What a kept ``{placeholder}`` may name, listing the names (for a missing one)."""
    parts = []
    if opts.inputs:
        parts.append(f"an input ({', '.join(opts.inputs)})")
    if columns:
        parts.append(f"a column ({', '.join(columns)})")
    if isinstance(attributes, dict):
        parts.append(f"an attribute ({', '.join(map(str, attributes))})")
    return " or ".join(parts) or "a column"


def _costed_llms(values: Any) -> list[Any]:
    """The LLMs among option values that keep a cost budget (``max_cost`` and ``spent``,
    e.g. ``OpenAI``), including the backends of a ``ParallelLLM``."""
    out: list[Any] = []
    for value in values:
        for llm in [value, *(getattr(value, "llms", None) or [])]:
            costed = hasattr(llm, "max_cost") and hasattr(llm, "spent")
            if costed and not any(llm is seen for seen in out):
                out.append(llm)
    return out
