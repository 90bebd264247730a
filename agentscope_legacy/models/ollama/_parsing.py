"""Response parsing (pure): ``/api/chat`` replies and streamed parts to a ModelResponse or
Deltas; tool calls get stable ids."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..response import Delta, ModelResponse, Usage


def _usage(part: Any) -> tuple[int, int]:
    return (part.prompt_eval_count or 0, part.eval_count or 0)


def call_id(index: int, name: str, arguments: Any) -> str:
    """A stable id for a tool call (Ollama sends none): the same call gets the same id."""
    digest = hashlib.sha256(
        json.dumps([index, name, arguments], sort_keys=True, default=str).encode()
    )
    return f"call_{digest.hexdigest()[:12]}"


def tool_call_blocks(calls: Any, start: int = 0) -> list[dict[str, Any]]:
    """``tool_use`` blocks (with stable ids) from the SDK's ``message.tool_calls``."""
    blocks = []
    for i, call in enumerate(calls or [], start):
        args = dict(call.function.arguments or {})
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id(i, call.function.name, args),
                "name": call.function.name,
                "input": args,
            }
        )
    return blocks


def _finish_reason(reason: str | None, has_calls: bool) -> str | None:
    # Ollama says "stop" after tool calls; say "tool_calls" as the other providers do.
    return "tool_calls" if has_calls and reason in (None, "stop") else reason


def response_from_chat(part: Any) -> ModelResponse:
    """A ModelResponse from a non-streamed ``/api/chat`` reply."""
    message = part.message
    calls = tool_call_blocks(message.tool_calls)
    return ModelResponse(
        text=message.content or "",
        raw=part,
        tool_calls=calls or None,
        usage=Usage(*_usage(part)),
        reasoning=message.thinking or None,
        finish_reason=_finish_reason(part.done_reason, bool(calls)),
    )


class ChatPartParser:
    """One streamed ``/api/chat`` part to a Delta (tool calls numbered across the reply)."""

    def __init__(self) -> None:
        self.n_calls = 0

    def __call__(self, part: Any) -> Delta:
        message = part.message
        calls = None
        if message.tool_calls:
            blocks = tool_call_blocks(message.tool_calls, self.n_calls)
            calls = [{"index": self.n_calls + i, **b} for i, b in enumerate(blocks)]
            self.n_calls += len(blocks)
        return Delta(
            message.content or "",
            message.thinking or "",
            calls,
            _usage(part) if part.done else None,
            _finish_reason(part.done_reason, self.n_calls > 0) if part.done else None,
        )
