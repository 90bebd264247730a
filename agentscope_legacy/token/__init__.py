"""Token counters (``agentscope_legacy.token``)."""

from ._base import TokenCounterBase

__all__ = ["TokenCounterBase"]
