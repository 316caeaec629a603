"""Reading a notebook for a report: cells, sanitized outputs, and the steps they ran."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from dreamer_lab.core.secrets import scrub_text

_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")


def read_notebook(path: str | os.PathLike) -> dict[str, Any]:
    """The notebook as a plain dict (nbformat v4), with a clear error for bad input."""
    from dreamer_lab.errors import StepInputError

    p = Path(path)
    if not p.is_file():
        raise StepInputError(
            f"Notebook {str(p)!r} does not exist. Pass the path of an .ipynb file."
        )
    try:
        import nbformat

        nb = nbformat.read(str(p), as_version=4)
        return json.loads(nbformat.writes(nb))
    except ImportError:
        return json.loads(p.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - any parse failure is the user's input
        raise StepInputError(
            f"{str(p)!r} is not a readable Jupyter notebook ({type(e).__name__}: "
            f"{scrub_text(str(e))[:200]}). Open and save it in JupyterLab to repair it."
        ) from None


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _valid_b64(data: str) -> bool:
    try:
        base64.b64decode("".join(data.split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


_WIDGET = "application/vnd.jupyter.widget-view+json"


def _widget_text(plain: str) -> str:
    """A widget in a static report: its name, never an ``<... object at 0x...>`` repr."""
    import re

    m = re.match(r"^<?([\w.]+?)(?: object at 0x[0-9a-f]+>?|\(.*)?$", plain.strip(), re.DOTALL)
    name = m.group(1).rsplit(".", 1)[-1] if m else "widget"
    return (
        f"(interactive widget: {name}; a static report cannot show it, the cell it inserted "
        "records its result)"
    )


def clean_output(out: dict[str, Any]) -> dict[str, Any] | None:
    """One output reduced to safe kinds: text, markdown, image (base64) or error text.

    HTML, JavaScript, SVG and widget outputs are never passed through: text/markdown or
    text/plain stands in for them. Every text is scrubbed of secrets here.
    """
    kind = out.get("output_type")
    meta = out.get("metadata") or {}
    stamp = meta.get("dreamer_lab") if isinstance(meta, dict) else None
    if kind == "stream":
        return {"type": "text", "name": out.get("name"), "text": scrub_text(_text(out.get("text")))}
    if kind == "error":
        tb = "\n".join(out.get("traceback") or [])
        import re

        tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
        return {
            "type": "error",
            "text": scrub_text(f"{out.get('ename')}: {out.get('evalue')}\n{tb}"),
        }
    data = out.get("data") or {}
    result: dict[str, Any] | None = None
    for mime in _IMAGE_TYPES:
        if mime in data and _valid_b64(_text(data[mime])):
            result = {"type": "image", "mime": mime, "data": "".join(_text(data[mime]).split())}
            break
    if result is None and "text/markdown" in data:
        result = {"type": "markdown", "text": scrub_text(_text(data["text/markdown"]))}
    if result is None and _WIDGET in data:
        result = {"type": "text", "text": _widget_text(_text(data.get("text/plain")))}
    if result is None and "text/plain" in data:
        result = {"type": "text", "text": scrub_text(_text(data["text/plain"]))}
    if result is None:
        return None
    if isinstance(stamp, dict):
        result["dreamer_lab"] = {
            k: v for k, v in stamp.items() if isinstance(v, str | int | float | bool) or v is None
        }
    return result


def cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """Cells with scrubbed sources, safe outputs, the step stamps and execution timings."""
    out = []
    for i, cell in enumerate(nb.get("cells") or []):
        meta = cell.get("metadata") or {}
        execution = meta.get("execution") or {}
        outputs = [o for o in (clean_output(x) for x in cell.get("outputs") or []) if o]
        steps = [o["dreamer_lab"] for o in outputs if o.get("dreamer_lab")]
        out.append(
            {
                "index": i,
                "id": cell.get("id"),
                "cell_type": cell.get("cell_type"),
                "source": scrub_text(_text(cell.get("source"))),
                "tags": list(meta.get("tags") or []),
                "execution_count": cell.get("execution_count"),
                "started": execution.get("iopub.execute_input")
                or execution.get("shell.execute_request"),
                "finished": execution.get("shell.execute_reply"),
                "outputs": outputs,
                "steps": steps,
            }
        )
    return out
