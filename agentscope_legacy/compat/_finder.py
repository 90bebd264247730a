"""The ``sys.meta_path`` finder behind the ``agentscope`` alias.

Each 0.1.x module path resolves to the module that provides it here (the module object
itself, not a copy, so ``agentscope.agents.AgentBase is agentscope_legacy.agents.AgentBase``).
Every ``agentscope.*`` name is answered here, so none can be loaded a second time from this
package's files under another name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

#: 0.1.x module path -> the module that provides it. Paths not listed map by name
#: (``agentscope.agents.dialog_agent`` -> ``agentscope_legacy.agents.dialog_agent``) if
#: that module exists.
ALIASES = {
    "agentscope": "agentscope_legacy.compat._agentscope",
    "agentscope.agents": "agentscope_legacy.agents",
    "agentscope.exception": "agentscope_legacy.errors",
    "agentscope.formatters": "agentscope_legacy.compat._formatters",
    "agentscope.logging": "agentscope_legacy.logging",
    "agentscope.manager": "agentscope_legacy.compat._manager",
    "agentscope.memory": "agentscope_legacy.agents.memory",
    "agentscope.message": "agentscope_legacy.message",
    "agentscope.models": "agentscope_legacy.models",
    "agentscope.models.model": "agentscope_legacy.models",
    "agentscope.msghub": "agentscope_legacy.msghub",
    "agentscope.pipelines": "agentscope_legacy.pipelines",
    "agentscope.serialize": "agentscope_legacy.compat._serialize",
    "agentscope.tokens": "agentscope_legacy.compat._tokens",
    "agentscope.utils": "agentscope_legacy.compat._utils",
    "agentscope.utils.token_utils": "agentscope_legacy.compat._token_utils",
}

ROOT = "agentscope"


def target_of(fullname: str) -> str:
    """The module providing ``fullname`` (``agentscope`` or below), or ModuleNotFoundError."""
    target = ALIASES.get(fullname)
    if target is None:
        target = "agentscope_legacy" + fullname[len(ROOT) :]
        if fullname.startswith(ROOT + ".utils") or not _exists(target):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: agentscope-legacy's 0.x alias does not provide "
                f"it (it provides: {', '.join(sorted(ALIASES))})",
                name=fullname,
            )
    elif not _exists(target):
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: it would be {target}, which this installation of "
            "agentscope-legacy does not have",
            name=fullname,
        )
    return target


def _exists(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent is missing
        return False


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``agentscope`` and its submodules; loads each as the module it aliases."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != ROOT and not fullname.startswith(ROOT + "."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=target_of(fullname))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The aliased module itself: importlib keeps its own __name__ and __spec__.
        return importlib.import_module(str(spec.origin))

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its own name already."""
