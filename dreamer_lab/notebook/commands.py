"""``%dream`` line commands: ``status``, ``ls``, ``why``, ``config``, ``steps``, ``help``.

A mixin of :class:`~dreamer_lab.notebook.magics.DreamMagics`: one ``_cmd_NAME`` method per
subcommand (its parameters are the subcommand's positionals), each returning a
:class:`Report` that is displayed, or ``None``.
"""

from __future__ import annotations

import re
from typing import Any

from dreamer_lab.notebook.catalog import catalog, is_step_class
from dreamer_lab.notebook.parser import (
    SUBCOMMANDS,
    DreamSyntaxError,
    HelpLine,
    StepLine,
    parse_command,
    parse_first_line,
)
from dreamer_lab.notebook.views import md_escape

_STEP_LINE = re.compile(r"^\s*[A-Za-z_]\w*\s*=(?!=)")

GENERAL_HELP = """\
dreamer_lab magics

Step cells: the body is the prompt template; {column} placeholders are
filled per row, {variable} from the notebook.
  %%dream reviews = DataFromAttributedPrompt(llm=smol, n=40, attributes=attrs)
  Write a {sentiment} review of a {product}.

  %%dream answers = Prompt(questions, llm=smol, max_new_tokens=64)
  Answer briefly: {question}

  %dream source = DataSource(data={"text": ["a", "b"]})  # no body: one %

Options are Python keyword arguments evaluated in the notebook: the step's
inputs and arguments, generation options (max_new_tokens, temperature,
top_p, n, stop, seed, batch_size ...) and constructor options (name=...).
Without an LLM a step uses the embedded SmolLM2-135M-Instruct; without
max_new_tokens, %%dream caps generation at 256 new tokens
(`%dream config max_new_tokens=N`, or none for the context length).
Flags after the call: --force (recompute), --quiet (no view), --help.

Memoized code cells (skipped on a cache hit; assigned variables restored):
  %%dream [--force] [--name LABEL]
  <python code>

Commands:
{commands}

Wizards (forms that write the %%dream cell for you): `%dream wizard`,
`%dream wizard train`, `%dream wizard card` (preview, edit and export a
data or model card).
"""


class Report:
    """A text report with ``text/plain`` and escaped ``text/markdown`` forms."""

    def __init__(self, plain: str, markdown: str | None = None):
        self.plain = plain
        self.markdown = markdown

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        data = {"text/plain": self.plain}
        if self.markdown is not None:
            data["text/markdown"] = self.markdown
        return data

    def __repr__(self) -> str:
        return self.plain


def _general_help() -> str:
    import textwrap

    lines = []
    for k, v in SUBCOMMANDS.items():
        lines += textwrap.wrap(
            v, width=78, initial_indent=f"  %dream {k:<7} ", subsequent_indent=" " * 17
        )
    return GENERAL_HELP.replace("{commands}", "\n".join(lines))


class CommandsMixin:
    """The ``%dream`` subcommands; mixed into ``DreamMagics`` (``self.ns``, ``self.budget``,
    ``self.default_llm``, ``self._session``, ``self._help``, ``self._step_cell``)."""

    # -- line commands -------------------------------------------------------------------
    def _command(self, line: str) -> Any:
        __tracebackhide__ = True
        if _STEP_LINE.match(line):  # `%dream result = Kind(...)`: a step cell without a body
            parsed = parse_first_line(line)
            if isinstance(parsed, HelpLine):
                return self._help(parsed.topic)
            assert isinstance(parsed, StepLine)
            return self._step_cell(parsed, "")
        cmd = parse_command(line)
        if cmd.help:
            if cmd.name == "help" and not cmd.args.get("kind"):
                print(_general_help())
            else:
                print(f"%dream {cmd.name}: {SUBCOMMANDS[cmd.name]}")
            return None
        # One method per subcommand; its parameters are the subcommand's positionals.
        report = getattr(self, f"_cmd_{cmd.name}")(**cmd.args)
        if report is not None:
            from IPython.display import display

            display(report)
        return None

    def _cmd_help(self, kind: str | None = None) -> None:
        self._help(kind)

    def _cmd_steps(self) -> Report:
        import inspect

        rows = []
        for name, cls in sorted(catalog(self.ns).items()):
            doc = (inspect.getdoc(cls) or "").split("\n")[0]
            rows.append((name, doc))
        plain = "\n".join(f"{n:<28} {d}" for n, d in rows)
        md = "| kind | description |\n|---|---|\n" + "\n".join(
            f"| {md_escape(n)} | {md_escape(d)} |" for n, d in rows
        )
        return Report(plain, md)

    def _cmd_status(self) -> Report:
        from dreamer_lab.api import lineage
        from dreamer_lab.core.store import dir_size
        from dreamer_lab.core.workspace import current_workspace

        ws = current_workspace()
        graph = lineage(ws)
        counts: dict[str, int] = {}
        for n in graph.nodes:
            counts[n["status"]] = counts.get(n["status"], 0) + 1
        sizes = {sub: dir_size(ws.path / sub) for sub in ("steps", "models", "requests")}
        lines = [
            f"workspace: {ws.path}",
            f"steps: {len(ws.steps.fingerprints())} stored ("
            + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none")
            + ")",
            f"models: {len(ws.models.fingerprints())} stored",
            "cache sizes: " + ", ".join(f"{k} {_size(v)}" for k, v in sizes.items()),
            f"default llm: {self._default_llm_text()}",
            f"max_new_tokens: {self.max_new_tokens or 'none (up to the context length)'}; "
            "budget: " + self._budget_text(),
        ]
        lines.append(f"executor: {getattr(self._session, 'executor', None) or 'local'}")
        return Report("\n".join(lines), "  \n".join(md_escape(x) for x in lines))

    def _set_executor(self, key: str, value: str) -> None:
        """``executor=ray|local``, ``address=ADDR``, ``replicas=N``: reopen the session's
        workspace with that executor (see docs/scaling.md)."""
        from dreamer_lab.core.workspace import current_workspace
        from dreamer_lab.datadreamer import DataDreamer
        from dreamer_lab.errors import DreamerError

        if key == "replicas" and not (value.isdigit() and int(value) > 0):
            raise DreamSyntaxError(f"replicas={value}: give a positive number, e.g. replicas=4.")
        opts = dict(getattr(self, "_executor_opts", None) or {})
        name = {"executor": "executor", "address": "ray_address", "replicas": "replicas"}[key]
        opts[name] = int(value) if key == "replicas" else (value or None)
        ray = opts.get("executor") == "ray"
        try:
            session = DataDreamer(
                current_workspace().path, **(opts if ray else {"executor": opts.get("executor")})
            )
        except (ValueError, DreamerError) as e:
            raise DreamSyntaxError(f"`%dream config {key}={value}`: {e}") from None
        self._executor_opts = opts
        if self._session is not None:
            self._session.stop()
        self._session = session.start()

    def _cmd_ls(self) -> Report:
        from dreamer_lab.api import lineage

        graph = lineage()
        if not graph.nodes:
            return Report("No steps in this workspace yet.")
        plain = "\n".join(
            f"{n['name'][:32]:<32} {n['kind'][:20]:<20} {n['status']:<8} "
            f"{str(n.get('rows', '')):>7} {n['fingerprint'][:12]}"
            for n in graph.nodes
        )
        return Report(plain, graph._repr_markdown_())

    def _cmd_why(self, name: list[str]) -> Report:
        from dreamer_lab.core.explain import diff_components
        from dreamer_lab.core.workspace import current_workspace

        if not name:
            raise DreamSyntaxError("Say which step: `%dream why NAME` (NAME as in `%dream ls`).")
        label = " ".join(name)
        value = self.ns.get(label)
        if is_step_class(type(value)):
            text = str(value.explain())
        else:
            ws = current_workspace()
            runs = [r for r in ws.lineage.runs(label, limit=200) if r["status"] != "running"]
            if not runs:
                raise DreamSyntaxError(
                    f"No step or cell named {label!r} in this workspace. `%dream ls` lists them."
                )
            latest = runs[0]
            prev = next(
                (r for r in runs[1:] if r["status"] in ("done", "hit")),
                None,
            )
            head = f"{label!r} ({latest['fingerprint'][:12]}, {latest['status']})"
            if prev is None:
                text = f"{head}: first run under this name; nothing to compare with."
            elif prev["fingerprint"] == latest["fingerprint"]:
                text = f"{head}: same inputs as the previous run; cache hit."
            else:
                changes = diff_components(prev["components"], latest["components"])
                text = f"{head} differs from the previous run ({prev['fingerprint'][:12]}):\n" + (
                    "\n".join(f"  - {c}" for c in changes) or "  - (no recorded difference)"
                )
        return Report(text, md_escape(text).replace("  \\- ", "\n- "))

    def _default_llm_text(self) -> str:
        if self.default_llm:
            return self.default_llm
        return "the embedded SmolLM2-135M-Instruct (set one: `%dream config llm=NAME`)"

    def _cmd_wizard(self, which: str = "generate") -> Any:
        """Show a wizard: ``generate``, ``train`` or ``card``."""
        from IPython.display import display

        from dreamer_lab.notebook.wizards import card, wizard

        display(card(ns=self.ns) if which == "card" else wizard(which, ns=self.ns))
        return None

    def _budget_text(self) -> str:
        if self.budget is None:
            return "(none)"
        return f"${self.budget:g} (${self.budget_spent:.4f} spent by %%dream cells)"

    def _cmd_config(self, settings: list[str]) -> Report:
        from dreamer_lab.core.workspace import current_workspace

        for item in settings:
            key, sep, value = item.partition("=")
            if not sep:
                raise DreamSyntaxError(
                    f"`%dream config {item}`: write settings as key=value (llm=NAME, budget=5, "
                    "max_new_tokens=256, workspace=./path, executor=ray, address=auto, replicas=2)."
                )
            if key == "llm":
                if value and value not in self.ns:
                    raise DreamSyntaxError(
                        f"llm={value}: no variable {value!r} in the notebook. Create the model "
                        "first, then set it as the default."
                    )
                self.default_llm = value
            elif key == "budget":
                try:
                    self.budget = None if value.lower() in ("", "none") else float(value)
                except ValueError:
                    raise DreamSyntaxError(
                        f"budget={value}: give a number of dollars, e.g. budget=5, or budget=none."
                    ) from None
            elif key == "max_new_tokens":
                low = value.lower()
                if not (low in ("", "none") or (value.isdigit() and int(value) > 0)):
                    raise DreamSyntaxError(
                        f"max_new_tokens={value}: give a positive number of tokens, e.g. "
                        "max_new_tokens=256, or max_new_tokens=none for the context length."
                    )
                self.max_new_tokens = None if low in ("", "none") else int(value)
            elif key == "workspace":
                from dreamer_lab.datadreamer import DataDreamer

                if self._session is not None:
                    self._session.stop()
                self._session = DataDreamer(value).start()
            elif key in ("executor", "address", "replicas"):
                self._set_executor(key, value)
            else:
                raise DreamSyntaxError(
                    f"Unknown setting {key!r}. Settings: llm, budget, max_new_tokens, workspace, "
                    "executor, address, replicas."
                )
        ws = current_workspace()
        url = getattr(ws, "url", None)  # an object-storage workspace: its URL and read cache
        lines = [
            f"workspace: {url} (read cache {ws.path})" if url else f"workspace: {ws.path}",
            f"llm: {self._default_llm_text()}",
            f"max_new_tokens: {self.max_new_tokens or 'none (up to the context length)'}",
            "budget: " + self._budget_text(),
            f"executor: {getattr(self._session, 'executor', None) or 'local'}",
        ]
        return Report("\n".join(lines), "  \n".join(md_escape(x) for x in lines))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
