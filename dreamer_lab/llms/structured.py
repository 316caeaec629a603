"""Structured output: ``response_format`` (OpenAI's JSON mode and JSON-schema formats),
checked before any model call and validated against every generation afterwards.

Backends that constrain generation (they mix in :class:`ConstrainedOutput`):

* ``OpenAI`` (and OpenAI-compatible servers that implement ``response_format``, such as
  vLLM or the llama.cpp server) sends the format with every request, so the server
  constrains decoding.
* ``HFTransformers`` compiles the format into a grammar with ``xgrammar`` and masks the
  logits at every decoding step (CPU or GPU), so a local model can only write JSON that
  matches the schema.

Outputs are still validated, because a generation cut at ``max_new_tokens`` (or a
refusal, for API models) is not valid JSON. Backends without constrained decoding only
validate after the fact. Generations stay JSON *text* (what DataDreamer scripts expect);
``json.loads`` them, or pass ``post_process=json.loads`` to a step.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dreamer_lab.core.secrets import scrub_text
from dreamer_lab.errors import (
    StepInputError,
    StructuredOutputError,  # noqa: F401
)

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SHOWN_ROWS = 5


def _jsonschema() -> Any:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - installed with the notebook extra
        raise StepInputError(
            "response_format with a JSON schema needs the 'jsonschema' package: "
            "pip install jsonschema."
        ) from None
    return jsonschema


def normalize_response_format(value: Any, where: str) -> dict[str, Any] | None:
    """Check ``value`` (OpenAI's ``response_format``) before any call; ``None`` for plain
    text. Accepts ``{"type": "json_object"}`` and ``{"type": "json_schema",
    "json_schema": {"name": ..., "schema": {...}, "strict": ...}}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or "type" not in value:
        raise StepInputError(
            f"{where}: response_format must be a dict such as {{'type': 'json_schema', "
            "'json_schema': {'name': 'answer', 'schema': {...}}}} or {'type': "
            f"'json_object'}}, not {type(value).__name__}."
        )
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return value
    if kind != "json_schema":
        raise StepInputError(
            f"{where}: unknown response_format type {kind!r}. Use 'json_schema', "
            "'json_object' or 'text'."
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise StepInputError(
            f"{where}: a 'json_schema' response_format needs 'json_schema': {{'name': ..., "
            "'schema': {...}}} with the JSON Schema as a dict."
        )
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StepInputError(
            f"{where}: response_format json_schema 'name' must be 1-64 letters, digits, "
            f"'_' or '-', got {name!r}."
        )
    js = _jsonschema()
    schema = spec["schema"]
    try:
        js.validators.validator_for(schema).check_schema(schema)
    except js.SchemaError as e:
        path = "/".join(str(p) for p in e.path) or "(root)"
        raise StepInputError(
            f"{where}: the response_format schema {name!r} is not a valid JSON Schema at "
            f"{path}: {e.message}. Fix the schema; nothing was sent."
        ) from None
    return value


def validate_text(text: Any, response_format: dict[str, Any]) -> str | None:
    """Why ``text`` does not satisfy ``response_format`` (``None`` if it does)."""
    if not isinstance(text, str):
        return f"expected JSON text, got {type(text).__name__}"
    try:
        value = json.loads(text)
    except ValueError as e:
        start = scrub_text(text[:60])
        body, msg = text.strip(), str(getattr(e, "msg", ""))
        cut = body.startswith(("{", "[")) and (
            getattr(e, "pos", 0) >= len(body) or msg.startswith("Unterminated")
        )
        hint = " (it looks cut off: raise max_new_tokens)" if cut else ""
        return f"not valid JSON{hint}: {getattr(e, 'msg', e)}; the output starts {start!r}"
    if response_format["type"] == "json_object":
        return None if isinstance(value, dict) else "JSON mode needs an object, got another value"
    js = _jsonschema()
    schema = response_format["json_schema"]["schema"]
    validator = js.validators.validator_for(schema)(schema)
    error = js.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"does not match the schema at {path}: {scrub_text(error.message)[:200]}"


def check_generations(generations: list[Any], response_format: dict[str, Any]) -> list[str | None]:
    """One error message (or ``None``) per row; a row with ``n > 1`` choices is invalid
    if any choice is."""
    errors: list[str | None] = []
    for g in generations:
        if isinstance(g, list):
            bad = [(i, validate_text(c, response_format)) for i, c in enumerate(g)]
            msgs = [f"choice {i}: {m}" for i, m in bad if m]
            errors.append("; ".join(msgs) or None)
        else:
            errors.append(validate_text(g, response_format))
    return errors


def describe_errors(errors: list[str | None]) -> str:
    """``row i: reason`` for the first invalid rows (and how many more)."""
    bad = [(i, e) for i, e in enumerate(errors) if e]
    lines = [f"row {i}: {e}" for i, e in bad[:_SHOWN_ROWS]]
    if len(bad) > _SHOWN_ROWS:
        lines.append(f"... and {len(bad) - _SHOWN_ROWS} more")
    return "\n".join(lines)


class ConstrainedOutput:
    """Mixin for LLM backends that constrain decoding to ``run(response_format=...)``: the
    format is checked before any call and every generation validated after it; invalid
    rows raise :class:`StructuredOutputError` (all generations stay cached)."""

    def _validate_params(self, params: dict[str, Any]) -> None:
        normalize_response_format(params.get("response_format"), f"{self!r}.run()")
        super()._validate_params(params)  # type: ignore[misc]

    def run(self, prompts: Any, *args: Any, **kwargs: Any) -> Any:
        rf = normalize_response_format(kwargs.get("response_format"), f"{self!r}.run()")
        outputs = super().run(prompts, *args, **kwargs)  # type: ignore[misc]
        if rf is None:
            return outputs
        outputs = list(outputs)
        errors = check_generations(outputs, rf)
        if any(errors):
            raise StructuredOutputError(
                f"{self._where()}: {sum(1 for e in errors if e)} of {len(errors)} generations "
                f"do not match response_format:\n{describe_errors(errors)}\nThe generations "
                "are cached; raise max_new_tokens for cut-off rows or change the prompts.",
                outputs,
                errors,
            )
        return iter(outputs) if kwargs.get("return_generator") else outputs

    def _where(self) -> str:
        return repr(self)


__all__ = [
    "ConstrainedOutput",
    "StructuredOutputError",
    "normalize_response_format",
    "validate_text",
    "check_generations",
    "describe_errors",
]
