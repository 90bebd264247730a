"""Pure parsing of OpenAI-shaped chat payloads given as plain dicts and SSE text.

Shared by the wrappers that receive JSON rather than SDK objects: ``post_api_chat`` (any
OpenAI-compatible HTTP server) and ``llamacpp_chat`` (llama-cpp-python returns OpenAI-shaped
dicts). The openai SDK wrapper parses its typed objects in ``openai.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ProviderError, ResponseFormatError
from .response import Delta, ModelResponse, Usage, tool_call_block


def response_from_completion(data: Any) -> ModelResponse:
    """A ModelResponse from a ``chat.completion`` dict (or 0.x's ``data.response`` envelope)."""
    if isinstance(data, dict) and "choices" not in data and isinstance(data.get("data"), dict):
        data = data["data"].get("response", data)  # 0.x post-API servers wrapped the reply
    # Any part of the wrong shape (a message, tool call or usage that is not an object, a tool
    # call without a function...) is a ResponseFormatError, never a bare AttributeError.
    try:
        choice = data["choices"][0]
        message = choice["message"]
        calls = [
            tool_call_block(c.get("id", ""), c["function"]["name"], c["function"].get("arguments"))
            for c in message.get("tool_calls") or []
        ]
        usage = data.get("usage") or {}
        response = ModelResponse(
            text=message.get("content") or "",
            raw=data,
            tool_calls=calls or None,
            usage=Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0),
            reasoning=message.get("reasoning_content") or message.get("reasoning") or None,
            finish_reason=choice.get("finish_reason"),
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ResponseFormatError(
            f"expected an OpenAI chat.completion with choices[0].message, got {_preview(data)}",
            body=data,
        ) from None
    return response


def delta_from_chunk(chunk: dict[str, Any]) -> Delta:
    """A Delta from one ``chat.completion.chunk`` dict."""
    if not isinstance(chunk, dict):
        raise ResponseFormatError(
            f"expected a chat.completion.chunk object in the stream, got {_preview(chunk)}",
            body=chunk,
        )
    try:
        return _delta_from_dict(chunk)
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ResponseFormatError(
            f"malformed chat.completion.chunk in the stream: {_preview(chunk)}", body=chunk
        ) from None


def _delta_from_dict(chunk: dict[str, Any]) -> Delta:
    if "error" in chunk and "choices" not in chunk:
        error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": chunk["error"]}
        raise ProviderError(f"error inside the stream: {error.get('message', error)}", body=chunk)
    usage = chunk.get("usage")
    totals = (
        (usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0) if usage else None
    )
    choices = chunk.get("choices")
    if not choices:
        return Delta(usage=totals)
    choice = choices[0]
    delta = choice.get("delta") or {}
    calls = None
    if delta.get("tool_calls"):
        calls = [
            {
                "index": c.get("index", 0),
                "id": c.get("id"),
                "name": (c.get("function") or {}).get("name"),
                "arguments": (c.get("function") or {}).get("arguments"),
            }
            for c in delta["tool_calls"]
        ]
    return Delta(
        delta.get("content") or "",
        delta.get("reasoning_content") or delta.get("reasoning") or "",
        calls,
        totals,
        choice.get("finish_reason"),
    )


def iter_sse_json(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of an SSE stream's ``data:`` fields; stops at ``[DONE]``.

    Multi-line ``data:`` fields are joined as the SSE specification says; comments and other
    fields are ignored.
    """
    buffer: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            if buffer:
                payload = "\n".join(buffer)
                buffer = []
                if payload.strip() == "[DONE]":
                    return
                yield _loads(payload)
            continue
        if line.startswith("data:"):
            buffer.append(line[6:] if line.startswith("data: ") else line[5:])
    if buffer:
        payload = "\n".join(buffer)
        if payload.strip() != "[DONE]":
            yield _loads(payload)


def _loads(payload: str) -> dict[str, Any]:
    try:
        return json.loads(payload)
    except ValueError:
        raise ResponseFormatError(f"malformed event in the stream: {payload[:200]!r}") from None


def _preview(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, default=str) if data is not None else "nothing"
    return text if len(text) <= 200 else text[:197] + "..."
