"""The ``agentscope`` package of 0.1.x, as the alias shows it: its top-level names."""

from __future__ import annotations

from typing import Any

from .._init import init, print_llm_usage
from .._version import __version__
from ..models import register_model_wrapper_class
from ..msghub import msghub

# A package, so that ``import agentscope.models`` works; the alias finder answers for every
# submodule, so the path stays empty.
__path__: list[str] = []


def state_dict() -> dict[str, Any]:
    """The run's state as 0.1.x's ``agentscope.state_dict()`` (API keys redacted)."""
    from ._manager import ASManager

    return ASManager.get_instance().state_dict()


__all__ = [
    "__version__",
    "init",
    "msghub",
    "print_llm_usage",
    "register_model_wrapper_class",
    "state_dict",
]
