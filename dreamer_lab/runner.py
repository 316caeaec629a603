"""Run a notebook headless (nbclient), with papermill-style parameters, then write its report.

Parameters are injected as a new cell after the cell tagged ``parameters`` (or at the top),
tagged ``injected-parameters``, so the executed notebook shows what was used.
"""

from __future__ import annotations

import ast
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dreamer_lab.errors import (
    DreamerError,
    NotebookRunError,  # noqa: F401
)


def parse_parameters(pairs: list[str]) -> dict[str, Any]:
    """``["n=40", "model='smollm2'"]`` -> ``{"n": 40, "model": "smollm2"}`` (literals, else str)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise DreamerError(f"Parameter {pair!r} is not NAME=VALUE (e.g. -p rows=20).")
        name, value = pair.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise DreamerError(f"Parameter name {name!r} is not a Python identifier.")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def inject_parameters(nb: Any, parameters: dict[str, Any]) -> None:
    import nbformat

    from dreamer_lab.core.secrets import is_secret_name, scrub_text

    if not parameters:
        return
    for name, value in parameters.items():
        if is_secret_name(name) or scrub_text(repr(value)) != repr(value):
            raise DreamerError(
                f"Parameter {name!r} looks like a secret (an API key or token): parameters are "
                "written into the executed notebook. Pass secrets through the environment "
                "instead, e.g. OPENAI_API_KEY=... dreamer-lab run notebook.ipynb."
            )
    source = "# Parameters injected by dreamer-lab run\n" + "\n".join(
        f"{k} = {v!r}" for k, v in parameters.items()
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    index = 0
    for i, c in enumerate(nb.cells):
        if "parameters" in c.get("metadata", {}).get("tags", []):
            index = i + 1
            break
    nb.cells.insert(index, cell)


@contextmanager
def _env(**values: str | None):
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is not None:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(
    notebook: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    parameters: dict[str, Any] | None = None,
    workspace: str | os.PathLike | None = None,
    hide_inputs: bool = False,
    timeout: int = 3600,
    kernel_name: str = "python3",
    verbose: bool = True,
) -> dict[str, Path]:
    """Execute ``notebook`` in a fresh kernel, save it executed, and write its report.

    Returns the report's paths plus ``notebook`` (the executed copy).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from dreamer_lab.core.object_store import is_url
    from dreamer_lab.report import write_report
    from dreamer_lab.report.build import find_workspace

    src = Path(notebook).resolve()
    if not src.is_file():
        raise DreamerError(f"Notebook {str(notebook)!r} does not exist.")
    out = Path(out_dir) if out_dir else src.with_name(f"{src.stem}_report")
    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(src, as_version=4)
    inject_parameters(nb, parameters or {})
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    started = time.perf_counter()
    done = [0]

    def on_cell_complete(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.cell_type != "code" or not verbose:
            return
        done[0] += 1
        first = (cell.source.strip().splitlines() or [""])[0][:70]
        print(
            f"[{done[0]}/{len(code_cells)}] {time.perf_counter() - started:6.1f}s  {first}",
            flush=True,
        )

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(src.parent)}},
        on_cell_complete=on_cell_complete,
    )
    executed = out / src.name
    if workspace is None and is_url((parameters or {}).get("workspace")):
        workspace = parameters["workspace"]  # -p workspace=s3://...: the report reads it too
    if is_url(workspace):
        ws_env = str(workspace)
    else:
        ws_env = os.fspath(Path(workspace).resolve()) if workspace else None
    # The kernel inherits this environment: it tells steps which notebook they belong to.
    with _env(JPY_SESSION_NAME=str(src), DREAMER_LAB_WORKSPACE=ws_env):
        try:
            client.execute()
        except CellExecutionError as e:
            nbformat.write(nb, executed)
            raise NotebookRunError(
                f"{src.name} failed; the partly executed notebook is in {executed}.\n{e}"
            ) from None
        finally:
            if not executed.exists():
                nbformat.write(nb, executed)
    nbformat.write(nb, executed)
    # Resolve the workspace from the source notebook's folder (the executed copy lives in out/).
    with _env(DREAMER_LAB_WORKSPACE=ws_env):
        ws = find_workspace(src, workspace)
    paths = write_report(executed, out, hide_inputs=hide_inputs, workspace=ws)
    paths["notebook"] = executed
    if verbose:
        print(f"Ran {src.name} in {time.perf_counter() - started:.1f}s; report: {paths['html']}")
    return paths
