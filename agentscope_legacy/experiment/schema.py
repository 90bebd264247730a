"""The JSON Schema of experiment files, and its errors told as ``path: expected ...``.

One schema covers the whole document; pipeline steps are a recursive ``$defs`` entry, and each
built-in agent class adds its own argument schema through ``if``/``then`` on ``class``.
Schema nodes may carry ``x-expected`` (how to describe what is expected) and ``x-message``
(the whole message), so errors read like documentation rather than like the validator.
"""

from __future__ import annotations

import difflib
from typing import Any

from . import conditions
from .agent_specs import BUILTIN, CLASS_PATTERN
from .document import DocPath, Document, ExperimentIssue

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
STEP_KINDS = ("sequential", "msghub", "loop", "if", "for_each", "say")
#: A metric read as a value (``sweep`` collects ``metrics:``): a field of the final message,
#: a usage total over the run's models, or the run's message count or seconds.
METRIC_FIELD = (r"^(content|name|role|metadata(\.[^.\s]+)*"
                r"|usage\.(calls|failures|prompt_tokens|completion_tokens|total_tokens)"
                r"|run\.(messages|seconds))$")

_STEPS = {"$ref": "#/$defs/steps"}
_MESSAGE = {"$ref": "#/$defs/message"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["agents", "pipeline"],
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "vars": {"type": "object", "propertyNames": {"pattern": IDENT_PATTERN}},
        "model_configs": {
            "type": ["string", "array"],
            "items": {"type": ["string", "object"]},
            "x-expected": "a model config file path, or a list of file paths and inline configs",
        },
        "agents": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {
                "pattern": NAME_PATTERN,
                "x-expected": "an agent name of letters, digits, _ and - (not starting with "
                "a digit or -)",
            },
            "additionalProperties": {"$ref": "#/$defs/agent"},
        },
        "pipeline": _STEPS,
        "metrics": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/metric"},
        },
        "run": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "save_dir": {"type": "string", "minLength": 1},
                "project": {"type": "string"},
                "name": {"type": "string", "pattern": r"^[^/\\]*$"},
                "seed": {"type": "integer"},
                "logger_level": {
                    "enum": ["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
                },
                "stream": {"type": ["boolean", "null"]},
                # The Studio to watch the run in (``run --studio URL`` sets it too).
                "studio": {"type": "string", "pattern": r"^https?://[^\s/]+",
                           "x-expected": "a Studio's http(s) URL, e.g. http://127.0.0.1:5000"},
            },
        },
    },
    "$defs": {
        "agent": {
            "type": "object",
            "required": ["class"],
            "properties": {
                "class": {
                    "type": "string",
                    "pattern": CLASS_PATTERN,
                    "x-expected": f"{', '.join(BUILTIN)} or an import path (package.module.Class)",
                }
            },
            "allOf": [
                {
                    "if": {"required": ["class"], "properties": {"class": {"const": name}}},
                    "then": schema,
                }
                for name, schema in BUILTIN.items()
            ],
        },
        "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        "step": {
            "type": ["string", "object"],
            "x-expected": f"an agent name or a step mapping ({', '.join(STEP_KINDS)})",
            "pattern": NAME_PATTERN,
            "minProperties": 1,
            "additionalProperties": False,
            "dependentRequired": {"then": ["if"], "else": ["if"], "if": ["then"]},
            "properties": {
                "sequential": _STEPS,
                "msghub": {
                    "type": "object",
                    "required": ["participants", "steps"],
                    "additionalProperties": False,
                    "properties": {
                        "participants": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string"},
                            "x-expected": "a list of agent names",
                        },
                        "announcement": _MESSAGE,
                        "broadcast": {"type": "boolean"},
                        "steps": _STEPS,
                    },
                },
                "loop": {
                    "type": "object",
                    "required": ["steps"],
                    "additionalProperties": False,
                    "anyOf": [{"required": ["max_rounds"]}, {"required": ["until"]}],
                    "x-message": "a loop needs `max_rounds`, `until` or both, so that it ends",
                    "properties": {
                        "max_rounds": {"type": "integer", "minimum": 1},
                        "until": {"$ref": "#/$defs/condition"},
                        "steps": _STEPS,
                    },
                },
                "if": {"$ref": "#/$defs/condition"},
                "then": _STEPS,
                "else": _STEPS,
                "for_each": {
                    "type": "object",
                    "required": ["items", "steps"],
                    "additionalProperties": False,
                    "properties": {
                        "items": {"type": "array", "minItems": 1},
                        "as": {"type": "string", "pattern": IDENT_PATTERN},
                        "steps": _STEPS,
                    },
                },
                "say": _MESSAGE,
            },
        },
        "message": {
            "type": ["string", "object"],
            "x-expected": "a text, or a mapping with content, name and role",
            "required": ["content"],
            "additionalProperties": False,
            "properties": {
                "content": {"type": "string"},
                "name": {"type": "string", "minLength": 1},
                "role": {"enum": ["system", "user", "assistant"]},
            },
        },
        "condition": conditions.SCHEMA,
        # A field to read (a string) or a condition on the final message (true or false).
        "metric": {
            **conditions.SCHEMA,
            "type": ["string", "object"],
            "pattern": METRIC_FIELD,
            "x-expected": "a field (metadata.score, usage.total_tokens, run.messages, ...) or "
            "a condition such as {field: metadata.verdict, equals: stop}",
        },
    },
}

_validator: Any = None


def schema_issues(doc: Document) -> list[ExperimentIssue]:
    """Every JSON Schema violation in the document, located and explained."""
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(SCHEMA)
        _validator = Draft202012Validator(SCHEMA)
    issues: list[ExperimentIssue] = []
    for error in _validator.iter_errors(doc.data):
        issues.extend(_describe(doc, error))
    return issues


def _describe(doc: Document, error: Any) -> list[ExperimentIssue]:
    path: DocPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind, value = error.validator, error.instance
    if "x-message" in schema and kind in ("anyOf", "oneOf"):
        return [doc.issue(path, schema["x-message"])]
    if kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        extra = [k for k in value if k not in known]
        return [doc.issue((*path, k), _unknown_key(k, known)) for k in extra]
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return [doc.issue(path, f"missing required key '{k}'") for k in missing]
    if kind == "dependentRequired":
        return [
            doc.issue((*path, k), f"'{k}' needs {' and '.join(map(repr, needs))} in the same step")
            for k, needs in error.validator_value.items()
            if k in value and any(n not in value for n in needs)
        ]
    expected = schema.get("x-expected")
    if kind == "type":
        wanted = expected or " or ".join(_as_list(schema.get("type")))
        message = f"expected {wanted}, got {_kind(value)}"
    elif kind == "enum":
        message = f"expected one of {', '.join(map(repr, error.validator_value))}, got {value!r}"
    elif kind in _BOUNDS:
        message = f"expected a value {_BOUNDS[kind]} {error.validator_value}, got {value!r}"
    elif kind == "minItems":
        message = f"expected at least {error.validator_value} item(s)"
    elif kind == "minProperties":
        message = expected or "expected a non-empty mapping"
    elif kind == "pattern":
        wanted = expected or f"a string matching {error.validator_value}"
        message = f"expected {wanted}, got {value!r}"
    else:
        message = f"expected {expected}" if expected else error.message
    return [doc.issue(path, message)]


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _unknown_key(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{hint} (expected one of: {', '.join(known)})"


def _as_list(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [str(value)]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
