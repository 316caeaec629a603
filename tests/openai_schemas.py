"""JSON values and ``response_format`` checks of the fake OpenAI server
(:mod:`openai_server`): replies that match a JSON schema, as constrained decoding would
give, and the 400s the real API answers to a bad ``response_format``."""

from __future__ import annotations

import json
from typing import Any


def sample_for_schema(prompt: str, schema: dict[str, Any] | None, i: int = 0) -> Any:
    """A deterministic JSON value that matches ``schema`` (strings echo the prompt), as
    constrained decoding would produce; ``{"echo": prompt}`` for JSON mode."""
    if schema is None:
        return {"echo": prompt}
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def build(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][i % len(node["enum"])]
        for key in ("anyOf", "oneOf"):
            if key in node:
                return build(node[key][0])
        kind = node.get("type", "object")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            props = node.get("properties", {})
            return {k: build(v) for k, v in props.items()}
        if kind == "array":
            return [build(node.get("items", {"type": "string"}))] * max(1, node.get("minItems", 1))
        if kind == "string":
            return prompt + (f" #{i}" if i else "")
        if kind == "integer":
            return int(node.get("minimum", 0)) + i
        if kind == "number":
            return float(node.get("minimum", 0)) + i / 2
        if kind == "boolean":
            return i % 2 == 0
        return None

    return build(schema)


def _strict_problem(node: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode rejects: objects that are not closed or not all-required."""
    if isinstance(node, list):
        for item in node:
            found = _strict_problem(item, context)
            if found:
                return found
        return None
    if not isinstance(node, dict):
        return None
    where = f"In context={context}"
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        props = list(node.get("properties", {}))
        missing = [p for p in props if p not in node.get("required", [])]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                found = _strict_problem(sub, (*context, key, name))
                if found:
                    return found
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            found = _strict_problem(value, (*context, key))
            if found:
                return found
    return None


def _response_format_problem(rf: Any, body: dict[str, Any], chat: bool) -> tuple[str, str] | None:
    """``(param, message)`` of the 400 the real API answers to a bad ``response_format``."""
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return (
            "response_format",
            f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', "
            "and 'text'.",
        )
    if kind == "json_object":
        text = json.dumps(body.get("messages") if chat else body.get("prompt"))
        if "json" not in text.lower():
            return (
                "messages",
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
            )
    if kind == "json_schema":
        spec = rf.get("json_schema") or {}
        if "name" not in spec:
            return ("response_format.json_schema.name", "Missing required parameter: 'name'.")
        if spec.get("strict"):
            found = _strict_problem(spec.get("schema") or {})
            if found:
                return (
                    "response_format",
                    f"Invalid schema for response_format '{spec['name']}': {found}",
                )
    return None
