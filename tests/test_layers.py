"""The package's layers point one way (docs/architecture.md).

Every import of the package's own modules is read from the source (module level, inside
functions, under ``TYPE_CHECKING``: all count), and each must go to the importer's own layer or
a lower one. Within the core, modules are ordered too, so that the core has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentscope_legacy"

# Lowest first. A module is placed by its first dotted part below the package; the package's
# own ``__init__`` is the top (it re-exports everything).
LAYERS: list[tuple[str, set[str]]] = [
    (
        "core",
        {
            "_version",
            "_secrets",
            "errors",
            "config",
            "message",
            "audio",
            "response",
            "monitor",
            "logging",
        },
    ),
    ("runtime state", {"_runtime"}),
    ("0.x model wrappers", {"models"}),
    # tool: functions as tools (schemas, running calls), for the agents above.
    (
        "the newer model layer",
        {"model", "formatter", "token", "embedding", "tts", "credential", "tool"},
    ),
    # realtime: realtime models, RealtimeAgent, ChatRoom and the voice backend; agent and
    # pipeline are the newer module names that export them; _web is the web-server code that
    # the voice backend and the Studio share.
    ("agents and pipelines",
     {"agents", "pipelines", "msghub", "realtime", "agent", "pipeline", "_web"}),
    # compat: the opt-in ``agentscope`` alias of 0.x module paths (and ``exec``).
    # replay: answering a run's calls from the record of an earlier run (experiments use it).
    (
        "applications",
        {"_init", "experiment", "replay", "sweep", "cli", "_cli_models", "studio", "compat",
         "__init__"},
    ),
]
# Inside the core, lowest first: each may import only those before it.
CORE_ORDER = [
    "_version",
    "_secrets",
    "errors",
    "config",
    "message",
    "audio",
    "response",
    "monitor",
    "logging",
]


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    part = _part(module)
    for rank, (_, members) in enumerate(LAYERS):
        if part in members:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> list[tuple[str, int]]:
    """Every package module the source imports, with the line, wherever the statement is."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("agentscope_legacy"):
                continue
            if node.module is None or target == "agentscope_legacy":  # from . import x
                # x is a submodule or a name defined in the package itself
                found += [
                    (
                        f"{target}.{a.name}" if _is_module(f"{target}.{a.name}") else target,
                        node.lineno,
                    )
                    for a in node.names
                ]
            else:
                found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [
                (a.name, node.lineno) for a in node.names if a.name.startswith("agentscope_legacy")
            ]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in SOURCES:
        _layer(_module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    module = _module_name(path)
    rank = _layer(module)
    upward = []
    for target, line in _imports(path):
        other = _layer(target)
        where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        if other > rank:
            upward.append(f"{where} ({LAYERS[other][0]})")
        elif other == rank == 0 and _part(target) != _part(module):
            if CORE_ORDER.index(_part(target)) > CORE_ORDER.index(_part(module)):
                upward.append(f"{where} (later in the core)")
    assert not upward, f"{LAYERS[rank][0]} must not import upward:\n" + "\n".join(upward)


def test_the_checker_sees_imports_inside_functions_and_type_checking():
    """The walk counts an import however it is hidden, so the test above can fail."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .models._base import X\n"
        "def f():\n    from ..agents import Y\n"
        "import agentscope_legacy.cli\n"
        "from .. import pipelines, init\n"
    )
    targets = sorted(t for t, _ in _imports_in(source, "agentscope_legacy.formatter"))
    assert targets == [
        "agentscope_legacy",
        "agentscope_legacy.agents",
        "agentscope_legacy.cli",
        "agentscope_legacy.formatter.models._base",
        "agentscope_legacy.pipelines",
    ]
