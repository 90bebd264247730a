"""Pipelines under the newer AgentScope module name (``agentscope.pipeline``): ``ChatRoom``.

The 0.x pipelines (sequential, if/else...) are in :mod:`agentscope_legacy.pipelines`. Imported
on first use, so this module loads without the ``[realtime]`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChatRoom"]


def __getattr__(name: str) -> Any:
    if name == "ChatRoom":
        from ..realtime._chatroom import ChatRoom

        return ChatRoom
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
