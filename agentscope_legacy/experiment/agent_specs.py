"""Agent specs in experiment files: the built-in classes, their argument schemas, and user
classes named by import path.

A user class is found at load time (``validate``, ``--dry-run``) without running its module:
the module is located as the import system would (``importlib.machinery.PathFinder``, which
imports nothing, not even the parent packages) and its source is parsed (``ast``) for the
class and its ``__init__``'s parameters. Only :meth:`Experiment.run` imports it.

One file (a little over ~400 lines) on purpose: finding a class without importing it is one
algorithm over the import system and the module's AST.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
    "tts": _NAME,  # a TTS config: the agent speaks its replies aloud
}

# Kept in step with agentscope_legacy.tool.BUILTIN_TOOLS (a test checks): the schema is read
# at load time, before the tool module is imported.
BUILTIN_TOOL_NAMES = ("calculator", "read_file")
TOOL_PATTERN = rf"^(builtin:({'|'.join(BUILTIN_TOOL_NAMES)})|[A-Za-z_]\w*(\.[A-Za-z_]\w*)+)$"
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
            "use_structured_output": {"type": "boolean"},
        },
        "required": ["sys_prompt"],
        "additionalProperties": False,
        **_NEEDS_MODEL,
    },
    "ReActAgent": {
        "properties": {
            "class": {},
            "model": _NAME,
            "model_config_name": _NAME,
            "sys_prompt": {"type": "string"},
            "use_memory": {"type": "boolean"},
            "max_iters": {"type": "integer", "minimum": 1},
            "tools": {
                "type": "array",
                "items": {"type": "string", "pattern": TOOL_PATTERN},
                "x-expected": "a list of tools: package.module.function or builtin:<name> "
                f"(built-ins: {', '.join(BUILTIN_TOOL_NAMES)})",
            },
            "tool_timeout": {"type": "number", "exclusiveMinimum": 0},
            "tool_choice": _NAME,  # the first step's: "required" or a tool's name forces a call
            "parallel_tool_calls": {"type": "boolean"},
            "read_dir": {"type": "string"},  # where builtin:read_file reads
            "tts": _NAME,  # a TTS config: the agent speaks its answers aloud
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
    """The agent class for ``class:``: a built-in name or ``package.module.Class``, imported.

    Modules are also looked for in the ``search`` directories (the experiment's directory
    and the current one: a console script does not have them on ``sys.path``). Raises
    ``ValueError`` with a readable reason, also when importing the module fails (whatever it
    raised, a ``SyntaxError`` included).
    """
    from ..agents import AgentBase

    if name in BUILTIN:
        from .. import agents

        return getattr(agents, name)
    module_name, attr = _split(name)
    module = import_module_from(module_name, search)
    cls = getattr(module, attr, None)
    if cls is None:
        raise ValueError(f"module '{module_name}' has no attribute '{attr}'")
    if not (isinstance(cls, type) and issubclass(cls, AgentBase)):
        raise ValueError(f"'{name}' is not a subclass of agentscope_legacy.agents.AgentBase")
    return cls


def import_module_from(module_name: str, search: Iterable[str | Path]) -> Any:
    """Import a module named in an experiment; ``ValueError`` (with a readable reason) if the
    import fails, whatever the module raised."""
    try:
        with _on_sys_path(search):
            return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import module '{module_name}': {exc}") from None
    except Exception as exc:  # the module's own code failed: say where
        raise ValueError(
            f"importing module '{module_name}' failed: {_describe_error(exc)}"
        ) from exc


def _split(name: str) -> tuple[str, str]:
    module_name, _, attr = name.rpartition(".")
    if not module_name:
        close = difflib.get_close_matches(name, list(BUILTIN), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown agent class '{name}'{hint}")
    return module_name, attr


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class FoundClass:
    """What is known of a user class without importing its module: ``signature`` (None when
    it cannot be told from the source), whether it is an AgentBase subclass (None: unknown)."""

    who: str
    signature: inspect.Signature | None
    is_agent: bool | None


_MAX_HOPS = 8  # re-exports and base classes followed, to bound the work on odd modules


def find_class(name: str, search: Iterable[str | Path] = ()) -> FoundClass:
    """A user class named by ``package.module.Class``, found without running any module (an
    already imported module is used as it is). Raises ``ValueError`` with a readable reason:
    no such module, a syntax error in it, no such class, not an agent class."""
    module_name, attr = _split(name)
    found = _find(module_name, attr, [str(d) for d in search], _MAX_HOPS)
    if found is None:
        raise ValueError(f"module '{module_name}' has no attribute '{attr}'")
    if found.is_agent is False:
        raise ValueError(f"'{name}' is not a subclass of agentscope_legacy.agents.AgentBase")
    return found


def find_tool(name: str, search: Iterable[str | Path] = ()) -> None:
    """Check a ``tools:`` entry (``package.module.function``) without running any module:
    ``ValueError`` if its module cannot be found or parsed, or surely has no such name. What
    the name is (a function, a callable) is told when the run imports it."""
    module_name, attr = _split(name)
    if _find(module_name, attr, [str(d) for d in search], _MAX_HOPS) is None:
        raise ValueError(f"module '{module_name}' has no function '{attr}'")


def _find(module_name: str, attr: str, search: list[str], hops: int) -> FoundClass | None:
    """The class ``attr`` of ``module_name``; None if the module surely has no such name."""
    unknown = FoundClass(f"{module_name}.{attr}", None, None)
    if hops <= 0:
        return unknown
    module = sys.modules.get(module_name)
    if module is not None:  # imported already: nothing runs by looking
        return _real(module, module_name, attr)
    spec = _module_spec(module_name, search)
    origin = spec.origin if spec.has_location else None
    if not origin or not origin.endswith(".py"):
        return unknown  # compiled or namespace module: told at run
    tree = _parse(module_name, origin)
    package = spec.name if spec.submodule_search_locations is not None else spec.parent
    return _in_module(tree, module_name, package or "", attr, search, hops)


def _real(module: Any, module_name: str, attr: str) -> FoundClass | None:
    from ..agents import AgentBase

    cls = getattr(module, attr, None)
    if cls is None:
        return None
    who = f"{module_name}.{attr}"
    if not isinstance(cls, type):
        return FoundClass(who, None, False)
    try:
        signature: inspect.Signature | None = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    return FoundClass(f"{cls.__module__}.{cls.__qualname__}", signature, issubclass(cls, AgentBase))


def _module_spec(module_name: str, search: list[str]) -> importlib.machinery.ModuleSpec:
    """Locate ``module_name`` level by level; parents are found, never imported."""
    parts = module_name.split(".")
    locations: list[str] | None = [*search, *sys.path]
    spec = None
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        parent = sys.modules.get(full)
        if parent is not None and i < len(parts) - 1:
            locations = list(getattr(parent, "__path__", None) or []) or None
            if locations is None:
                raise ValueError(f"cannot find module '{module_name}': '{full}' is not a package")
            continue
        spec = importlib.machinery.PathFinder.find_spec(full, locations)
        if spec is None and i == 0:  # e.g. an editable install's finder
            with contextlib.suppress(Exception):
                spec = importlib.util.find_spec(full)
        if spec is None:
            raise ValueError(f"cannot find module '{full}'")
        if i < len(parts) - 1:
            locations = list(spec.submodule_search_locations or []) or None
            if locations is None:
                raise ValueError(f"cannot find module '{module_name}': '{full}' is not a package")
    assert spec is not None
    return spec


def _parse(module_name: str, origin: str) -> ast.Module:
    from ..config import read_bounded

    try:
        source = read_bounded(origin)
    except OSError as exc:
        raise ValueError(f"cannot read module '{module_name}' ({origin}): {exc.strerror}") from None
    except Exception as exc:  # not a regular file, too large
        raise ValueError(f"cannot read module '{module_name}' ({origin}): {exc}") from None
    try:
        return ast.parse(source, filename=origin)
    except SyntaxError as exc:
        raise ValueError(f"module '{module_name}' has a {_describe_error(exc)}") from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise ValueError(f"module '{module_name}' cannot be parsed: {exc}") from None


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, also those under ``if``/``try``/``with`` (not in functions)."""
    for stmt in body:
        yield stmt
        for block in ("body", "orelse", "finalbody"):
            if isinstance(stmt, (ast.If, ast.Try, ast.With)) and hasattr(stmt, block):
                yield from _statements(getattr(stmt, block))
        for handler in getattr(stmt, "handlers", []):
            yield from _statements(handler.body)


def _in_module(
    tree: ast.Module, module_name: str, package: str, attr: str, search: list[str], hops: int
) -> FoundClass | None:
    unknown = FoundClass(f"{module_name}.{attr}", None, None)
    surely_absent = True
    for stmt in _statements(tree.body):
        if isinstance(stmt, ast.ClassDef) and stmt.name == attr:
            return _from_classdef(tree, stmt, module_name, package, search, hops)
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    surely_absent = False
                elif (alias.asname or alias.name) == attr:
                    source = _absolute(stmt, package)
                    if source is None:
                        return unknown
                    try:
                        return _find(source, alias.name, search, hops - 1) or unknown
                    except ValueError:
                        return unknown  # a submodule, or found only at run
        elif isinstance(stmt, ast.Import):
            if any((a.asname or a.name.split(".")[0]) == attr for a in stmt.names):
                return FoundClass(f"{module_name}.{attr}", None, False)  # a module
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name == "__getattr__":
                surely_absent = False
            elif stmt.name == attr:
                return FoundClass(f"{module_name}.{attr}", None, False)  # a function
        elif _assigns(stmt, attr):
            return unknown
    return None if surely_absent else unknown


def _assigns(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return False
    return any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t))


def _absolute(stmt: ast.ImportFrom, package: str) -> str | None:
    relative = "." * stmt.level + (stmt.module or "")
    try:
        return importlib.util.resolve_name(relative, package) if stmt.level else stmt.module
    except (ImportError, ValueError):
        return None


def _from_classdef(
    tree: ast.Module,
    node: ast.ClassDef,
    module_name: str,
    package: str,
    search: list[str],
    hops: int,
) -> FoundClass:
    who = f"{module_name}.{node.name}"
    # A decorator or a metaclass can change anything (a dataclass writes its own __init__).
    opaque = bool(node.decorator_list or node.keywords)
    init = next(
        (
            s
            for s in node.body
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__init__"
        ),
        None,
    )
    signature = None if opaque or init is None else _signature(init)
    bases = []
    for base in node.bases:
        if not isinstance(base, ast.Name):
            bases.append(FoundClass(who, None, None))
            continue
        found = _in_module(tree, module_name, package, base.id, search, hops - 1)
        if found is None:  # not defined in the module: a builtin such as object, or unknown
            found = FoundClass(base.id, None, False if hasattr(builtins, base.id) else None)
        bases.append(found)
    if not node.bases:
        is_agent: bool | None = False
    elif any(b.is_agent for b in bases):
        is_agent = True
    elif all(b.is_agent is False for b in bases):
        is_agent = False
    else:
        is_agent = None
    if signature is None and init is None and not opaque and bases:
        signature = bases[0].signature  # inherited: the first base's, when it is known
    return FoundClass(who, signature, is_agent)


def _signature(init: ast.FunctionDef | ast.AsyncFunctionDef) -> inspect.Signature | None:
    args = init.args
    P = inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    defaults = [P.empty] * (len(positional) - len(args.defaults)) + [...] * len(args.defaults)
    params = [
        P(
            a.arg,
            P.POSITIONAL_ONLY if i < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD,
            default=d,
        )
        for i, (a, d) in enumerate(zip(positional, defaults, strict=True))
    ][1:]  # self
    if args.vararg:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(P(a.arg, P.KEYWORD_ONLY, default=P.empty if d is None else ...))
    if args.kwarg:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    try:
        return inspect.Signature(params)
    except (ValueError, TypeError):
        return None


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


def agent_kwargs(
    name: str, spec: dict[str, Any], search: Iterable[str | Path] = ()
) -> dict[str, Any]:
    """Constructor arguments for the agent named ``name`` from its spec (a ReActAgent's tools
    imported, from ``search`` too: see ``tool_specs``)."""
    if spec.get("class") == "ReActAgent":
        from .tool_specs import react_kwargs

        return react_kwargs(name, spec, list(search))
    kwargs = {k: v for k, v in spec.items() if k not in ("class", "model")}
    if "model" in spec:
        kwargs["model_config_name"] = spec["model"]
    return {"name": name, **kwargs}


def signature_problems(
    target: type | FoundClass, kwargs: dict[str, Any]
) -> list[tuple[str | None, str]]:
    """Why ``cls(**kwargs)`` would fail, found without calling it (for user classes, also
    ones found without importing them): ``[(argument or None, message)]``."""
    if isinstance(target, FoundClass):
        who, signature = target.who, target.signature
        if signature is None:  # cannot be told from the source: told at run
            return []
    else:
        who = f"{target.__module__}.{target.__qualname__}"
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):  # no signature available: trust the user
            return []
    parameters = signature.parameters
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
