"""An emulator of the ZhipuAI (BigModel) API v4, plus its pytest fixture.

Routes: ``POST /api/paas/v4/chat/completions`` and ``POST /api/paas/v4/embeddings``, in the
shapes the real ``zhipuai`` SDK was verified to accept (``wire_protocols.md`` section 4):
OpenAI-like JSON with a ``request_id``; streams of ``data: {chunk}`` with incremental
``content`` / ``reasoning_content`` deltas, whole tool calls in one chunk, usage on the final
chunk that has ``finish_reason``, then ``data: [DONE]``. Errors are
``{"error": {"code", "message"}}`` (the business codes below are illustrative), the same shape
inside a stream. A bearer token is required.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

from .base import JSONReply, RecordedRequest, Reply, StreamReply
from .fixtures import emulator_fixture, shared_emulator_of
from .openai_compat import DEFAULT_EMBEDDING_DIM, embedding_vector
from .script import ChatScript, ScriptedChatServer

__all__ = ["ZhipuAIEmulator", "shared_zhipuai_emulator", "zhipuai_server"]

PREFIX = "/api/paas/v4"
ERROR_CODES = {400: "1210", 401: "1000", 404: "1211", 429: "1302", 500: "500", 503: "1305"}
ROLES = ("system", "user", "assistant", "tool")


class ZhipuAIEmulator(ScriptedChatServer):
    """ZhipuAI server: chat completions (streamed or not) and embeddings."""

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._ids = itertools.count(1)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": ERROR_CODES.get(status, str(status)), "message": message}}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        error = {"code": "1301", "message": "content flagged", **payload}
        return b"data: %s\n\n" % json.dumps({"error": error}).encode()

    def _error(self, status: int, message: str) -> Reply:
        return JSONReply(self.error_body(status, message), status=status)

    # -- routing ---------------------------------------------------------
    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method != "POST" or not path.startswith(PREFIX + "/"):
            return self.not_found(req)
        auth = req.headers.get("authorization", "")
        if not (auth.startswith("Bearer ") and auth[7:].strip()):
            return self._error(401, "令牌为空 (the Authorization header is missing)")
        route = path[len(PREFIX) :]
        if route == "/chat/completions":
            return self._chat(req)
        if route == "/embeddings":
            return self._embeddings(req)
        return self.not_found(req)

    # -- chat ------------------------------------------------------------
    def _chat(self, req: RecordedRequest) -> Reply:
        body = req.json
        problem = validate_chat(body)
        if problem:
            return self._error(400, problem)
        script = self.script_for(body)
        n = next(self._ids)
        rid = f"2025{n:016d}"
        model = script.model or body["model"]
        created = int(time.time())
        if body.get("stream"):
            return StreamReply(self._chunks(script, rid, created, model))
        return JSONReply(self._completion(script, rid, created, model))

    @staticmethod
    def _completion(script: ChatScript, rid: str, created: int, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if script.tool_calls and not script.text else script.text,
        }
        if script.reasoning is not None:
            message["reasoning_content"] = script.reasoning_text
        if script.tool_calls:
            message["tool_calls"] = _tool_calls(script)
        return {
            "id": rid,
            "request_id": rid,
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "finish_reason": script.final_finish_reason, "message": message}
            ],
            "usage": script.usage,
        }

    @staticmethod
    def _chunks(script: ChatScript, rid: str, created: int, model: str) -> Iterator[bytes]:
        base = {"id": rid, "created": created, "model": model}

        def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
            choice = {"index": 0, "delta": {"role": "assistant", **delta}, **extra}
            return b"data: %s\n\n" % json.dumps({**base, "choices": [choice]}).encode()

        for piece in script.reasoning_pieces:
            yield chunk({"reasoning_content": piece})
        for piece in script.text_pieces:
            yield chunk({"content": piece})
        if script.tool_calls:
            yield chunk({"tool_calls": _tool_calls(script)})
        last = {"index": 0, "delta": {"role": "assistant", "content": ""}}
        last["finish_reason"] = script.final_finish_reason
        final = {**base, "choices": [last], "usage": script.usage}
        yield b"data: %s\n\n" % json.dumps(final).encode()
        yield b"data: [DONE]\n\n"

    # -- embeddings ------------------------------------------------------
    def _embeddings(self, req: RecordedRequest) -> Reply:
        body = req.json
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "model is required")
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) for t in inputs)
        ):
            return self._error(400, "input must be a non-empty string or array of strings")
        dim = body.get("dimensions") or DEFAULT_EMBEDDING_DIM
        if not isinstance(dim, int) or dim < 1:
            return self._error(400, "dimensions must be a positive integer")
        words = sum(len(t.split()) for t in inputs)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding_vector(text, dim)}
            for i, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": words, "completion_tokens": 0, "total_tokens": words}
        return JSONReply({"object": "list", "model": body["model"], "data": data, "usage": usage})


def _tool_calls(script: ChatScript) -> list[dict[str, Any]]:
    return [
        {
            "id": call["id"],
            "index": i,
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for i, call in enumerate(script.tool_calls)
    ]


def validate_chat(body: Any) -> str | None:
    """What the real API would reject in a chat body (a 400 message), or None."""
    if not isinstance(body, dict):
        return "invalid JSON body"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {', '.join(ROLES)}"
    for i, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            tool.get("type") != "function"
            or not isinstance(function, dict)
            or not function.get("name")
        ):
            return f"tools[{i}] must be a function tool with a name"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature must be in [0, 1]"
    return None


# -- fixture ------------------------------------------------------------------------------
shared_zhipuai_emulator = shared_emulator_of(ZhipuAIEmulator)
zhipuai_server = emulator_fixture(ZhipuAIEmulator, "zhipuai_server")
