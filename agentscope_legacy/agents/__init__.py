"""Agents in the 0.x style: ``AgentBase`` (memory, audience, ``speak``), ``DialogAgent``,
``DictDialogAgent`` (JSON replies checked by a schema) and ``UserAgent``."""

from __future__ import annotations

from .agent_base import AgentBase
from .dialog_agent import DialogAgent
from .dict_dialog_agent import DictDialogAgent
from .user_agent import UserAgent, UserInputError

__all__ = ["AgentBase", "DialogAgent", "DictDialogAgent", "UserAgent", "UserInputError"]
