"""``ChatResponse`` and ``ChatUsage``: what a ChatModel returns, built from a ``ModelResponse``."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..models.response import ModelResponse


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _new_id() -> str:
    return f"{datetime.now().strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"


@dataclass
class ChatUsage:
    """Tokens and time of a chat call; ``time`` is in seconds, from the call to the reply
    (for a chunk of a streamed reply: to that chunk; the tokens are then the provider's
    running totals, when it sends them)."""

    input_tokens: int
    output_tokens: int
    time: float
    type: Literal["chat"] = "chat"
    #: Input tokens read from / written to the prompt cache (Anthropic); part of input_tokens.
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0


@dataclass
class ChatResponse:
    """One reply of a ChatModel, or one accumulative chunk of a streamed reply.

    ``content`` holds content blocks in this order: a ``thinking`` block (reasoning models),
    a ``text`` block, then one ``tool_use`` block per tool call. A chunk of a stream holds
    everything received so far; the last chunk (``is_last=True``, exactly once per reply) holds
    the whole reply. The chunks of one reply share ``id`` and ``created_at``. ``metadata`` holds
    the validated structured output under ``"structured_output"`` when the call asked for one
    (``structured_model``).
    """

    content: list[dict[str, Any]]
    id: str = field(default_factory=_new_id)
    created_at: str = field(default_factory=_now)
    type: Literal["chat"] = "chat"
    usage: ChatUsage | None = None
    metadata: dict[str, Any] | None = None
    is_last: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_blocks(
    text: str | None,
    reasoning: str | None,
    tool_calls: list[dict[str, Any]] | None,
    final: bool = True,
) -> list[dict[str, Any]]:
    """Content blocks of a reply (or of a reply so far: ``final=False``).

    A tool call whose arguments are not a JSON object keeps them as ``raw_input`` in the final
    reply; in earlier chunks the arguments are usually incomplete, so only ``input`` is given
    (``{}`` until they parse).
    """
    blocks: list[dict[str, Any]] = []
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning})
    if text:
        blocks.append({"type": "text", "text": text})
    for call in tool_calls or []:
        block = {
            "type": "tool_use",
            "id": call.get("id") or "",
            "name": call.get("name") or "",
            "input": dict(call.get("input") or {}),
        }
        if final and call.get("raw_input"):
            block["raw_input"] = call["raw_input"]
        blocks.append(block)
    return blocks


def usage_of(response: ModelResponse, elapsed: float | None = None) -> ChatUsage | None:
    """The ChatUsage of a finished reply, or (``elapsed`` given) of a reply so far."""
    usage = response.usage
    if usage is None:
        return None
    seconds = usage.latency if elapsed is None else elapsed
    return ChatUsage(
        usage.prompt_tokens,
        usage.completion_tokens,
        seconds,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
    )


def chat_response(
    response: ModelResponse, metadata: dict[str, Any] | None = None, usage: ChatUsage | None = None
) -> ChatResponse:
    """The ChatResponse of a finished (non-streamed or drained) reply."""
    return ChatResponse(
        content=content_blocks(response.text, response.reasoning, response.tool_calls),
        usage=usage or usage_of(response),
        metadata=metadata,
    )


class ChunkClock:
    """Seconds since a call started, for the usage of intermediate chunks."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
