"""Imports point down only: a module never imports from a layer above it (lazy imports,
inside functions, count too), never another package's private module, and core/ imports
nothing Jupyter-specific at all."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "dreamer_lab"

# Rank of each top-level module or package of dreamer_lab (lowest first).
RANKS: dict[str, int] = {
    "core": 0,
    "errors": 0,
    "_version": 0,
    "llms": 1,
    "embedders": 1,
    "retrievers": 1,
    "task_models": 1,
    "datadreamer": 1,
    "datasets": 1,
    "executors": 1,
    "steps": 2,
    "trainers": 2,
    "cards": 3,
    "report": 3,
    "contamination": 3,
    "notebook": 4,
    "server": 4,
    "cli": 4,
    "runner": 4,
    "demo": 4,
    "api": 4,
    "__init__": 99,
    "__main__": 99,
}

JUPYTER = ("IPython", "ipykernel", "ipywidgets", "anywidget", "jupyter_server", "tornado")


def _modules(root: Path = PKG) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "labextension" not in p.parts)


def _unit(path: Path, root: Path = PKG) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _dotted(path: Path, root: Path) -> list[str]:
    rel = path.relative_to(root).with_suffix("")
    parts = ["dreamer_lab", *rel.parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module imported anywhere in the file (top level and in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _dotted(path, root)
    is_pkg = path.name == "__init__.py"
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # ``from dreamer_lab.pkg import _private`` imports a module too
            for a in node.names:
                sub = f"{mod}.{a.name}"
                rel = Path(*sub.split(".")[1:]) if sub.startswith("dreamer_lab.") else None
                if rel and ((root / rel).is_dir() or (root / rel).with_suffix(".py").exists()):
                    out.append((node.lineno, sub))
    return out


def violations(root: Path = PKG) -> list[str]:
    """One line per offending import: file, line, what it imports and why that is wrong."""
    found: list[str] = []
    for path in _modules(root):
        unit = _unit(path, root)
        rank = RANKS.get(unit)
        where = path.relative_to(root.parent)
        if rank is None:
            found.append(f"{where}: no rank for {unit!r}; add it to RANKS")
            continue
        for line, mod in _imports(path, root):
            parts = mod.split(".")
            if unit == "core" and parts[0] in JUPYTER:
                found.append(f"{where}:{line}: core imports {mod} (core is Jupyter-free)")
            if parts[0] != "dreamer_lab" or len(parts) < 2:
                continue
            target = parts[1]
            trank = RANKS.get(target)
            if trank is None:
                continue  # a name imported from dreamer_lab/__init__, checked via its module
            if target != unit and trank > rank:
                found.append(f"{where}:{line}: rank {rank} imports {mod} (rank {trank})")
            private = any(p.startswith("_") and not p.startswith("__") for p in parts[2:])
            if target != unit and private:
                found.append(f"{where}:{line}: imports {mod}, private to dreamer_lab.{target}")
    return list(dict.fromkeys(found))


def test_rank_table_names_every_unit():
    units = {_unit(p) for p in _modules()}
    assert not units - RANKS.keys(), f"give these a rank: {sorted(units - RANKS.keys())}"


def test_imports_point_down_only():
    found = violations()
    assert not found, "layering violations:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "src, expected",
    [
        ("from dreamer_lab.notebook import magics\n", "rank 0 imports dreamer_lab.notebook"),
        ("def f():\n    from dreamer_lab.cards import card\n", "rank 0 imports dreamer_lab.cards"),
        ("def f():\n    import IPython\n", "Jupyter-free"),
        ("from dreamer_lab.llms._x import y\n", "private to dreamer_lab.llms"),
        ("from dreamer_lab.llms import _x\n", "private to dreamer_lab.llms"),
        ("from ..llms import _x\n", "private to dreamer_lab.llms"),
    ],
)
def test_checker_catches(tmp_path, src, expected):
    fake = tmp_path / "dreamer_lab"
    for folder in ("core", "llms", "notebook", "cards"):
        (fake / folder).mkdir(parents=True)
        (fake / folder / "__init__.py").write_text("")
    (fake / "llms" / "_x.py").write_text("y = 1\n")
    (fake / "core" / "bad.py").write_text(src)
    found = violations(fake)
    assert any(expected in v for v in found), found


def test_cell_ids_recorded_without_load_ext(monkeypatch):
    """core is Jupyter-free; the notebook layer's kernel context is registered on import."""
    import types

    import dreamer_lab  # noqa: F401  (registers the provider)
    from dreamer_lab.core.context import notebook_context

    class Kernel:
        def get_parent(self):
            return {"metadata": {"cellId": "cell-42"}}

    shell = types.SimpleNamespace(user_ns={"__session__": "nb.ipynb"}, kernel=Kernel())
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert notebook_context() == {"notebook": "nb.ipynb", "cell_id": "cell-42"}
