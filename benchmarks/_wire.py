"""The bytes the benchmark server sends, and the text a client must reassemble from them.

Shared by the server process, the benchmark cases and the peer workers, so it uses the
standard library only. The shapes follow ``shared/spec/wire_protocols.md`` section 1 (what
the ``openai`` SDK was verified to accept), with the fields the real API sends on every chunk
(``system_fingerprint``, ``logprobs``, ``usage: null``) so that parsing costs are realistic.

The model name selects the reply: ``bench`` is a fixed completion; ``bench-<n>`` streamed is
``n`` text chunks; ``bench-<n>-error`` streams ``n`` chunks then an error event.
"""

from __future__ import annotations

import json

MODEL = "bench"
CREATED = 1_700_000_000
#: Text pieces cycled through by streams: about one token each, as servers send them.
PIECES = (
    "Hello",
    ",",
    " this",
    " is",
    " a",
    " stream",
    "ed",
    " reply",
    " from",
    " the",
    " bench",
    "mark",
    " server",
    ".",
    " It",
    " goes",
    " on",
    " and",
    " on",
    "\n",
)
COMPLETION_TEXT = "Hello! I am the benchmark server; this is a fixed completion."
#: HTTP chunk size for streamed bodies: SSE events are written in batches this large.
BATCH_BYTES = 64 * 1024
DONE = b"data: [DONE]\n\n"


def stream_text(n: int) -> str:
    """The text of an ``n``-chunk stream."""
    return "".join(PIECES[i % len(PIECES)] for i in range(n))


def parse_model(model: str) -> tuple[int, bool]:
    """``(chunks, error)`` from a model name like ``bench-1000`` or ``bench-5-error``."""
    parts = model.split("-")
    chunks = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 3
    return chunks, parts[-1] == "error"


def _event(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


def sse_events(model: str) -> bytes:
    """The SSE body (not yet HTTP-chunked) of a streamed reply for ``model``."""
    n, error = parse_model(model)
    events = [_event(_chunk(model, {"role": "assistant", "content": "", "refusal": None}))]
    events += [_event(_chunk(model, {"content": PIECES[i % len(PIECES)]})) for i in range(n)]
    if error:
        events.append(_event({"error": {"message": "boom", "type": "server_error"}}))
        return b"".join(events)
    events.append(_event(_chunk(model, {}, "stop")))
    usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n}
    events.append(_event({**_chunk(model, {}), "choices": [], "usage": usage}))
    events.append(DONE)
    return b"".join(events)


def completion(model: str) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": COMPLETION_TEXT, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 14, "total_tokens": 26},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def http_response(body: bytes, content_type: str, *, chunked: bool = False) -> bytes:
    """A whole HTTP/1.1 keep-alive response, encoded once and sent as one write."""
    head = [b"HTTP/1.1 200 OK", b"Content-Type: " + content_type.encode()]
    if chunked:
        head.append(b"Transfer-Encoding: chunked")
        parts = []
        for start in range(0, len(body), BATCH_BYTES):
            piece = body[start : start + BATCH_BYTES]
            parts.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        parts.append(b"0\r\n\r\n")
        payload = b"".join(parts)
    else:
        head.append(b"Content-Length: %d" % len(body))
        payload = body
    head.append(b"x-request-id: req-bench")
    return b"\r\n".join(head) + b"\r\n\r\n" + payload
