"""Loopback emulators of LLM provider HTTP APIs, for tests with the real SDKs.

See :mod:`tests.emulators.base` for the transport and fault injection, and
:mod:`tests.emulators.fixtures` for the pytest fixtures.
"""

from .base import (
    STALL,
    Fault,
    JSONReply,
    LoopbackServer,
    RawReply,
    RecordedRequest,
    Reply,
    StreamReply,
)
from .openai_compat import TINY_PNG, OpenAIEmulator, embedding_vector
from .script import ChatScript, ScriptedChatServer

__all__ = [
    "STALL",
    "TINY_PNG",
    "ChatScript",
    "Fault",
    "JSONReply",
    "LoopbackServer",
    "OpenAIEmulator",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ScriptedChatServer",
    "StreamReply",
    "embedding_vector",
]
