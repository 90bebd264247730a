"""Agent specs in experiment files: the built-in classes, their argument schemas, and user
classes named by import path."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_NAME = {"type": "string", "minLength": 1}
_NEEDS_MODEL = {
    "anyOf": [{"required": ["model"]}, {"required": ["model_config_name"]}],
    "x-message": "missing 'model': the model config name this agent replies with",
}
_DIALOG_PROPERTIES: dict[str, Any] = {
    "class": {},
    "model": _NAME,
    "model_config_name": _NAME,
    "sys_prompt": {"type": "string"},
    "use_memory": {"type": "boolean"},
    "memory_window": {"type": "integer", "minimum": 1},
}

#: Built-in classes: the short name usable as ``class:`` and the JSON Schema of the spec.
BUILTIN: dict[str, dict[str, Any]] = {
    "DialogAgent": {
        "properties": _DIALOG_PROPERTIES,
        "required": ["sys_prompt"],
        "additionalProperties": False,
        **_NEEDS_MODEL,
    },
    "DictDialogAgent": {
        "properties": {
            **_DIALOG_PROPERTIES,
            "schema": {"type": "object", "x-expected": "a JSON Schema (a mapping)"},
            "max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
            "on_parse_error": {"enum": ["keep", "raise"]},
            "content_field": _NAME,
        },
        "required": ["sys_prompt"],
        "additionalProperties": False,
        **_NEEDS_MODEL,
    },
    "UserAgent": {
        "properties": {
            "class": {},
            "input_hint": {"type": "string"},
            "inputs": {
                "type": "array",
                "items": {"type": ["string", "number", "boolean"]},
                "x-expected": "a list of the user's scripted replies",
            },
            "use_memory": {"type": "boolean"},
            "interactive": {"type": ["boolean", "null"]},
        },
        "additionalProperties": False,
    },
}
CLASS_PATTERN = rf"^({'|'.join(BUILTIN)}|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+)$"


def resolve_class(name: str, search: Iterable[str | Path] = ()) -> type:
    """The agent class for ``class:``: a built-in name or ``package.module.Class``.

    Modules are also looked for in the ``search`` directories (the experiment's directory
    and the current one: a console script does not have them on ``sys.path``). Raises
    ``ValueError`` with a readable reason.
    """
    from ..agents import AgentBase

    if name in BUILTIN:
        from .. import agents

        return getattr(agents, name)
    module_name, _, attr = name.rpartition(".")
    if not module_name:
        close = difflib.get_close_matches(name, list(BUILTIN), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown agent class '{name}'{hint}")
    try:
        with _on_sys_path(search):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module '{module_name}': {exc}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ValueError(f"module '{module_name}' has no attribute '{attr}'")
    if not (isinstance(cls, type) and issubclass(cls, AgentBase)):
        raise ValueError(f"'{name}' is not a subclass of agentscope_legacy.agents.AgentBase")
    return cls


@contextlib.contextmanager
def _on_sys_path(directories: Iterable[str | Path]) -> Iterator[None]:
    added = [str(d) for d in directories if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def model_config_name(spec: dict[str, Any]) -> str | None:
    """The model config an agent spec uses (``model`` is short for ``model_config_name``)."""
    return spec.get("model", spec.get("model_config_name"))


def agent_kwargs(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments for the agent named ``name`` from its spec."""
    kwargs = {k: v for k, v in spec.items() if k not in ("class", "model")}
    if "model" in spec:
        kwargs["model_config_name"] = spec["model"]
    return {"name": name, **kwargs}


def signature_problems(cls: type, kwargs: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Why ``cls(**kwargs)`` would fail, found without calling it (for user classes):
    ``[(argument or None, message)]``."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no signature available: trust the user
        return []
    who = f"{cls.__module__}.{cls.__qualname__}"
    named = {
        n: p
        for n, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    problems: list[tuple[str | None, str]] = []
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        for key in kwargs:
            if key not in named:
                close = difflib.get_close_matches(key, list(named), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append((key, f"{who} has no argument '{key}'{hint}"))
    for name, parameter in named.items():
        if parameter.default is inspect.Parameter.empty and name not in kwargs:
            problems.append((None, f"missing required argument '{name}' of {who}"))
    return problems
