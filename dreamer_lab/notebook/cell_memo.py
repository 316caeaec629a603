"""Memoized code cells: ``%%dream`` over ordinary Python.

The cell's fingerprint covers its normalized code (comments and formatting do not count)
and the fingerprint of every notebook variable it reads (steps by fingerprint, functions by
their code and the helpers and globals they use, data by content). On a hit the cell is not
run: its ``import``/``def``/``class`` statements are re-run (cheap, and functions cannot be
restored from a pickle into a new kernel), the other variables it assigns are restored from
signed joblib files, its printed output is replayed and its last expression returned.

Secrets are never written to the workspace:

- Variables that hold a secret are not saved: a name that denotes a credential
  (``api_key``, ``OPENAI_API_KEY``, ``hf_token`` ...), an object with such an attribute
  holding text (``self.api_key = key``), a value whose pickle would contain a known key
  or a key-shaped token (a key under another name, inside a list ...), and a model object
  that was given a key (``OpenAI(..., api_key=...)``; such objects pickle without it). On a hit the cell's top-level statements that assign them
  run again, in order, after the other variables are restored: each gets its value (and
  its key) the way the cell got it (``os.environ[...]``, a secret store, ``getpass()``).
  Keep those statements cheap; they are the only code of the cell that runs on a hit.
- Model objects that read their key from the environment are saved and restored; they
  read ``OPENAI_API_KEY`` again when used.
- The recorded code and printed output are scrubbed (:mod:`dreamer_lab.core.secrets`).
"""

from __future__ import annotations

import ast
import io
import json
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamer_lab.core.fingerprint import combine, hash_value
from dreamer_lab.core.memo import Computed, get_or_compute
from dreamer_lab.core.secrets import (
    contains_secret,
    is_secret_name,
    pickle_holds_secret,
    scrub_text,
)

CELL_VERSION = "1"
OUT = "__out__"
_DEFS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _Names(ast.NodeVisitor):
    """What a cell assigns at its top level, and which notebook variables it reads.

    A top-level read counts only if no earlier statement of the cell assigned the name;
    a read inside a function or class body counts unless the cell assigns the name.
    """

    def __init__(self, assigned_anywhere: set[str] | None = None) -> None:
        self.assigned: list[str] = []
        self.imported: set[str] = set()
        self.read: set[str] = set()
        self._all = assigned_anywhere or set()
        self._depth = 0

    def _store(self, name: str) -> None:
        if self._depth == 0 and name not in self.assigned:
            self.assigned.append(name)

    def visit_Name(self, node: ast.Name) -> None:  # noqa: N802
        if isinstance(node.ctx, ast.Load | ast.Del):
            known = self.assigned if self._depth == 0 else self._all
            if node.id not in known:
                self.read.add(node.id)
        else:
            self._store(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:  # noqa: N802
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # noqa: N802
        if isinstance(node.target, ast.Name):
            self.visit_Name(ast.Name(node.target.id, ast.Load()))
        self.visit(node.value)
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:  # noqa: N802
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:  # noqa: N802
        self.visit(node.value)
        self.visit(node.target)

    def _scoped(self, node: ast.AST, name: str | None) -> None:
        decorators = getattr(node, "decorator_list", [])
        for deco in decorators:
            self.visit(deco)
        self._depth += 1
        for child in ast.iter_child_nodes(node):
            if child not in decorators:
                self.visit(child)
        self._depth -= 1
        if name:
            self._store(name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802
        self._scoped(node, node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:  # noqa: N802
        self._scoped(node, None)

    def visit_ListComp(self, node: ast.AST) -> None:  # noqa: N802
        self._scoped(node, None)

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp  # noqa: N815

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:  # noqa: N802
        for alias in node.names:
            if alias.name != "*":
                name = (alias.asname or alias.name).split(".")[0]
                self.imported.add(name)
                self._store(name)

    visit_ImportFrom = visit_Import  # noqa: N815

    def visit_Global(self, node: ast.Global) -> None:  # noqa: N802
        for n in node.names:
            self._store(n)


def cell_names(tree: ast.Module) -> _Names:
    """Analyse a cell: its assignments (first pass), then its reads (second pass)."""
    first = _Names()
    first.visit(tree)
    second = _Names(set(first.assigned))
    second.visit(tree)
    return second


@dataclass
class CellPlan:
    """A parsed cell: its fingerprint inputs and what it assigns."""

    code: str
    tree: ast.Module
    assigned: list[str]
    imported: list[str] = field(default_factory=list)
    reads: dict[str, str] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    fingerprint: str = ""


def plan_cell(code: str, user_ns: dict[str, Any]) -> CellPlan:
    """Parse ``code`` and fingerprint it against the variables it reads in ``user_ns``."""
    tree = ast.parse(code)
    names = cell_names(tree)
    plan = CellPlan(code, tree, names.assigned, imported=sorted(names.imported))
    for name in sorted(names.read):
        if name not in user_ns or name.startswith("__"):
            continue
        value = user_ns[name]
        if is_secret_name(name) or (isinstance(value, str) and contains_secret(value)):
            plan.reads[name] = "<secret>"
            continue
        plan.reads[name] = hash_value(value, label=f"variable {name!r} read by the cell")
        fp_hook = getattr(value, "__dreamer_fingerprint__", None)
        if fp_hook is not None and hasattr(value, "record") and not isinstance(value, type):
            plan.parents.append(str(fp_hook()))
    normalized = ast.dump(tree, annotate_fields=False, include_attributes=False)
    plan.fingerprint = combine(
        "cell", CELL_VERSION, normalized, json.dumps(plan.reads, sort_keys=True)
    )
    return plan


def _is_definition(value: Any) -> bool:
    return isinstance(
        value, types.FunctionType | types.ModuleType | type | types.BuiltinFunctionType
    )


class _Tee(io.TextIOBase):
    def __init__(self, target: Any):
        self.target = target
        self.buffer_ = io.StringIO()

    def write(self, s: str) -> int:
        self.buffer_.write(s)
        return self.target.write(s)

    def flush(self) -> None:
        self.target.flush()


@dataclass
class CellResult:
    fingerprint: str
    label: str
    cache_hit: bool
    restored: list[str]
    saved: list[str]
    value: Any
    seconds: float
    components: dict[str, Any]
    unsaved: dict[str, str] = field(default_factory=dict)
    recreated: list[str] = field(default_factory=list)  # secrets: re-run on a hit, never saved


def _exec(tree: ast.Module, user_ns: dict[str, Any], filename: str) -> Any:
    """Run a module AST in ``user_ns``; return the value of a trailing expression."""
    __tracebackhide__ = True
    body = list(tree.body)
    last = None
    if body and isinstance(body[-1], ast.Expr):
        last = body.pop()
    exec(compile(ast.Module(body=body, type_ignores=[]), filename, "exec"), user_ns)  # noqa: S102
    if last is not None:
        return eval(compile(ast.Expression(last.value), filename, "eval"), user_ns)  # noqa: S307
    return None


def _compute_cell(
    plan: Any,
    code: str,
    user_ns: dict[str, Any],
    filename: str,
    label: str,
    components: dict[str, Any],
    out: dict[str, Any],
) -> Computed:
    """Run the cell and say what to store: its variables, value, stdout and record
    (``out["value"]`` gets the cell's value)."""
    from dreamer_lab.core.context import notebook_context

    __tracebackhide__ = True
    tee = _Tee(sys.stdout)
    old, sys.stdout = sys.stdout, tee
    started = time.time()
    try:
        value = _exec(plan.tree, user_ns, filename)
    finally:
        sys.stdout = old
    out["value"] = value
    objects = {
        f"var_{name}": user_ns[name]
        for name in plan.assigned
        if name in user_ns and not _is_definition(user_ns[name])
    }
    if value is not None:
        objects[OUT] = value
    objects, skipped, secret = _split_picklable(objects)
    stdout = scrub_text(tee.buffer_.getvalue())
    record = {
        "kind": "cell",
        "name": label,
        "parents": plan.parents,
        "code": scrub_text(code),
        "reads": plan.reads,
        "assigned": plan.assigned,
        "restored": sorted(k[4:] for k in objects if k.startswith("var_")),
        "recreated": secret,
        "stdout": stdout,
        "unsaved": skipped,
        "components": components,
        "timings": {"started": started, "seconds": time.time() - started},
        "created": time.time(),
        **notebook_context(),
    }

    def write(folder: Path) -> None:
        (folder / "stdout.txt").write_text(stdout)

    return Computed(write=write, record=record, objects=objects)


def _restore_cell(
    entry: Any, plan: Any, user_ns: dict[str, Any], filename: str
) -> tuple[list[str], Any]:
    """A cache hit: define the cell's functions and classes again, restore its variables
    (rerunning the assignments of those that were not saved) and replay its stdout;
    ``(restored names, the cell's value)``."""
    restored: list[str] = []
    defs = [s for s in plan.tree.body if isinstance(s, _DEFS)]
    if defs:
        exec(compile(ast.Module(body=defs, type_ignores=[]), filename, "exec"), user_ns)  # noqa: S102
    names = entry.object_names()
    for name in names:
        if name.startswith("var_"):
            user_ns[name[4:]] = entry.load_object(name)
            restored.append(name[4:])
    recreated = [str(n) for n in entry.record.get("recreated") or []]
    _rerun_assignments(plan.tree, recreated, user_ns, filename)
    restored += [n for n in recreated if n in user_ns and n not in restored]
    value = entry.load_object(OUT) if OUT in names else _last_name(plan.tree, user_ns)
    sys.stdout.write(entry.record.get("stdout", ""))
    return restored, value


def run_cell(
    code: str,
    user_ns: dict[str, Any],
    *,
    label: str | None = None,
    force: bool = False,
    filename: str = "<dream-cell>",
) -> CellResult:
    """Run (or restore) a memoized cell in ``user_ns``."""
    __tracebackhide__ = True
    from dreamer_lab.core.context import notebook_context
    from dreamer_lab.core.workspace import current_workspace

    t0 = time.time()
    plan = plan_cell(code, user_ns)
    shown = [n for n in plan.assigned if n not in plan.imported] or plan.assigned
    label = label or ("cell: " + ", ".join(shown[:4]) if shown else "cell")
    normalized = ast.dump(plan.tree, annotate_fields=False, include_attributes=False)
    components = {
        "kind": "cell",
        "version": CELL_VERSION,
        "code": combine(normalized),
        "variable": plan.reads,
    }
    ws = current_workspace()
    out: dict[str, Any] = {}

    def compute() -> Computed:
        __tracebackhide__ = True
        return _compute_cell(plan, code, user_ns, filename, label, components, out)

    ctx = notebook_context()
    try:
        entry, hit = get_or_compute(ws, ws.steps, plan.fingerprint, compute, force=force)
    except BaseException:
        ws.lineage.add_run(
            name=label,
            kind="cell",
            fingerprint=plan.fingerprint,
            status="failed",
            components=components,
            parents=plan.parents,
            **ctx,
        )
        raise
    restored: list[str] = []
    value = out.get("value")
    if hit:
        restored, value = _restore_cell(entry, plan, user_ns, filename)
    ws.lineage.add_step(entry.record)
    ws.lineage.add_run(
        name=label,
        kind="cell",
        fingerprint=plan.fingerprint,
        status="hit" if hit else "done",
        components=components,
        parents=plan.parents,
        **ctx,
    )
    saved = [] if hit else list(entry.record.get("restored", []))
    return CellResult(
        plan.fingerprint,
        label,
        hit,
        restored,
        saved,
        value,
        time.time() - t0,
        components,
        dict(entry.record.get("unsaved") or {}),
        [str(n) for n in entry.record.get("recreated") or []],
    )


def _rerun_assignments(
    tree: ast.Module, names: list[str], user_ns: dict[str, Any], filename: str
) -> None:
    """Run again the top-level statements of the cell that assign any of ``names``."""
    __tracebackhide__ = True
    if not names:
        return
    wanted = set(names)
    body = [
        s
        for s in tree.body
        if not isinstance(s, _DEFS)
        and wanted & set(cell_names(ast.Module(body=[s], type_ignores=[])).assigned)
    ]
    if body:
        exec(compile(ast.Module(body=body, type_ignores=[]), filename, "exec"), user_ns)  # noqa: S102


def _last_name(tree: ast.Module, user_ns: dict[str, Any]) -> Any:
    """The cell's value when it ends with a bare name that was not saved (a secret)."""
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Name):
        return user_ns.get(last.value.id)
    return None


def _has_secret_attribute(value: Any) -> bool:
    """An object with a credential-named attribute holding text (``self.api_key = ...``)."""
    attrs = getattr(value, "__dict__", None)
    if not isinstance(attrs, dict) or isinstance(value, type | types.ModuleType):
        return False
    return any(
        is_secret_name(str(k)) and isinstance(v, str) and len(v) >= 4 for k, v in attrs.items()
    )


def _split_picklable(
    objects: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Split the values into those that are saved, those that cannot be pickled (with the
    reason) and the variables that hold secrets (never saved; re-created on a hit)."""
    import pickle

    keep: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    secret: list[str] = []
    for name, value in objects.items():
        var = name[4:] if name.startswith("var_") else name
        if name.startswith("var_") and (is_secret_name(var) or _has_secret_attribute(value)):
            secret.append(var)
            continue
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001
            skipped[var] = scrub_text(f"{type(e).__name__}: {e}")
            continue
        if pickle_holds_secret(data):
            if name.startswith("var_"):
                secret.append(var)
            continue
        keep[name] = value
    return keep, skipped, secret
