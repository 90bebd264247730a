"""A Python function's JSON schema, in OpenAI's chat format (``{"type": "function", ...}``).

The schema comes from the signature and a Google-style docstring: the first paragraph is the
description, ``Args:`` entries describe the parameters, parameters without a default are
required. ``Annotated[T, {...}]`` adds the dict's JSON Schema keywords to ``T``'s (a
``pattern`` or ``maxLength`` also bounds what a grammar-constrained local model writes). Pure:
nothing is called or imported.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # Annotated[str, {"maxLength": 40}]: dicts add keywords
        base, *extras = typing.get_args(annotation)
        schema = _json_type(base)
        for extra in extras:
            if isinstance(extra, dict):
                schema.update(extra)
        return schema
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(options[0]) if len(options) == 1 else {}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(annotation))}
    if origin in (list, tuple, dict):
        return {"type": _JSON_TYPES[origin]}
    kind = _JSON_TYPES.get(annotation)
    return {"type": kind} if kind else {}


def _docstring_parts(func: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    doc = inspect.getdoc(func) or ""
    description = doc.split("\n\n", 1)[0].strip()
    args: dict[str, str] = {}
    indent: int | None = None  # of the section's entries; deeper lines continue one
    last = ""
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args or not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:
            break  # the next section
        match = _ARG_LINE.match(line)
        if match and (indent is None or depth == indent):
            indent, last = depth, match.group(1).lstrip("*")
            args[last] = match.group(2).strip()
        elif last:
            args[last] = f"{args[last]} {line.strip()}".strip()
    return description, args


def function_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI-format tool schema of ``func`` (see the module docstring)."""
    description, arg_docs = _docstring_parts(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except (NameError, TypeError):  # an annotation naming something out of scope: untyped
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        prop = _json_type(hints.get(name, Any))
        if name in arg_docs:
            prop["description"] = arg_docs[name]
        properties[name] = prop
        if param.default is param.empty:
            required.append(name)
    return {
        "type": "function",
        "function": {
            "name": func.__name__,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }
