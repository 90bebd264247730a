"""Finding, checking and asking for a JSON object in a model's free-text reply."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def find_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: inside a ```json fence if there is one, else anywhere.

    Raises ``ValueError`` saying what was wrong, which is fed back to the model on a re-ask.
    """
    for candidate in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        found = _first_object(candidate)
        if found is not None:
            return found
    if "{" not in text:
        raise ValueError("the reply contains no JSON object")
    raise ValueError("the reply contains no valid JSON object")


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def schema_problem(validator: Any, value: dict[str, Any]) -> str | None:
    """The first JSON Schema violation of ``value``, as one short sentence, or None."""
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def format_instruction(schema: dict[str, Any]) -> str:
    """Tell the model the shape to answer in, from the schema's properties (short on purpose:
    small models follow one example line better than a whole schema)."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or properties)
    example = {key: _placeholder(spec) for key, spec in properties.items()}
    lines = [
        "Respond with only one JSON object, in a ```json block, like:",
        "```json\n" + json.dumps(example, ensure_ascii=False) + "\n```",
    ]
    described = [
        f'- "{key}": {_describe(spec)}' + ("" if key in required else " (optional)")
        for key, spec in properties.items()
    ]
    if described:
        lines += ["Fields:", *described]
    return "\n".join(lines)


def _placeholder(spec: dict[str, Any]) -> Any:
    if "enum" in spec:
        return spec["enum"][0]
    kind = spec.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    return {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}.get(kind, "...")


def _describe(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        text = "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
    else:
        text = str(spec.get("type", "any value"))
    description = spec.get("description")
    return f"{text}; {description}" if description else text
