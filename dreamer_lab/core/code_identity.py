"""Where code comes from, and its normalized form, for fingerprints of callables.

Part of :mod:`dreamer_lab.core.fingerprint`: the code of notebook cells and the user's
own modules is hashed (as a normalized AST, so comments, whitespace and docstrings do not
count); installed libraries and the standard library by name and version.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import sysconfig
import textwrap
import threading
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamer_lab.core.fingerprint import Hasher

# ---------------------------------------------------------------------------------------
# Where a module comes from decides whether its code is hashed (user code) or its
# name and version (installed libraries, standard library).
_LIB_PREFIXES = tuple(
    {
        os.path.realpath(p)
        for p in (
            sysconfig.get_paths().get("stdlib"),
            sysconfig.get_paths().get("platstdlib"),
            sysconfig.get_paths().get("purelib"),
            sysconfig.get_paths().get("platlib"),
            sys.prefix,
            sys.base_prefix,
        )
        if p
    }
)
_DREAMER_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def is_user_module(module: types.ModuleType | str | None) -> bool:
    """True for notebook cells and the user's own modules (their code is hashed)."""
    if module is None:
        return False
    if isinstance(module, str):
        if module == "__main__":
            return True
        module = sys.modules.get(module)
        if module is None:
            return False
    name = getattr(module, "__name__", "")
    if name == "__main__":
        return True
    if name == "dreamer_lab" or name.startswith("dreamer_lab."):
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return False
    real = os.path.realpath(file)
    if real.startswith(_DREAMER_DIR + os.sep):
        return False
    return not any(real.startswith(prefix + os.sep) for prefix in _LIB_PREFIXES)


def _module_version(name: str) -> str:
    root = name.split(".")[0]
    mod = sys.modules.get(root)
    return str(getattr(mod, "__version__", ""))


# CPython 3.11.7 and older can raise "SystemError: AST constructor recursion depth mismatch"
# when threads (concurrent(), background steps) parse and dump ASTs at the same time
# (python/cpython#106905): the AST work below runs under one lock.
_AST_LOCK = threading.Lock()


def _normalized_source(obj: Any) -> str | None:
    """AST dump of an object's source: comments, blank lines and indentation do not count."""
    try:
        src = inspect.getsource(obj)
    except (OSError, TypeError):
        return None
    with _AST_LOCK:
        return _dump_without_docstrings(textwrap.dedent(src))


def _dump_without_docstrings(src: str) -> str | None:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        # A lambda inside a larger expression: its source line may not parse alone.
        return None
    for node in ast.walk(tree):
        # Docstrings are documentation, not behaviour.
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            # Dropped, not replaced: a function with and without a docstring is the same code.
            body[:] = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _code_names(code: types.CodeType) -> tuple[set[str], list[types.CodeType]]:
    """Global names read by a code object and its nested code objects."""
    names: set[str] = set()
    codes = [code]
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                codes.append(const)
                stack.append(const)
    return names, codes


def _code_bytes(code: types.CodeType, h: Hasher) -> None:
    """Fallback when no source exists: bytecode and constants (no line numbers)."""
    h.update(b"code", code.co_code, str(code.co_argcount).encode())
    h.update(repr(code.co_names).encode(), repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_bytes(const, h)
        else:
            h.feed(const, "constant")
