"""Tools for realtime agents: the shared implementation in :mod:`agentscope_legacy.tool`."""

from ..tool import Tool, function_schema

__all__ = ["Tool", "function_schema"]
