"""JSON Schemas of the routes' answers: the one description of each payload.

``<name>.json`` here describes one route (``ROUTES``) or the error body every route sends
(``error.json``). The test suite validates real answers against them
(tests/test_payload_schema.py), and the lab extension's TypeScript types are generated from
them (``npm run build:types`` writes js/src/generated/payloads.ts). Change a payload here
first, then in :mod:`dreamer_lab.server.views`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent

#: Route (relative to ``/dreamer-lab/api/``) -> the schema of its 200 answer.
ROUTES = {
    "workspaces": "workspaces",
    "lineage": "lineage",
    "steps/<fingerprint>": "step",
    "steps/<fingerprint>/card": "card",
}
ERROR = "error"


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``<name>.json`` (``workspaces``, ``lineage``, ``step``, ``card``, ``error``)."""
    if not (SCHEMA_DIR / f"{name}.json").is_file():
        raise KeyError(f"no payload schema named {name!r} in {SCHEMA_DIR}")
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
