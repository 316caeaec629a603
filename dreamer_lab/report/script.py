"""``export_script``: a notebook as a plain Python script that re-runs the workflow through
the API and checks that it arrives at the fingerprints the notebook recorded."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from dreamer_lab.core.secrets import scrub_text

_SAFE_CELL_MAGICS = {"time", "timeit", "capture"}  # the body is plain Python


def _comment(text: str, prefix: str = "# ") -> str:
    return "\n".join((prefix + line).rstrip() for line in text.splitlines())


def _convert_cell(source: str) -> tuple[str, bool]:
    """Python for one code cell; True when it needs the IPython shell (``%%dream``)."""
    lines = source.splitlines()
    if not lines:
        return "", False
    first = lines[0].strip()
    body = "\n".join(lines[1:])
    if first.startswith("%%"):
        magic, _, line = first[2:].partition(" ")
        if magic == "dream":
            return f"_dream({line.strip()!r}, {body!r})", True
        if magic in _SAFE_CELL_MAGICS:
            return _convert_cell(body)[0], False
        if magic == "writefile":
            target = line.split()[-1] if line.split() else "file"
            mode = "a" if "-a" in line.split() else "w"
            return (
                f"with open({target!r}, {mode!r}) as _f:\n    _f.write({(body + chr(10))!r})",
                False,
            )
        return _comment(source, "# (not run: cell magic) "), False
    out = []
    needs_shell = False
    for raw in lines:
        stripped = raw.lstrip()
        indent = raw[: len(raw) - len(stripped)]
        if stripped.startswith("%load_ext dreamer_lab"):
            out.append(f"{indent}_load_dreamer_extension()")
            needs_shell = True
        elif stripped.startswith(("%", "!")) or re.match(r"^\w+\s*=\s*!", stripped):
            out.append(f"{indent}pass  # (not run: IPython syntax) {stripped}")
        elif (
            stripped.endswith("?")
            and not stripped.startswith("#")
            and re.match(r"^[\w.]+\?+$", stripped)
        ):
            out.append(f"{indent}pass  # (not run: help) {stripped}")
        else:
            out.append(raw)
    return "\n".join(out), needs_shell


_SHELL_HELPERS = '''
def _shell():
    """An IPython shell sharing this script's namespace, for the %%dream cells."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(user_ns=globals())
    if "dream" not in shell.magics_manager.magics["cell"]:
        shell.extension_manager.load_extension("dreamer_lab")
    return shell


def _load_dreamer_extension():
    _shell()


def _dream(line, cell):
    return _shell().run_cell_magic("dream", line, cell)
'''


def export_script(
    notebook: str | os.PathLike,
    workspace: Any = None,
    expected: dict[str, str] | None = None,
) -> str:
    """A Python script reproducing ``notebook``'s workflow and checking its fingerprints.

    ``expected`` (``{step name: fingerprint}``) defaults to what the notebook recorded: its
    output stamps, else the workspace runs of this notebook (``workspace`` or the default
    one next to it). The script exits with status 1 naming every step whose fingerprint
    differs, so CI can check that a notebook still reproduces.
    """
    from dreamer_lab.report.build import find_workspace, notebook_fingerprints
    from dreamer_lab.report.notebook import cells as read_cells
    from dreamer_lab.report.notebook import read_notebook

    path = Path(notebook)
    nb = read_notebook(path)
    cells = read_cells(nb)
    if expected is None:
        expected = notebook_fingerprints(find_workspace(path, workspace), path, cells)
    if not expected:
        from dreamer_lab.errors import StepInputError

        raise StepInputError(
            f"No step fingerprints are recorded for {path.name!r}: its outputs carry no "
            "dreamer_lab stamps and no workspace with its runs was found. Run the notebook "
            "first, or pass the workspace it used (workspace=... / --workspace DIR)."
        )
    body: list[str] = []
    needs_shell = False
    for c in cells:
        if c["cell_type"] == "markdown" and c["source"].strip():
            body += [_comment(c["source"]), ""]
        elif c["cell_type"] == "code" and c["source"].strip():
            code, shell = _convert_cell(c["source"])
            needs_shell |= shell
            body += [f"# In[{c['execution_count'] or ' '}] (cell {c['index']})", code, ""]
    header = [
        "#!/usr/bin/env python",
        f"# Exported by dreamer_lab from {path.name}: re-runs the workflow through the API and",
        "# checks that every step arrives at the fingerprint the notebook recorded.",
        "# Run it where the notebook ran (relative paths resolve against the current folder).",
        "from dreamer_lab.report.replay import FingerprintRecorder as _FingerprintRecorder",
        "from dreamer_lab.report.replay import check_fingerprints as _check_fingerprints",
        "",
        f"_EXPECTED_FINGERPRINTS = {json.dumps(expected, indent=4, sort_keys=True)}",
        "_recorder = _FingerprintRecorder().start()",
        "try:  # notebooks call display() without importing it",
        "    from IPython.display import display",
        "except ImportError:",
        "    display = print",
    ]
    if needs_shell:
        header.append(_SHELL_HELPERS)
    footer = ["", "_check_fingerprints(_recorder, _EXPECTED_FINGERPRINTS)", ""]
    return scrub_text("\n".join([*header, "", *body, *footer]))
