"""The tools of a ``ReActAgent`` in an experiment: ``tools: [package.module.function, ...]``
imported by name (never evaluated), and the opt-in built-ins ``builtin:calculator`` and
``builtin:read_file`` (confined to ``read_dir``, by default the experiment's directory)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .agent_specs import import_module_from, model_config_name


def react_kwargs(name: str, spec: dict[str, Any], search: list[str | Path]) -> dict[str, Any]:
    """A ReActAgent's constructor arguments: its tools resolved into a ``Toolkit``."""
    from ..errors import ConfigError, ConfigIssue
    from ..tool import DEFAULT_TIMEOUT, Toolkit

    base = Path(search[0]) if search else Path.cwd()  # the experiment's directory
    read_dir = base / spec.get("read_dir", ".")
    toolkit = Toolkit(timeout=spec.get("tool_timeout", DEFAULT_TIMEOUT))
    for ref in spec.get("tools", []):
        try:
            toolkit.register_tool_function(resolve_tool(ref, search, read_dir))
        except ValueError as exc:
            issue = ConfigIssue(f"agent '{name}', tool '{ref}': {exc}", field="tools")
            raise ConfigError(issue) from exc.__cause__
    skip = ("class", "model", "model_config_name", "tools", "tool_timeout", "read_dir")
    kwargs = {k: v for k, v in spec.items() if k not in skip}
    return {"name": name, "model": model_config_name(spec), "toolkit": toolkit, **kwargs}


def resolve_tool(ref: str, search: Iterable[str | Path] = (), read_dir: Path | None = None) -> Any:
    """The function ``tools:`` names: ``builtin:<name>`` or ``package.module.function``,
    imported (never evaluated), from the ``search`` directories too. ``ValueError`` says why
    not."""
    from ..tool import BUILTIN_TOOLS

    if ref.startswith("builtin:"):
        make = BUILTIN_TOOLS.get(ref.removeprefix("builtin:"))
        if make is None:
            raise ValueError(f"no such built-in tool (built-ins: {', '.join(BUILTIN_TOOLS)})")
        try:
            return make(read_dir or Path.cwd())
        except OSError as exc:
            raise ValueError(f"cannot read the directory {str(read_dir)!r}: {exc}") from None
    module_name, _, attr = ref.rpartition(".")
    if not module_name:
        raise ValueError("expected package.module.function or builtin:<name>")
    func = getattr(import_module_from(module_name, search), attr, None)
    if not callable(func) or isinstance(func, type):
        raise ValueError(f"module '{module_name}' has no function '{attr}'")
    return func
