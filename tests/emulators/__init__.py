"""Loopback emulators of LLM provider HTTP APIs, for tests with the real SDKs.

See :mod:`tests.emulators.base` for the transport and fault injection, and
:mod:`tests.emulators.fixtures` for the pytest fixtures.
"""

from .base import Fault, JSONReply, LoopbackServer, RawReply, RecordedRequest, Reply, StreamReply
from .openai_compat import TINY_PNG, ChatScript, OpenAIEmulator, embedding_vector

__all__ = [
    "TINY_PNG",
    "ChatScript",
    "Fault",
    "JSONReply",
    "LoopbackServer",
    "OpenAIEmulator",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "StreamReply",
    "embedding_vector",
]
