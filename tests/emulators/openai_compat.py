"""An emulator of the OpenAI HTTP API (chat completions, embeddings, images).

It answers exactly in the shapes the real ``openai`` SDK was verified to
accept (``wire_protocols.md`` section 1).  Replies are scripted with
:meth:`OpenAIEmulator.set_reply` (or computed per request with
:meth:`OpenAIEmulator.set_reply_fn`); the non-stream JSON and the SSE stream
always describe the same reply, so stream/non-stream parity can be tested.
Routes work with and without the ``/v1`` prefix.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

from .base import JSONReply, RawReply, RecordedRequest, Reply, StreamReply
from .listing import ModelListing
from .script import ChatScript, ScriptedChatServer, split_text

__all__ = ["ChatScript", "OpenAIEmulator", "TINY_PNG", "embedding_vector"]

DEFAULT_TEXT = "Hello!"
DEFAULT_EMBEDDING_DIM = 8
_PLACEHOLDER = "\u00a7piece\u00a7"
_FILE_RE = re.compile(r"^/files/img-(\d+)\.png$")


def _png_1x1() -> bytes:
    """A valid 1x1 RGBA PNG, built by hand so no image library is needed."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes([255, 0, 0, 255]))
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


TINY_PNG = _png_1x1()


def embedding_vector(text: str, dim: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """Deterministic float32-representable vector in [-1, 1] derived from sha256."""
    digest = b""
    for counter in itertools.count():
        if len(digest) >= 4 * dim:
            break
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
    ints = struct.unpack(f"<{dim}I", digest[: 4 * dim])
    values = [u / 2**31 - 1.0 for u in ints]
    # Round-trip through float32 so base64 and float encodings agree exactly.
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *values)))


class OpenAIEmulator(ModelListing, ScriptedChatServer):
    """OpenAI-compatible server: ``/v1/chat/completions``, ``/v1/embeddings``,
    ``/v1/images/generations``, ``GET /v1/models`` and ``GET /files/img-<i>.png``."""

    default_models = [
        {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
        {"id": "gpt-4.1", "object": "model", "created": 1744316542, "owned_by": "system"},
    ]

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._ids = itertools.count(1)

    # -- errors ----------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        body = super().error_body(status, message)
        if status == 401:
            body["error"]["code"] = "invalid_api_key"
        elif status == 429:
            body["error"].update(type="requests", code="rate_limit_exceeded")
        return body

    def _bad_request(self, message: str) -> Reply:
        return JSONReply(self.error_body(400, message), status=400)

    # -- routing ---------------------------------------------------------

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        if path.startswith("/v1/"):
            path = path[3:]
        if req.method == "POST" and path == "/chat/completions":
            return self._chat(req)
        if req.method == "POST" and path == "/embeddings":
            return self._embeddings(req)
        if req.method == "POST" and path == "/images/generations":
            return self._images(req)
        if req.method == "GET" and path == "/models":
            return self._models(req)
        if req.method == "GET" and _FILE_RE.match(path):
            return RawReply(TINY_PNG, content_type="image/png")
        return self.not_found(req)

    def _models(self, req: RecordedRequest) -> Reply:
        """``{"object": "list", "data": [...]}``: OpenAI sends every model in one page."""
        key = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.key_refused(key):
            body = self.error_body(401, "Incorrect API key provided.")
            return JSONReply(body, status=401)
        return JSONReply({"object": "list", "data": self.models})

    # -- chat ------------------------------------------------------------

    def _chat(self, req: RecordedRequest) -> Reply:
        body = req.json
        if not isinstance(body, dict):
            return self._bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str):
            return self._bad_request("you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self._bad_request("'messages' must be a non-empty array")
        script = self.script_for(body)
        model = script.model or body["model"]
        rid = f"chatcmpl-emu{next(self._ids)}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = (body.get("stream_options") or {}).get("include_usage") is True
            return StreamReply(self._stream_events(script, rid, created, model, include_usage))
        return JSONReply(self._completion(script, rid, created, model))

    @staticmethod
    def _completion(script: ChatScript, rid: str, created: int, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            # The real API sends null content for a pure tool-call answer.
            "content": None if script.tool_calls and not script.text else script.text,
        }
        if script.reasoning is not None:
            message["reasoning_content"] = script.reasoning_text
        if script.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in script.tool_calls
            ]
        return {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": script.final_finish_reason}
            ],
            "usage": script.usage,
        }

    @staticmethod
    def _stream_events(
        script: ChatScript, rid: str, created: int, model: str, include_usage: bool
    ) -> Iterator[bytes]:
        """SSE events for ``script``, lazily; text and reasoning use pre-encoded templates."""
        base: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        if include_usage:
            base["usage"] = None  # the real API puts a null usage on every other chunk

        def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return b"data: %s\n\n" % json.dumps({**base, "choices": [choice]}).encode()

        def templated(key: str, pieces: list[str]) -> Iterator[bytes]:
            head, tail = event({key: _PLACEHOLDER}).split(json.dumps(_PLACEHOLDER).encode())
            for piece in pieces:
                yield head + json.dumps(piece).encode() + tail

        yield event({"role": "assistant", "content": ""})
        yield from templated("reasoning_content", script.reasoning_pieces)
        yield from templated("content", script.text_pieces)
        for index, call in enumerate(script.tool_calls):
            function = {"name": call["name"], "arguments": ""}
            first = {"index": index, "id": call["id"], "type": "function", "function": function}
            yield event({"tool_calls": [first]})
            args = call["arguments"]
            size = max(1, -(-len(args) // 3))
            for fragment in split_text(args, size):
                yield event({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        yield event({}, script.final_finish_reason)
        if include_usage:
            usage_chunk = {**base, "choices": [], "usage": script.usage}
            yield b"data: %s\n\n" % json.dumps(usage_chunk).encode()
        yield b"data: [DONE]\n\n"

    # -- embeddings ------------------------------------------------------

    def _embeddings(self, req: RecordedRequest) -> Reply:
        body = req.json
        if not isinstance(body, dict) or "input" not in body or "model" not in body:
            return self._bad_request("'model' and 'input' are required")
        raw = body["input"]
        token_ids = isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)
        if isinstance(raw, str) or token_ids:
            inputs = [raw]  # one string, or one array of token ids
        elif isinstance(raw, list) and raw:
            inputs = raw
        else:
            return self._bad_request("'input' must be a non-empty string or array")
        dim = body.get("dimensions") or DEFAULT_EMBEDDING_DIM
        if not isinstance(dim, int) or dim < 1:
            return self._bad_request("'dimensions' must be a positive integer")
        fmt = body.get("encoding_format") or "float"
        data = []
        words = 0
        for index, item in enumerate(inputs):
            key = item if isinstance(item, str) else json.dumps(item)
            words += len(item.split()) if isinstance(item, str) else len(item)
            vector = embedding_vector(key, dim)
            encoded: Any = vector
            if fmt == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return JSONReply(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": words, "total_tokens": words},
            }
        )

    # -- images ----------------------------------------------------------

    def _images(self, req: RecordedRequest) -> Reply:
        body = req.json
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return self._bad_request("'prompt' is required")
        n = body.get("n") or 1
        if body.get("response_format") == "b64_json":
            b64 = base64.b64encode(TINY_PNG).decode()
            data = [{"b64_json": b64} for _ in range(n)]
        else:
            data = [{"url": f"{self.base_url}/files/img-{i}.png"} for i in range(n)]
        return JSONReply({"created": int(time.time()), "data": data})
