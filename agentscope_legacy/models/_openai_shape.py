"""Pure parsing of OpenAI-shaped chat payloads given as plain dicts and SSE text.

Shared by the wrappers that parse JSON rather than SDK objects: ``openai_chat`` and its
presets (the SDK sends the request, the reply's bytes are parsed here, streamed or not),
``post_api_chat`` (any OpenAI-compatible HTTP server) and ``llamacpp_chat`` (llama-cpp-python
returns OpenAI-shaped dicts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ProviderError, ResponseFormatError
from .response import Delta, ModelResponse, Usage, tool_call_block

#: The Chat Completions request parameters (API reference) a config's ``generate_args`` may
#: set for the OpenAI SDK wrappers, and the SDK's per-request options (``extra_body`` carries
#: parameters of other servers, ``extra_headers``, ``extra_query``, ``timeout``). ``model``,
#: ``messages`` and ``stream`` are the wrapper's own. Checked when a config is loaded.
OPENAI_CHAT_ARGS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "moderation", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p",
        "user", "verbosity", "web_search_options",
        "extra_body", "extra_headers", "extra_query", "timeout",
    }
)  # fmt: skip


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


class SSEDecoder:
    """Incremental SSE decoding: feed byte blocks, get the ``data`` of each complete event.

    ``data: [DONE]`` sets ``done``; multi-line ``data:`` fields are joined with newlines as the
    SSE specification says; other fields and ``:`` comments are ignored; CRLF is accepted.
    Parsing the bytes here costs a few microseconds per event where building the SDK's typed
    objects costs ~70.
    """

    __slots__ = ("_pending", "_data", "done")

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []
        self.done = False

    def feed(self, block: bytes) -> list[bytes]:
        """The payloads of the events completed by ``block`` (nothing more once ``done``).

        Payloads stay bytes so that a malformed one fails only when its turn comes, after
        the good events before it were delivered.
        """
        events: list[bytes] = []
        if self.done:
            return events
        lines = (self._pending + block).split(b"\n") if self._pending else block.split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if self._data and self._emit(events):
                    return events
            elif line[:5] == b"data:":
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
        return events

    def close(self) -> list[bytes]:
        """At EOF: an event the server did not close with a blank line still counts."""
        events: list[bytes] = []
        if self._pending and not self.done:
            self.feed(b"\n")
        if self._data and not self.done:
            self._emit(events)
        return events

    def _emit(self, events: list[bytes]) -> bool:
        data, self._data = self._data, []
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        if payload.strip() == b"[DONE]":
            self.done = True
            return True
        events.append(payload)
        return False


def delta_from_sdk_chunk(chunk: Any) -> Delta:
    """A Delta from a typed OpenAI-shaped chunk object (the zhipuai and litellm SDKs).

    Undeclared fields such as ``reasoning_content`` are read from the instance dict
    (``model_extra`` for pydantic), never by attribute lookups that may raise.
    """
    usage = getattr(chunk, "usage", None)
    totals = (usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else None
    request_id = getattr(chunk, "id", None)
    if not chunk.choices:
        return Delta(usage=totals, request_id=request_id)
    choice = chunk.choices[0]
    delta = choice.delta
    calls = None
    if getattr(delta, "tool_calls", None):
        calls = [
            {
                "index": c.index if c.index is not None else i,
                "id": c.id,
                "name": c.function.name if c.function else None,
                "arguments": c.function.arguments if c.function else None,
            }
            for i, c in enumerate(delta.tool_calls)
        ]
    fields = {**vars(delta), **(getattr(delta, "model_extra", None) or {})}
    reasoning = fields.get("reasoning_content") or fields.get("reasoning") or ""
    return Delta(delta.content or "", reasoning, calls, totals, choice.finish_reason, request_id)


def iter_sse_json(blocks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """JSON payloads of an SSE byte stream (any block boundaries); stops at ``[DONE]``."""
    decoder = SSEDecoder()
    for block in blocks:
        for payload in decoder.feed(block):
            yield loads_event(payload)
        if decoder.done:
            return
    for payload in decoder.close():
        yield loads_event(payload)


def _not_sse(content_type: str | None, body: bytes) -> ResponseFormatError:
    kind = "HTML" if b"<" in body[:1] or "html" in (content_type or "") else "a body"
    return ResponseFormatError(
        f"the server answered a streamed call with {kind} ("
        f"{content_type or 'no content type'}), not server-sent events "
        f"(text/event-stream): {body[:200]!r}"
    )


def sse_blocks(content_type: str | None, blocks: Iterator[bytes]) -> Iterator[bytes]:
    """``blocks`` of a streamed reply, refused with a ResponseFormatError when they are not
    SSE: an HTML content type or body, or a body of another type without one ``data:`` line
    (an error page from a proxy, a JSON reply). SSE bodies pass through untouched."""
    if content_type and "event-stream" in content_type:
        return blocks
    return _checked_blocks(content_type, blocks)


def _checked_blocks(content_type: str | None, blocks: Iterator[bytes]) -> Iterator[bytes]:
    seen = b""
    for block in blocks:
        if not seen and (block.lstrip()[:1] == b"<" or "html" in (content_type or "")):
            raise _not_sse(content_type, block.lstrip())
        seen = seen or (block if b"data:" in block else b"")
        yield block
    if not seen:
        raise _not_sse(content_type, b"")


def sse_blocks_async(content_type: str | None, blocks: Any) -> Any:
    """:func:`sse_blocks` for an async iterator of blocks."""
    if content_type and "event-stream" in content_type:
        return blocks
    return _achecked_blocks(content_type, blocks)


async def _achecked_blocks(content_type: str | None, blocks: Any) -> Any:
    seen = b""
    async for block in blocks:
        if not seen and (block.lstrip()[:1] == b"<" or "html" in (content_type or "")):
            raise _not_sse(content_type, block.lstrip())
        seen = seen or (block if b"data:" in block else b"")
        yield block
    if not seen:
        raise _not_sse(content_type, b"")


def loads_event(payload: bytes | str) -> dict[str, Any]:
    """One SSE payload as JSON; malformed ones are a ResponseFormatError."""
    try:
        return json.loads(payload)
    except ValueError:
        raise ResponseFormatError(f"malformed event in the stream: {payload[:200]!r}") from None


def _preview(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, default=str) if data is not None else "nothing"
    return text if len(text) <= 200 else text[:197] + "..."
