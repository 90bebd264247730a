"""Response parsing (pure): a non-streamed reply, or raw stream events, to a ModelResponse or
Deltas."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import ResponseFormatError
from ..response import Delta, ModelResponse, Usage, tool_call_block


class _Tokens:
    """Running token counts; Anthropic's usage fields are cumulative, never to be summed."""

    def __init__(self) -> None:
        self.input = self.cache_creation = self.cache_read = self.output = 0

    def update(self, usage: Any) -> tuple[int, int, int, int]:
        """``(prompt, completion, cache_read, cache_creation)``; prompt counts the cached
        tokens too (they are prompt tokens, billed at another rate)."""
        for attr, name in (
            ("input", "input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("output", "output_tokens"),
        ):
            if usage is None:
                value = None
            elif isinstance(usage, dict):
                value = usage.get(name)
            else:
                value = getattr(usage, name, None)
            if value is not None:
                setattr(self, attr, value)
        prompt = self.input + self.cache_creation + self.cache_read
        return prompt, self.output, self.cache_read, self.cache_creation


def response_from_reply(reply: Any) -> ModelResponse:
    """A ModelResponse from the HTTP reply (2xx, body read) of a non-streamed Messages call."""
    try:
        data = json.loads(reply.content)
    except ValueError:
        kind = reply.headers.get("content-type") or "no content type"
        raise ResponseFormatError(
            f"malformed response ({kind}): not a JSON document: {reply.content[:200]!r}"
        ) from None
    response = response_from_message(data)
    response.request_id = reply.headers.get("request-id")
    return response


def response_from_message(message: Any) -> ModelResponse:
    """A ModelResponse from a Messages API ``message`` document (``raw`` is that dict, as in
    0.x): text blocks joined, thinking as reasoning, ``tool_use`` blocks as tool calls."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise ResponseFormatError(
            f"the response has no content: {str(message)[:200]}", body=message
        )
    texts, thinking, calls = [], [], []
    try:
        for block in content:
            kind = block.get("type")
            if kind == "text":
                texts.append(block["text"])
            elif kind == "thinking":
                thinking.append(block["thinking"])
            elif kind == "tool_use":
                calls.append(tool_call_block(block["id"], block["name"], block.get("input") or {}))
        usage = message.get("usage")
        tokens = _Tokens().update(usage if isinstance(usage, dict) else None)
        text = "".join(texts)
        reasoning = "".join(thinking) if thinking else None
    except (KeyError, TypeError, AttributeError):
        raise ResponseFormatError(
            f"malformed content block in the response: {str(content)[:200]}", body=message
        ) from None
    return ModelResponse(
        text=text,
        raw=message,
        tool_calls=calls or None,
        usage=Usage(
            tokens[0], tokens[1], cache_read_tokens=tokens[2], cache_creation_tokens=tokens[3]
        ),
        reasoning=reasoning,
        finish_reason=message.get("stop_reason"),
    )


def deltas_from_events(events: Iterable[Any], request_id: str | None = None) -> Iterator[Delta]:
    """Deltas from raw stream events (``message_start`` ... ``message_stop``)."""
    parse = EventParser(request_id)
    for event in events:
        if (delta := parse(event)) is not None:
            yield delta


class EventParser:
    """One raw stream event to a Delta (None for events that carry nothing); sync and async
    streams share it.

    Usage: input tokens come from ``message_start`` (or a later cumulative value); output
    tokens are the last running total of ``message_delta``.
    """

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.tokens = _Tokens()

    def __call__(self, event: Any) -> Delta | None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            return Delta(usage=self.tokens.update(event.message.usage), request_id=self.request_id)
        if kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                call: dict[str, Any] = {"index": event.index, "id": block.id, "name": block.name}
                if block.input:
                    call["input"] = block.input
                return Delta(tool_calls=[call])
            if block.type == "text" and block.text:
                return Delta(text=block.text)
            if block.type == "thinking" and block.thinking:
                return Delta(reasoning=block.thinking)
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return Delta(text=delta.text)
            if delta.type == "thinking_delta":
                return Delta(reasoning=delta.thinking)
            if delta.type == "input_json_delta" and delta.partial_json:
                return Delta(tool_calls=[{"index": event.index, "arguments": delta.partial_json}])
        elif kind == "message_delta":
            return Delta(
                usage=self.tokens.update(getattr(event, "usage", None)),
                finish_reason=getattr(event.delta, "stop_reason", None),
            )
        return None
