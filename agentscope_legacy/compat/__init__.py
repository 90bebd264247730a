"""An explicit, opt-in alias of AgentScope 0.1.x's module paths onto this project.

``import agentscope_legacy.compat`` (or ``agentscope-legacy exec script.py``) makes
``import agentscope``, ``agentscope.models``, ``.agents``, ``.message``, ``.msghub``,
``.pipelines``, ``.memory``, ``.manager``, ``.serialize``, ``.logging``, ``.formatters``,
``.tokens`` and ``.utils.token_utils`` resolve to the modules that provide them here
(``_finder.ALIASES``). Nothing else installs it: importing ``agentscope_legacy`` leaves a real
``agentscope`` package alone. Opting in while one is installed shadows it (with a warning);
once a real one has been imported, installing is refused.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings

from ._finder import ROOT, AliasFinder

__all__ = ["install", "is_installed", "uninstall"]


def is_installed() -> bool:
    return any(isinstance(finder, AliasFinder) for finder in sys.meta_path)


def install() -> None:
    """Put the alias first on ``sys.meta_path`` (idempotent)."""
    if is_installed():
        return
    imported = sys.modules.get(ROOT)
    if imported is not None:
        raise ImportError(
            f"cannot alias 'agentscope': a real agentscope is already imported "
            f"({getattr(imported, '__file__', imported)}); import agentscope_legacy.compat "
            "before it, or use that agentscope"
        )
    if importlib.machinery.PathFinder.find_spec(ROOT) is not None:
        warnings.warn(
            "an 'agentscope' package is installed; agentscope_legacy.compat now shadows it "
            "in this process (import agentscope resolves to agentscope_legacy)",
            stacklevel=3,
        )
    # msghub is both a module and the function the package exports: the module is entered
    # here, so that a later ``import agentscope.msghub`` does not rebind the package's name.
    sys.modules.setdefault(ROOT + ".msghub", importlib.import_module("agentscope_legacy.msghub"))
    sys.meta_path.insert(0, AliasFinder())


def uninstall() -> None:
    """Remove the alias and forget the ``agentscope`` modules it loaded."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AliasFinder)]
    for name in [n for n in sys.modules if n == ROOT or n.startswith(ROOT + ".")]:
        del sys.modules[name]


install()
