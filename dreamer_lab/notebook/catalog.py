"""The step catalog as the magics see it: names resolved at run time, options introspected.

Nothing is hard-coded: a kind is looked up in the notebook namespace, then in
``dreamer_lab.steps``, then in ``dreamer_lab.trainers``, so steps and trainers added to
the library (or defined in a cell) work in ``%%dream`` cells without changes here.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from dreamer_lab.notebook.parser import DreamSyntaxError

CATALOG_MODULES = ("dreamer_lab.steps", "dreamer_lab.trainers")
# Constructor parameters handled by the magic itself.
_RESERVED = {"self", "inputs", "args", "outputs"}
# Registered arguments that receive the cell body, in order of preference.
TEMPLATE_ARGS = ("instruction", "template", "prompt_template", "prompt")
TEMPLATE_INPUT = "prompts"


def _step_base() -> type:
    from dreamer_lab.steps.step import Step

    return Step


def is_step_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, _step_base())


def is_trainer_class(obj: Any) -> bool:
    """A trainer: a class with ``train()`` from dreamer_lab.trainers (or a subclass of one)."""
    if not isinstance(obj, type) or is_step_class(obj) or not callable(getattr(obj, "train", None)):
        return False
    return any((c.__module__ or "").startswith("dreamer_lab.trainers") for c in obj.__mro__)


def _module(modname: str) -> Any:
    try:
        return importlib.import_module(modname)
    except Exception:  # noqa: BLE001 - a broken optional module must not break the magic
        return None


def _lookup(mod: Any, name: str) -> Any:
    """``getattr`` that survives lazy names whose module fails to import."""
    try:
        return getattr(mod, name, None)
    except Exception:  # noqa: BLE001
        return None


def catalog_names(user_ns: dict[str, Any] | None = None) -> list[str]:
    """Names of the kinds usable in ``%%dream``, without importing any of them (cheap)."""
    names: list[str] = []
    for modname in CATALOG_MODULES:
        mod = _module(modname)
        if mod is None:
            continue
        for name in getattr(mod, "__all__", None) or dir(mod):
            if name.startswith("_") or not name[:1].isupper() or name in _NOT_KINDS:
                continue
            obj = mod.__dict__.get(name)
            if obj is None or is_step_class(obj) or is_trainer_class(obj):
                names.append(name)
    for name, obj in (user_ns or {}).items():
        if not name.startswith("_") and (is_step_class(obj) or is_trainer_class(obj)):
            names.append(name)
    return [n for n in dict.fromkeys(names) if n != "Step"]


_NOT_KINDS = {"Step", "Trainer", "DataCardType", "ModelCardType", "OutputDataset", "OutputColumn"}


def catalog(user_ns: dict[str, Any] | None = None) -> dict[str, type]:
    """Every step/trainer kind usable in ``%%dream`` (imports each library kind)."""
    found: dict[str, type] = {}
    for name in catalog_names(user_ns):
        obj = (user_ns or {}).get(name)
        if obj is None:
            for modname in CATALOG_MODULES:
                mod = _module(modname)
                obj = _lookup(mod, name) if mod is not None else None
                if obj is not None:
                    break
        if is_step_class(obj) or is_trainer_class(obj):
            found[name] = obj
    return found


def resolve_kind(kind: str, user_ns: dict[str, Any]) -> type:
    """The class named ``kind`` (notebook first, then the library catalog)."""
    head, _, rest = kind.partition(".")
    obj: Any = None
    if head in user_ns:
        obj = user_ns[head]
        for part in rest.split(".") if rest else []:
            obj = getattr(obj, part, None)
    if obj is None and not rest:
        for modname in CATALOG_MODULES:
            mod = _module(modname)
            obj = _lookup(mod, kind) if mod is not None and kind not in _NOT_KINDS else None
            if obj is not None:
                break
    if obj is None:
        close = difflib.get_close_matches(kind, catalog_names(user_ns), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DreamSyntaxError(
            f"Unknown step {kind!r}.{hint} Use a step from dreamer_lab.steps or "
            "dreamer_lab.trainers, or a Step subclass defined in the notebook "
            "(`%dream steps` lists them)."
        )
    if not (is_step_class(obj) or is_trainer_class(obj)):
        raise DreamSyntaxError(
            f"{kind!r} is a {type(obj).__name__}, not a step or trainer class. %%dream runs "
            "steps (subclasses of dreamer_lab.steps.Step) and trainers; use a normal cell "
            "for other code."
        )
    return obj


@dataclass
class Options:
    """What a kind accepts: registered inputs/args (steps) and constructor/train parameters."""

    kind: type
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    args: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    init: dict[str, inspect.Parameter] = field(default_factory=dict)
    train: dict[str, inspect.Parameter] = field(default_factory=dict)
    probed: bool = True
    #: Generation options a prompting step forwards to ``LLM.run`` (``max_new_tokens``, ...).
    generation: tuple[str, ...] = ()
    #: Step-wide run options (``verbose``, ``log_level``, ...): accepted, listed apart.
    run_options: tuple[str, ...] = ()

    @property
    def trainer(self) -> bool:
        return not is_step_class(self.kind)

    def all_names(self) -> list[str]:
        names = [*self.inputs, *self.args, *self.generation, *self.init, *self.train]
        if self.outputs:
            names.append("outputs")
        return list(dict.fromkeys(n for n in names if n != "name")) + ["name"]

    def user_names(self) -> list[str]:
        """The options a user sets: inputs, arguments, generation and trainer options (not
        the step-wide run options such as ``log_level`` or ``save_num_shards``)."""
        hidden = {*self.run_options, "lazy", "name"}
        return [n for n in self.all_names() if n not in hidden]

    def caps_generation(self) -> bool:
        """Whether the kind takes ``max_new_tokens`` (a prompting step)."""
        return "max_new_tokens" in self.args or "max_new_tokens" in self.generation

    def template_arg(self) -> str | None:
        for a in TEMPLATE_ARGS:
            if a in self.args or a in self.init:
                return a
        return None

    def required(self) -> list[str]:
        req = [k for k, s in self.inputs.items() if s.get("required")]
        req += [k for k, s in self.args.items() if s.get("required")]
        return req

    def help_text(self) -> str:
        """A readable summary of the kind's options (for ``--help``)."""
        name = self.kind.__name__
        doc = inspect.getdoc(self.kind) or ""
        lines = [f"{name}: {doc.splitlines()[0] if doc else '(no description)'}", ""]
        if self.trainer:
            lines.append(f"  %%dream model = {name}(option=value, ...)")
        else:
            lines.append(f"  %%dream result = {name}(option=value, ...)")
        lines.append("")

        def section(title: str, specs: dict[str, dict[str, Any]]) -> None:
            if specs:
                lines.append(title)
                for k, s in specs.items():
                    req = " (required)" if s.get("required") else ""
                    h = f": {s['help']}" if s.get("help") else ""
                    lines.append(_wrap(f"{k}{req}{h}", hang=4))

        section("Inputs (a step column, e.g. other.output['text']):", self.inputs)
        section("Arguments:", self.args)
        if self.generation:
            lines.append("Generation options (passed to the LLM, as in the Python API):")
            lines.append(_wrap(", ".join(self.generation)))
        if self.caps_generation():
            lines.append(
                _wrap(
                    "max_new_tokens defaults to `%dream config max_new_tokens` (256) in "
                    "%%dream cells; max_new_tokens=None generates up to the context length."
                )
            )
        if self.outputs:
            lines.append("Outputs: " + ", ".join(self.outputs) + " (rename with outputs={...})")
        hidden = {*self.run_options, "name"}
        params = {k: p for k, p in {**self.init, **self.train}.items() if k not in hidden}
        if params:
            lines.append("Options:")
            for k, p in params.items():
                default = "" if p.default is inspect.Parameter.empty else f" = {p.default!r}"
                lines.append(f"  {k}{default}")
        if self.run_options:
            lines.append("Run options:")
            lines.append(_wrap(", ".join(self.run_options)))
        body = self.template_arg()
        lines.append("")
        if body:
            lines.append(f"Cell body: the {body!r} text; {{variable}} is filled from the notebook.")
        elif TEMPLATE_INPUT in self.inputs:
            lines.append(
                "Cell body: a prompt template rendered once per row of the positional step, "
                "e.g. `%%dream out = " + name + "(questions, ...)` with `Answer: {question}`."
            )
        else:
            lines.append("Cell body: not used (leave it empty).")
        return "\n".join(lines)


def _wrap(text: str, hang: int = 2) -> str:
    """``text`` wrapped to a notebook cell's width, indented two spaces (``hang`` on the
    following lines)."""
    import textwrap

    return textwrap.fill(text, width=80, initial_indent="  ", subsequent_indent=" " * hang)


def _signature(fn: Any) -> dict[str, inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {
        k: p
        for k, p in sig.parameters.items()
        if k not in _RESERVED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def options_for(kind: type) -> Options:
    """Introspect ``kind`` without running it: call ``setup()`` on a bare instance."""
    opts = Options(kind)
    if is_step_class(kind):
        step_init = _signature(_step_base().__init__)
        own = _signature(kind.__init__)
        if _takes_var_keywords(kind.__init__):
            # A subclass __init__(..., **kwargs) forwards Step's options.
            own = {**own, **{k: v for k, v in step_init.items() if k not in own}}
        opts.init = own
        probe = kind.__new__(kind)
        probe._input_specs, probe._arg_specs, probe._output_specs = {}, {}, {}
        probe._card = {}
        probe._extra_parents = []
        try:
            probe.setup()
        except Exception:  # noqa: BLE001 - setup() that needs constructor state
            opts.probed = False
        opts.inputs = dict(probe._input_specs)
        opts.args = dict(probe._arg_specs)
        opts.outputs = dict(probe._output_specs)
        opts.run_options = tuple(k for k in step_init if k in own and k != "name")
        opts.generation = _generation_options(kind, opts.args)
    else:
        opts.init = _signature(kind.__init__)
        opts.train = _signature(kind.train)
    return opts


def _signature_all(fn: Any) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def _takes_var_keywords(fn: Any) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in _signature_all(fn).values())


def _generation_options(kind: type, args: dict[str, Any]) -> tuple[str, ...]:
    """``LLM.run`` keyword arguments a prompting step forwards (empty for other steps)."""
    from dreamer_lab.steps.prompt_base import GENERATION_KWARGS, PromptStepBase

    if not issubclass(kind, PromptStepBase):
        return ()
    return tuple(sorted(k for k in GENERATION_KWARGS if k not in args))


def llm_generation_options(llm: Any) -> frozenset[str]:
    """Backend-specific generation options of ``llm`` (``top_k``, ``do_sample`` ...)."""
    return frozenset(getattr(llm, "extra_generation_kwargs", ()) or ())
