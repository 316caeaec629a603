"""The grammar of ``%%dream``'s first line and of ``%dream`` subcommands.

Step cells::

    %%dream NAME = Kind(option=value, ...) [--force] [--quiet]
    <template>

``NAME`` is the variable the result is bound to (and the step's lineage label unless
``name=`` is given). ``Kind`` is a step or trainer: a class in the notebook, in
``dreamer_lab.steps`` or in ``dreamer_lab.trainers`` (dotted names such as ``my_mod.Kind`` are
looked up in the notebook). Options are Python keyword arguments evaluated in the notebook;
they may name the step's registered inputs and arguments directly (``llm=smol``,
``prompts=q.output["text"]``) or its constructor's options (``force=True``). One optional
positional argument names the step whose rows fill the template's ``{column}`` placeholders.

Memoized code cells::

    %%dream [--force] [--name LABEL]
    <python code>

Help: ``%%dream --help``, ``%%dream Kind --help``, ``%dream --help``, ``%dream SUB --help``.
Everything here is pure parsing: nothing is evaluated or imported.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass, field

from dreamer_lab.errors import DreamerError

FIRST_LINE_SHAPE = "%%dream result = StepKind(option=value, ...)"
FLAGS = {"--force", "--quiet", "--help", "-h", "--name"}


class DreamSyntaxError(DreamerError, ValueError):
    """The first line of a ``%%dream`` cell (or a ``%dream`` command) cannot be parsed."""


@dataclass
class StepLine:
    """A parsed step-cell first line."""

    target: str | None
    kind: str
    positional: list[ast.expr] = field(default_factory=list)
    options: dict[str, ast.expr] = field(default_factory=dict)
    flags: dict[str, str | bool] = field(default_factory=dict)
    source: str = ""

    def option_source(self, key: str) -> str:
        return ast.get_source_segment(self.source, self.options[key]) or key


@dataclass
class CodeLine:
    """A memoized code cell's first line (only flags)."""

    flags: dict[str, str | bool] = field(default_factory=dict)


@dataclass
class HelpLine:
    """``--help``, optionally about one step kind."""

    topic: str | None = None


def split_flags(line: str) -> tuple[str, str]:
    """Split ``line`` into the Python part and trailing ``--flags`` (outside brackets/quotes)."""
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif (
            c == "-"
            and depth == 0
            and (i == 0 or line[i - 1].isspace())
            and line[i : i + 2] in ("--", "-h")
        ):
            return line[:i].strip(), line[i:].strip()
        i += 1
    return line.strip(), ""


def parse_flags(text: str) -> dict[str, str | bool]:
    try:
        tokens = shlex.split(text)
    except ValueError as e:
        raise DreamSyntaxError(f"Cannot read the flags {text!r}: {e}. Close the quotes.") from None
    flags: dict[str, str | bool] = {}
    it = iter(tokens)
    for tok in it:
        if tok not in FLAGS:
            raise DreamSyntaxError(
                f"Unknown flag {tok!r}. Flags are --force, --quiet, --name LABEL and --help; "
                "pass step options inside the parentheses instead."
            )
        if tok == "--name":
            value = next(it, None)
            if value is None:
                raise DreamSyntaxError("--name needs a label, e.g. --name 'clean rows'.")
            flags["name"] = value
        else:
            flags["help" if tok == "-h" else tok.lstrip("-")] = True
    return flags


def parse_first_line(line: str) -> StepLine | CodeLine | HelpLine:
    """Parse the first line of a ``%%dream`` cell."""
    code, flag_text = split_flags(line)
    flags = parse_flags(flag_text) if flag_text else {}
    if not code:
        if flags.get("help"):
            return HelpLine()
        return CodeLine(flags)
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as e:
        raise DreamSyntaxError(
            f"Malformed first line {code!r} ({e.msg}). Write it as `{FIRST_LINE_SHAPE}`."
        ) from None
    if len(tree.body) != 1:
        raise DreamSyntaxError(
            f"The first line holds one step, as `{FIRST_LINE_SHAPE}`; got {code!r}."
        )
    stmt = tree.body[0]
    if isinstance(stmt, ast.Expr) and _dotted(stmt.value) and flags.get("help"):
        return HelpLine(_dotted(stmt.value))
    target: str | None = None
    value: ast.expr
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise DreamSyntaxError(
                f"The result must be a plain variable name, as `{FIRST_LINE_SHAPE}`; "
                f"got {ast.get_source_segment(code, stmt.targets[0])!r}."
            )
        target = stmt.targets[0].id
        value = stmt.value
    elif isinstance(stmt, ast.Expr):
        value = stmt.value
    else:
        raise DreamSyntaxError(f"Malformed first line {code!r}. Write it as `{FIRST_LINE_SHAPE}`.")
    if _dotted(value):
        kind = _dotted(value)
        call_args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
    elif isinstance(value, ast.Call) and _dotted(value.func):
        kind = _dotted(value.func)
        call_args, keywords = value.args, value.keywords
    else:
        raise DreamSyntaxError(
            f"The first line must call a step by name, as `{FIRST_LINE_SHAPE}`; got {code!r}."
        )
    assert kind is not None
    if target is None and not flags.get("help"):
        raise DreamSyntaxError(
            f"Name the result so later cells can use it: `%%dream result = {code}`."
        )
    if len(call_args) > 1 or any(isinstance(a, ast.Starred) for a in call_args):
        raise DreamSyntaxError(
            f"{kind}(...) takes at most one positional argument (the step whose rows fill the "
            "template's {column} placeholders); pass everything else as option=value."
        )
    options: dict[str, ast.expr] = {}
    for kw in keywords:
        if kw.arg is None:
            raise DreamSyntaxError(
                f"`**` is not supported on the first line; write each option of {kind} as "
                "option=value."
            )
        options[kw.arg] = kw.value
    if flags.get("help"):
        return HelpLine(kind)
    return StepLine(target, kind, list(call_args), options, flags, code)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


SUBCOMMANDS = {
    "status": "workspace, steps, models and cache sizes",
    "ls": "the steps in the workspace (name, kind, status, rows, fingerprint)",
    "why": "why NAME missed (or hit) the cache: `%dream why NAME`",
    "config": "show settings, or set them: `%dream config llm=smol budget=5 workspace=./ws`",
    "steps": "the step and trainer kinds you can use in %%dream cells",
    "help": "help on a step kind: `%dream help DataSource`",
}


@dataclass
class Command:
    """A ``%dream`` line command."""

    name: str
    args: list[str]
    help: bool = False


def parse_command(line: str) -> Command:
    """Parse a ``%dream`` line (``status``, ``why NAME``, ``ls``, ``config k=v``, ``--help``)."""
    try:
        tokens = shlex.split(line)
    except ValueError as e:
        raise DreamSyntaxError(f"Cannot read `%dream {line}`: {e}. Close the quotes.") from None
    wants_help = any(t in ("--help", "-h") for t in tokens)
    tokens = [t for t in tokens if t not in ("--help", "-h")]
    if not tokens:
        return Command("help", [], help=True)
    name, args = tokens[0], tokens[1:]
    if name not in SUBCOMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(SUBCOMMANDS), n=1)
        hint = f" Did you mean `%dream {close[0]}`?" if close else ""
        raise DreamSyntaxError(
            f"Unknown command `%dream {name}`.{hint} Commands: {', '.join(SUBCOMMANDS)}; "
            "step cells use `%%dream` (two percent signs)."
        )
    return Command(name, args, help=wants_help)
