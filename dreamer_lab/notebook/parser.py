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
Everything here is pure parsing: nothing is evaluated or imported. The Python part of a
first line is split off with Python's tokenizer and parsed with :mod:`ast`; the flags and the
``%dream`` subcommands are :mod:`argparse` grammars, whose ``--help`` is a flag the magic
reads (it prints and returns) and whose errors are :class:`DreamSyntaxError` (one line,
naming the valid choices), never ``SystemExit``.
"""

from __future__ import annotations

import argparse
import ast
import io
import shlex
import tokenize
from dataclasses import dataclass, field
from typing import Any, NoReturn

from dreamer_lab.errors import (
    DreamSyntaxError,  # noqa: F401
)

FIRST_LINE_SHAPE = "%%dream result = StepKind(option=value, ...)"


class _Parser(argparse.ArgumentParser):
    """``argparse`` for magics: ``-h/--help`` is a flag, errors raise :class:`DreamSyntaxError`.

    IPython's own ``magic_arguments`` turns ``--help`` into an error; here the caller reads
    ``help`` from the result and prints. Nothing prints to stderr or raises ``SystemExit``.
    """

    def __init__(self, help_dest: str = "help", **kwargs: Any) -> None:
        super().__init__(add_help=False, allow_abbrev=False, **kwargs)
        self.add_argument("-h", "--help", dest=help_dest, action="store_true", help="show help")

    def usage_line(self) -> str:
        return " ".join(self.format_usage().split()[1:])  # one line, without "usage:"

    def error(self, message: str) -> NoReturn:
        raise DreamSyntaxError(f"`{self.prog}`: {message}. Usage: {self.usage_line()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise DreamSyntaxError(message or f"`{self.prog}` stopped (status {status}).")


@dataclass
class CellFlags:
    """The flags after a ``%%dream`` first line."""

    force: bool = False
    quiet: bool = False
    name: str | None = None
    help: bool = False


def _cell_flags_parser() -> _Parser:
    p = _Parser(
        prog="%%dream",
        usage="%(prog)s [result = Kind(...)] [-h] [--force] [--quiet] [--name LABEL]",
    )
    p.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    p.add_argument("--quiet", action="store_true", help="show no view")
    p.add_argument("--name", metavar="LABEL", help="lineage label of a memoized code cell")
    return p


_CELL_FLAGS = _cell_flags_parser()


@dataclass
class StepLine:
    """A parsed step-cell first line."""

    target: str | None
    kind: str
    positional: list[ast.expr] = field(default_factory=list)
    options: dict[str, ast.expr] = field(default_factory=dict)
    flags: CellFlags = field(default_factory=lambda: CellFlags())
    source: str = ""

    def option_source(self, key: str) -> str:
        return ast.get_source_segment(self.source, self.options[key]) or key


@dataclass
class CodeLine:
    """A memoized code cell's first line (only flags)."""

    flags: CellFlags = field(default_factory=lambda: CellFlags())


@dataclass
class HelpLine:
    """``--help``, optionally about one step kind."""

    topic: str | None = None


def split_flags(line: str) -> tuple[str, str]:
    """Split ``line`` into the Python part and trailing ``--flags`` (outside brackets/strings).

    Python's tokenizer finds the first ``--word`` or ``-h`` that follows a space at bracket
    depth 0; an unfinished line keeps everything as code, for :mod:`ast` to report.
    """
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in ("(", "[", "{"):
                depth += 1
            elif tok.string in (")", "]", "}"):
                depth -= 1
            elif tok.string == "-" and depth == 0 and _starts_flag(line, tok.start[1]):
                col = tok.start[1]
                return line[:col].strip(), line[col:].strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return line.strip(), ""


def _starts_flag(line: str, col: int) -> bool:
    """``--word`` or ``-h`` (then a space or the end) at ``col``, after a space or at 0."""
    if col > 0 and not line[col - 1].isspace():
        return False
    rest = line[col:]
    return (rest[:2] == "--" and rest[2:3].isalpha()) or rest.split(maxsplit=1)[0] == "-h"


def parse_flags(text: str) -> CellFlags:
    """The flags after a first line (``--force --name 'clean rows'``)."""
    try:
        tokens = shlex.split(text)
    except ValueError as e:
        raise DreamSyntaxError(f"Cannot read the flags {text!r}: {e}. Close the quotes.") from None
    known, unknown = _CELL_FLAGS.parse_known_args(tokens)
    flags = CellFlags(**vars(known))
    if unknown and not flags.help:
        raise DreamSyntaxError(
            f"Unknown flag {unknown[0]!r}. Usage: {_CELL_FLAGS.usage_line()}; pass step "
            "options inside the parentheses instead."
        )
    return flags


def parse_first_line(line: str) -> StepLine | CodeLine | HelpLine:
    """Parse the first line of a ``%%dream`` cell."""
    code, flag_text = split_flags(line)
    flags = parse_flags(flag_text) if flag_text else CellFlags()
    if not code:
        if flags.help:
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
    if isinstance(stmt, ast.Expr) and _dotted(stmt.value) and flags.help:
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
    if target is None and not flags.help:
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
    if flags.help:
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
    "config": (
        "show settings, or set them: `%dream config llm=smol budget=5 max_new_tokens=256 "
        "workspace=./ws`"
    ),
    "steps": "the step and trainer kinds you can use in %%dream cells",
    "help": "help on a step kind: `%dream help DataSource`",
    "wizard": "a form that writes a cell: `%dream wizard [generate|train|card]`",
}


def _command_parser() -> tuple[_Parser, dict[str, _Parser]]:
    """``%dream COMMAND [-h] ...``; positional values land in each command's own names."""
    top = _Parser(prog="%dream", help_dest="general_help")  # not overwritten by a command's
    sub = top.add_subparsers(dest="command", parser_class=_Parser)
    parsers = {}
    for name, text in SUBCOMMANDS.items():
        # argparse %-formats help texts (%dream): escape the percent signs.
        parsers[name] = sub.add_parser(name, help=text.replace("%", "%%"), description=text)
    parsers["why"].add_argument("name", nargs="*", metavar="NAME", help="a step or cell name")
    parsers["config"].add_argument(
        "settings", nargs="*", metavar="KEY=VALUE", help="llm=NAME, budget=DOLLARS, workspace=PATH"
    )
    parsers["help"].add_argument("kind", nargs="?", metavar="KIND", help="a step or trainer kind")
    parsers["wizard"].add_argument(
        "which", nargs="?", default="generate", choices=["generate", "train", "card"]
    )
    return top, parsers


_COMMANDS, _COMMAND_PARSERS = _command_parser()


@dataclass
class Command:
    """A ``%dream`` line command: its name, its positional values by name, and ``--help``."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    help: bool = False


def parse_command(line: str) -> Command:
    """Parse a ``%dream`` line (``status``, ``why NAME``, ``ls``, ``config k=v``, ``--help``)."""
    try:
        tokens = shlex.split(line)
    except ValueError as e:
        raise DreamSyntaxError(f"Cannot read `%dream {line}`: {e}. Close the quotes.") from None
    if tokens and not tokens[0].startswith("-") and tokens[0] not in SUBCOMMANDS:
        import difflib

        name = tokens[0]
        close = difflib.get_close_matches(name, list(SUBCOMMANDS), n=1)
        hint = f" Did you mean `%dream {close[0]}`?" if close else ""
        raise DreamSyntaxError(
            f"Unknown command `%dream {name}`.{hint} Commands: {', '.join(SUBCOMMANDS)}; "
            "step cells use `%%dream` (two percent signs)."
        )
    ns, unknown = _COMMANDS.parse_known_args(tokens)
    values = vars(ns)
    name = values.pop("command")
    general_help = values.pop("general_help")  # `%dream --help [COMMAND]`
    wants_help = values.pop("help", False) or general_help
    if unknown and not wants_help:
        parser = _COMMAND_PARSERS[name] if name else _COMMANDS
        raise DreamSyntaxError(
            f"`{parser.prog}`: unknown argument {unknown[0]!r}. Usage: {parser.usage_line()}"
        )
    if name is None:  # `%dream` alone, or `%dream --help`
        return Command("help", help=True)
    return Command(name, values, help=wants_help)
