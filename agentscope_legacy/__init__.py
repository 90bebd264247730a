"""agentscope_legacy: declarative LLM model wrappers in the AgentScope 0.x style.

``import agentscope_legacy`` is cheap: the public names below are imported on first use, and
no provider SDK is imported until a wrapper that needs it is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__ as __version__

# Imported now, not lazily: the function has the name of its module, and a lazy lookup would
# find the module once anything imported ``agentscope_legacy.msghub``. The module is tiny.
from .msghub import msghub as msghub

_LAZY = {
    "init": "._init",
    "print_llm_usage": "._init",
    "get_runtime": "._runtime",
    "Msg": ".message",
    "register_model_wrapper_class": ".models",
    "read_model_configs": ".models",
    "load_model_by_config_name": ".models",
    "clear_model_configs": ".models",
    "ModelResponse": ".models",
    "ModelWrapperBase": ".models",
}

__all__ = sorted([*_LAZY, "__version__", "msghub"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentscope_legacy' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
