"""Prototype: stream chat completions through the SDK's transport but parse SSE with the stdlib.

The ``openai`` SDK builds a typed pydantic object for every chunk. This prototype keeps the
SDK for everything up to the HTTP response (auth, headers, retries, error statuses) through
``client.chat.completions.with_streaming_response.create(...)``, then reads the raw bytes,
splits SSE events itself and ``json.loads`` each ``data`` payload into plain dicts.

Semantics kept from the SDK (``openai._streaming.Stream.__stream__``):

* ``data: [DONE]`` ends the stream; so does EOF (an event not closed by a blank line is
  dropped);
* an event whose JSON has a truthy ``error`` raises (``StreamError`` here, ``openai.APIError``
  in the SDK);
* multi-line ``data:`` fields are joined with ``\\n``; ``event:``/``id:``/``retry:`` fields and
  ``:`` comments are ignored; ``\\r\\n`` line endings are accepted.

Differences, i.e. what a production version must still do:

* lines ending in a lone ``\\r`` (legal SSE, which the SDK's decoder splits; never seen from
  OpenAI-compatible servers) are not split;
* the SDK also special-cases Assistants ``thread.*`` events (not used by chat completions);
* chunks are dicts, not typed objects: unknown fields need no ``getattr`` dance, but callers
  relying on attribute access or ``model_dump`` lose it;
* unlike the SDK's sync stream, the remaining body is drained after ``[DONE]`` so the
  keep-alive connection returns to the pool (see the connection-reuse case).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


class StreamError(Exception):
    """An ``{"error": ...}`` event inside a 200 stream."""

    def __init__(self, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(message or "An error occurred during streaming")
        self.body = body


def sse_data(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The ``data`` payload of each SSE event in a byte stream (fields joined by newlines)."""
    pending = b""
    data: list[bytes] = []
    for block in blocks:
        lines = (pending + block).split(b"\n") if pending else block.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if data:
                    yield data[0] if len(data) == 1 else b"\n".join(data)
                    data = []
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
    # EOF: an event not closed by a blank line is dropped, as the SSE spec and the SDK do.


def iter_chunks(blocks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Chat-completion chunks as dicts, with the SDK's ``[DONE]`` and error-event rules."""
    loads = json.loads
    for data in sse_data(blocks):
        if data[:6] == b"[DONE]":
            return
        chunk = loads(data)
        if isinstance(chunk, dict) and chunk.get("error"):
            raise StreamError(chunk["error"])
        yield chunk


def stream_deltas(client: Any, **request: Any) -> Iterator[str]:
    """The text deltas of a streamed chat completion, parsed without typed objects."""
    request["stream"] = True
    with client.chat.completions.with_streaming_response.create(**request) as response:
        blocks = response.iter_bytes()
        for chunk in iter_chunks(blocks):
            choices = chunk.get("choices")
            if choices:
                content = choices[0].get("delta", {}).get("content")
                if content:
                    yield content
        for _ in blocks:  # drain what follows [DONE] so the connection can be reused
            pass
