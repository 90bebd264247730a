"""Agents in the 0.x style: ``AgentBase`` (memory, audience, ``speak``), ``DialogAgent``,
``DictDialogAgent`` (JSON replies checked by a schema) and ``UserAgent``; ``ReActAgent`` (tools,
over the newer model layer) is imported on first use."""

from __future__ import annotations

from typing import Any

from .agent_base import AgentBase
from .dialog_agent import DialogAgent
from .dict_dialog_agent import DictDialogAgent
from .user_agent import UserAgent, UserInputError

__all__ = [
    "AgentBase",
    "DialogAgent",
    "DictDialogAgent",
    "ReActAgent",
    "UserAgent",
    "UserInputError",
]


def __getattr__(name: str) -> Any:
    # ReActAgent needs the newer model layer: `import agentscope_legacy.agents` stays light.
    if name == "ReActAgent":
        from .react_agent import ReActAgent

        return ReActAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
