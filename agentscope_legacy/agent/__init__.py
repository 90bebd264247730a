"""Agents under the newer AgentScope module name (``agentscope.agent``): ``RealtimeAgent`` and
``ReActAgent``.

The 0.x agents (DialogAgent, UserAgent...) are in :mod:`agentscope_legacy.agents`. Imported on
first use, so this module loads without the ``[realtime]`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReActAgent", "RealtimeAgent"]


def __getattr__(name: str) -> Any:
    if name == "RealtimeAgent":
        from ..realtime._agent import RealtimeAgent

        return RealtimeAgent
    if name == "ReActAgent":
        from ..agents.react_agent import ReActAgent

        return ReActAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
