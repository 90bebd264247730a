"""An emulator of the Anthropic Messages API (``POST /v1/messages``), plus its pytest fixture.

``POST /v1/messages/count_tokens`` answers ``{"input_tokens": n}`` with a deterministic count of
the request (:func:`count_input_tokens`), after validating it like a messages request.

It answers in the shapes the real ``anthropic`` SDK was verified to accept
(``wire_protocols.md`` section 2): a ``message`` JSON object, or an SSE stream of **named**
events (``message_start`` ... ``message_stop``; the SDK silently skips events without an
``event:`` line). Errors use Anthropic's ``{"type":"error","error":{"type","message"}}``
shape; an in-stream error is an ``event: error``. Both auth styles are accepted
(``Authorization: Bearer`` from SDK 2.x, ``x-api-key`` from older clients and litellm).

Requests are validated like the real API on the points a wrapper can get wrong: ``max_tokens``
required, only user/assistant roles in ``messages`` (system is top-level), no extra message
keys, no empty text blocks, base64 image data without a ``data:`` prefix, tool shapes, and
the thinking budget.

Prompt caching: a request with ``cache_control`` marks (at most 4, ``ephemeral``) reports
``cache_creation_input_tokens`` for a marked prefix seen for the first time and
``cache_read_input_tokens`` for the longest marked prefix an earlier request wrote (tokens as
:func:`count_input_tokens` counts them); ``input_tokens`` is then the uncached rest. Requests
without marks are answered exactly as before.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import JSONReply, RecordedRequest, Reply, StreamReply
from .fixtures import emulator_fixture, shared_emulator_of
from .listing import ModelListing
from .script import ChatScript, ScriptedChatServer, split_text

__all__ = ["AnthropicEmulator", "anthropic_server", "shared_anthropic_emulator"]

SIGNATURE = "c2lnbmF0dXJl"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking"}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (name.encode(), json.dumps(data).encode())


class AnthropicEmulator(ModelListing, ScriptedChatServer):
    """Anthropic server: ``POST /v1/messages``, streamed or not, and ``GET /v1/models``."""

    default_models = [
        {
            "type": "model",
            "id": "claude-sonnet-4-5-20250929",
            "display_name": "Claude Sonnet 4.5",
            "created_at": "2025-09-29T00:00:00Z",
        },
        {
            "type": "model",
            "id": "claude-haiku-4-5-20251001",
            "display_name": "Claude Haiku 4.5",
            "created_at": "2025-10-15T00:00:00Z",
        },
    ]

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._ids = itertools.count(1)
        #: Hashes of the prefixes that requests with cache_control marks wrote.
        self.cached_prefixes: set[str] = set()

    def clear(self) -> None:
        """Also forget the prompt cache."""
        super().clear()
        self.cached_prefixes = set()

    # -- errors ----------------------------------------------------------
    def error_body(self, status: int, message: str) -> Any:
        kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        error = {"type": "api_error", "message": "Internal server error", **payload}
        return _event("error", {"type": "error", "error": error})

    def _error(self, status: int, message: str) -> Reply:
        return JSONReply(self.error_body(status, message), status=status)

    # -- routing ---------------------------------------------------------
    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method == "POST" and path == "/v1/messages":
            return self._messages(req)
        if req.method == "POST" and path == "/v1/messages/count_tokens":
            return self._count_tokens(req)
        if req.method == "GET" and path == "/v1/models":
            return self._models(req)
        return self.not_found(req)

    def _models(self, req: RecordedRequest) -> Reply:
        """``{"data", "has_more", "first_id", "last_id"}``, a page of ``limit`` (default 20)
        entries after ``after_id``, newest first as the API lists them."""
        # This SDK sends the key as a bearer token; older ones (and curl examples) as x-api-key.
        bearer = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.key_refused(req.headers.get("x-api-key") or bearer):
            return self._error(401, "invalid x-api-key")
        query = parse_qs(urlsplit(req.path).query)
        try:
            limit = int(query.get("limit", ["20"])[0])
        except ValueError:
            return self._error(400, "limit: Input should be a valid integer")
        start = 0
        after = query.get("after_id", [None])[0]
        if after is not None and isinstance(self.models, list):
            ids = [m.get("id") if isinstance(m, dict) else None for m in self.models]
            if after not in ids:
                return self._error(400, f"after_id: unknown model id {after!r}")
            start = ids.index(after) + 1
        data, following = self.page(start, limit)
        if not isinstance(data, list):
            return JSONReply({"data": data, "has_more": False})

        def entry_id(entry: object) -> object:
            return entry.get("id") if isinstance(entry, dict) else None

        return JSONReply(
            {
                "data": data,
                "has_more": following is not None,
                "first_id": entry_id(data[0]) if data else None,
                "last_id": entry_id(data[-1]) if data else None,
            }
        )

    def _count_tokens(self, req: RecordedRequest) -> Reply:
        """``{"input_tokens": n}``, n from :func:`count_input_tokens` (deterministic)."""
        bearer = req.headers.get("authorization", "")
        if not (bearer.startswith("Bearer ") and bearer[7:].strip()) and not req.headers.get(
            "x-api-key"
        ):
            return self._error(401, "x-api-key header is required")
        if not req.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        body = req.json
        for key in ("max_tokens", "stream"):
            if isinstance(body, dict) and key in body:
                return self._error(400, f"{key}: Extra inputs are not permitted")
        problem = validate_request({**body, "max_tokens": 1} if isinstance(body, dict) else body)
        if problem:
            return self._error(400, problem)
        return JSONReply({"input_tokens": count_input_tokens(body)})

    def _messages(self, req: RecordedRequest) -> Reply:
        bearer = req.headers.get("authorization", "")
        if not (bearer.startswith("Bearer ") and bearer[7:].strip()) and not req.headers.get(
            "x-api-key"
        ):
            return self._error(401, "x-api-key header is required")
        if not req.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        body = req.json
        problem = validate_request(body)
        if problem:
            return self._error(400, problem)
        script = self.script_for(body)
        n = next(self._ids)
        model = script.model or body["model"]
        headers = {"request-id": f"req_emu{n}"}
        cache = self._cache_usage(body)
        if body.get("stream"):
            return StreamReply(self._events(script, f"msg_emu{n}", model, cache), headers=headers)
        return JSONReply(self._message(script, f"msg_emu{n}", model, cache), headers=headers)

    def _cache_usage(self, body: dict[str, Any]) -> dict[str, int] | None:
        """The usage fields of a request with cache_control marks (None without marks)."""
        items = _prompt_items(body)
        marks = [i for i, item in enumerate(items) if "cache_control" in item]
        if not marks:
            return None
        hashes, sizes, total = [], [], 0
        digest = hashlib.sha256()
        for i, item in enumerate(items):
            plain = {k: v for k, v in item.items() if k != "cache_control"}
            digest.update(json.dumps(plain, sort_keys=True).encode())
            total += _item_tokens(item)
            if i in marks:
                hashes.append(digest.copy().hexdigest())
                sizes.append(total)
        read = max(
            (s for h, s in zip(hashes, sizes, strict=True) if h in self.cached_prefixes), default=0
        )
        created = sizes[-1] - read
        self.cached_prefixes.update(hashes)
        return {
            "input_tokens": sum(_item_tokens(item) for item in items) - sizes[-1],
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
        }

    # -- replies ---------------------------------------------------------
    @staticmethod
    def _message(
        script: ChatScript, mid: str, model: str, cache: dict[str, int] | None = None
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if script.reasoning is not None:
            content.append(
                {"type": "thinking", "thinking": script.reasoning_text, "signature": SIGNATURE}
            )
        if script.text:
            content.append({"type": "text", "text": script.text})
        for call in script.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["name"],
                    "input": _tool_input(call["arguments"]),
                }
            )
        return {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _stop_reason(script),
            "stop_sequence": None,
            "usage": {
                "input_tokens": script.prompt_tokens,
                "output_tokens": script.completion_tokens,
                **(cache or {}),
            },
        }

    @staticmethod
    def _events(
        script: ChatScript, mid: str, model: str, cache: dict[str, int] | None = None
    ) -> Iterator[bytes]:
        start = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # The real API reports a small running output count here already.
            "usage": {"input_tokens": script.prompt_tokens, "output_tokens": 1, **(cache or {})},
        }
        yield _event("message_start", {"type": "message_start", "message": start})
        yield _event("ping", {"type": "ping"})
        index = 0

        def block(first: dict[str, Any], deltas: list[dict[str, Any]]) -> Iterator[bytes]:
            yield _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": first},
            )
            for delta in deltas:
                yield _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            yield _event("content_block_stop", {"type": "content_block_stop", "index": index})

        if script.reasoning is not None:
            pieces = [{"type": "thinking_delta", "thinking": p} for p in script.reasoning_pieces]
            pieces.append({"type": "signature_delta", "signature": SIGNATURE})
            yield from block({"type": "thinking", "thinking": "", "signature": ""}, pieces)
            index += 1
        if script.text:
            pieces = [{"type": "text_delta", "text": p} for p in script.text_pieces if p]
            yield from block({"type": "text", "text": ""}, pieces)
            index += 1
        for call in script.tool_calls:
            args = call["arguments"]
            fragments = split_text(args, max(1, -(-len(args) // 3)))
            pieces = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
            first = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            yield from block(first, pieces)
            index += 1
        yield _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(script), "stop_sequence": None},
                "usage": {"output_tokens": script.completion_tokens},
            },
        )
        yield _event("message_stop", {"type": "message_stop"})


def _stop_reason(script: ChatScript) -> str:
    reason = script.final_finish_reason
    return STOP_REASONS.get(reason, reason)


#: What the count route charges for an image or a document block.
MEDIA_TOKENS = 100


def count_input_tokens(body: dict[str, Any]) -> int:
    """The emulator's token count: whitespace-separated words of every text (system, text,
    thinking and tool_result text), a tool_use's name and its input as sorted JSON, each tool's
    sorted JSON, and :data:`MEDIA_TOKENS` per image or document block."""

    def words(text: Any) -> int:
        return len(str(text).split())

    def content(value: Any) -> int:
        if isinstance(value, str):
            return words(value)
        total = 0
        for block in value or []:
            kind = block.get("type")
            if kind == "text":
                total += words(block.get("text", ""))
            elif kind == "thinking":
                total += words(block.get("thinking", ""))
            elif kind in ("image", "document"):
                total += MEDIA_TOKENS
            elif kind == "tool_use":
                total += words(block["name"]) + words(json.dumps(block["input"], sort_keys=True))
            elif kind == "tool_result":
                total += content(block.get("content"))
        return total

    total = content(body.get("system"))
    total += sum(content(m.get("content")) for m in body["messages"])
    total += sum(words(json.dumps(t, sort_keys=True)) for t in body.get("tools") or [])
    return total


def _prompt_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request in the order the API caches it: tools, system blocks, message blocks."""
    system = body.get("system")
    items = list(body.get("tools") or [])
    items += [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        items += [{"role": message["role"], **block} for block in content]
    return items


def _item_tokens(item: dict[str, Any]) -> int:
    if "input_schema" in item:
        plain = {k: v for k, v in item.items() if k != "cache_control"}
        return len(json.dumps(plain, sort_keys=True).split())
    return count_input_tokens({"messages": [{"content": [item]}]})


def _cache_problem(body: dict[str, Any]) -> str | None:
    marks = [item["cache_control"] for item in _prompt_items(body) if "cache_control" in item]
    if len(marks) > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}."
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            return "cache_control.type: Input should be 'ephemeral'"
        if mark.get("ttl") not in (None, "5m", "1h"):
            return "cache_control.ttl: Input should be '5m' or '1h'"
    return None


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def validate_request(body: Any) -> str | None:
    """What the real API would reject in this body (a 400 message), or None."""
    if not isinstance(body, dict):
        return "invalid JSON body"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{i}: Input should be an object"
        if message.get("role") not in ("user", "assistant"):
            return f'messages.{i}: Unexpected role "{message.get("role")}"'
        extra = set(message) - {"role", "content"}
        if extra:
            return f"messages.{i}.{sorted(extra)[0]}: Extra inputs are not permitted"
        problem = _content_problem(message.get("content"), f"messages.{i}.content")
        if problem:
            return problem
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or list"
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not tool.get("name") or "input_schema" not in tool:
            return f"tools.{i}: name and input_schema are required"
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            return "tool_choice: Input tag is not one of 'auto', 'any', 'tool', 'none'"
        if choice["type"] == "tool" and not choice.get("name"):
            return "tool_choice.tool.name: Field required"
    thinking = body.get("thinking")
    if thinking is not None and isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= max_tokens:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
    return _cache_problem(body)


def _content_problem(content: Any, where: str) -> str | None:
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not content:
        return f"{where}: Input should be a valid string or a non-empty list"
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            return f"{where}.{j}: Input tag '{kind}' does not match any of the expected tags"
        if kind == "text" and not block.get("text"):
            return f"{where}.{j}: text content blocks must be non-empty"
        if kind == "image":
            source = block.get("source")
            if not isinstance(source, dict) or source.get("type") not in ("url", "base64"):
                return f"{where}.{j}.source: Input tag does not match 'base64', 'url'"
            if source["type"] == "base64":
                data = source.get("data")
                if not isinstance(data, str) or not data or data.startswith("data:"):
                    return f"{where}.{j}.source.base64.data: invalid base64 data"
                if not str(source.get("media_type", "")).startswith("image/"):
                    return f"{where}.{j}.source.base64.media_type: invalid media type"
        if kind == "document" and (problem := _document_problem(block, f"{where}.{j}")):
            return problem
        if kind == "tool_use" and not (
            block.get("id") and block.get("name") and isinstance(block.get("input"), dict)
        ):
            return f"{where}.{j}: tool_use blocks need id, name and an input object"
        if kind == "tool_result" and not block.get("tool_use_id"):
            return f"{where}.{j}.tool_use_id: Field required"
    return None


def _document_problem(block: dict[str, Any], where: str) -> str | None:
    """What the API rejects in a document block: PDFs as base64 or URL, plain text as text."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and source.get("media_type") != "application/pdf":
        return f"{where}.source.base64.media_type: Input should be 'application/pdf'"
    if kind == "text" and source.get("media_type") != "text/plain":
        return f"{where}.source.text.media_type: Input should be 'text/plain'"
    if kind == "url" and not str(source.get("url", "")).startswith(("http://", "https://")):
        return f"{where}.source.url.url: invalid URL"
    if kind not in ("base64", "text", "url"):
        return f"{where}.source: Input tag does not match 'base64', 'text', 'url'"
    if not source.get("data" if kind != "url" else "url"):
        return f"{where}.source: data is required"
    return None


# -- fixture ------------------------------------------------------------------------------
shared_anthropic_emulator = shared_emulator_of(AnthropicEmulator)
anthropic_server = emulator_fixture(AnthropicEmulator, "anthropic_server")
