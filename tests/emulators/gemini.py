"""An emulator of the Gemini Developer API as the ``google-genai`` SDK calls it.

Routes (``wire_protocols.md`` section 6), under ``/v1`` (the SDK's default) and ``/v1beta``:

* ``POST /{version}/models/{model}:generateContent``: one ``GenerateContentResponse``;
* ``POST /{version}/models/{model}:streamGenerateContent?alt=sse``: SSE, ``data: `` (with the
  space) and a full ``GenerateContentResponse`` per event, no ``[DONE]``: EOF ends the stream;
* ``POST /{version}/models/{model}:batchEmbedContents``: ``{"embeddings": [{"values": [...]}]}``;
* ``POST /{version}/models/{model}:countTokens``: ``{"totalTokens": n}`` (see ``count_tokens_of``);
* ``GET /{version}/models?pageSize=&pageToken=``: ``{"models": [...], "nextPageToken"}``; a key
  other than ``listing_key`` gets Google's 400 ``API_KEY_INVALID`` (as the real API answers).

The scripted reply (:class:`~tests.emulators.script.ChatScript`) is rendered as Gemini does:
thoughts are parts with ``"thought": true``, a tool call is one whole ``functionCall`` part with
``args`` as an object (never split across events), and ``finishReason`` is ``STOP`` for tool
calls too. ``usageMetadata`` carries ``thoughtsTokenCount`` (half of the scripted completion
tokens, when there is reasoning) apart from ``candidatesTokenCount`` (the rest). Gemini's
``functionCall.id`` is optional and usually absent: a scripted call keeps the default id
``call_<i>`` off the wire, while an explicitly scripted id is sent as ``id``. Errors have
Google's shape ``{"error": {"code", "message", "status"}}``, in a stream as one ``data:`` event.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import JSONReply, RecordedRequest, Reply, StreamReply
from .listing import ModelListing
from .openai_compat import DEFAULT_EMBEDDING_DIM, embedding_vector
from .script import ChatScript, ScriptedChatServer

__all__ = ["GeminiEmulator", "google_status"]

_ROUTE = re.compile(r"^/(v1|v1beta|v1alpha)/((?:models|tunedModels)/[^/:]+):(\w+)$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def google_status(code: int) -> str:
    """The ``google.rpc.Code`` name Google APIs pair with an HTTP status."""
    return _STATUS.get(code, "UNKNOWN")


class GeminiEmulator(ModelListing, ScriptedChatServer):
    """Gemini API server answering from the scripted chat reply."""

    default_models = [
        {
            "name": "models/gemini-2.5-flash",
            "version": "001",
            "displayName": "Gemini 2.5 Flash",
            "description": "Stable version of Gemini 2.5 Flash",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
            "thinking": True,
        },
        {
            "name": "models/gemini-embedding-001",
            "version": "001",
            "displayName": "Gemini Embedding 001",
            "inputTokenLimit": 2048,
            "outputTokenLimit": 1,
            "supportedGenerationMethods": ["embedContent", "countTextTokens"],
        },
    ]

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._ids = itertools.count(1)
        #: When True, :meth:`handle` also answers ``usageMetadata`` for embeddings.
        self.embedding_usage = False

    def clear(self) -> None:
        super().clear()
        self.embedding_usage = False

    # -- errors ----------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": google_status(status)}}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        code = int(payload.get("code") or 500)
        error = {
            "code": code,
            "message": payload.get("message", "internal error"),
            "status": payload.get("status") or google_status(code),
        }
        return b"data: %s\n\n" % json.dumps({"error": error}).encode()

    def _error(self, status: int, message: str) -> Reply:
        return JSONReply(self.error_body(status, message), status=status)

    def _models(self, req: RecordedRequest) -> Reply:
        key = req.headers.get("x-goog-api-key")
        if not key:
            return self._error(403, "Method doesn't allow unregistered callers.")
        if self.key_refused(key):
            body = self.error_body(400, "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ]
            return JSONReply(body, status=400)
        query = parse_qs(urlsplit(req.path).query)
        try:
            size = int(query.get("pageSize", ["50"])[0])
            start = int(query.get("pageToken", ["0"])[0])
        except ValueError:
            return self._error(400, "Invalid page token or size.")
        data, following = self.page(start, size)
        body: dict[str, Any] = {"models": data}
        if following is not None:
            body["nextPageToken"] = str(following)
        return JSONReply(body)

    # -- routing ---------------------------------------------------------

    def handle(self, req: RecordedRequest) -> Reply:
        path, _, query = req.path.partition("?")
        if req.method == "GET" and re.fullmatch(r"/(v1|v1beta|v1alpha)/models", path):
            return self._models(req)
        match = _ROUTE.match(path)
        if req.method != "POST" or match is None:
            return self.not_found(req)
        if not req.headers.get("x-goog-api-key"):
            return self._error(403, "Method doesn't allow unregistered callers.")
        if not isinstance(req.json, dict):
            return self._error(400, "Invalid JSON payload received.")
        resource, method = match.group(2), match.group(3)
        if method == "generateContent":
            return self._generate(req.json, resource, stream=False)
        if method == "streamGenerateContent":
            if "alt=sse" not in query.split("&"):
                return self._error(400, "this emulator streams only with alt=sse")
            return self._generate(req.json, resource, stream=True)
        if method == "batchEmbedContents":
            return self._embed(req.json, resource)
        if method == "countTokens":
            return self._count_tokens(req.json)
        return self.not_found(req)

    # -- countTokens -----------------------------------------------------

    def _count_tokens(self, body: dict[str, Any]) -> Reply:
        """``{"totalTokens": n}``, n from :func:`count_tokens_of` (deterministic)."""
        request = body.get("generateContentRequest") or {}
        contents = body.get("contents") or request.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._error(400, "* CountTokensRequest.contents: contents is not specified")
        for content in contents:
            if not isinstance(content, dict) or not content.get("parts"):
                return self._error(400, "* CountTokensRequest.contents: parts must not be empty")
        return JSONReply({"totalTokens": count_tokens_of(contents)})

    # -- generateContent -------------------------------------------------

    def _generate(self, body: dict[str, Any], resource: str, stream: bool) -> Reply:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._error(400, "* GenerateContentRequest.contents: contents is not specified")
        for content in contents:
            if not isinstance(content, dict) or not content.get("parts"):
                return self._error(
                    400, "* GenerateContentRequest.contents: parts must not be empty"
                )
        script = self.script_for(body)
        meta = {
            "modelVersion": script.model or resource.split("/", 1)[1],
            "responseId": f"resp-emu{next(self._ids)}",
        }
        if stream:
            return StreamReply(self._events(script, meta))
        return JSONReply(self._response(script, _all_parts(script) or [{"text": ""}], meta, True))

    @staticmethod
    def _response(
        script: ChatScript, parts: list[dict[str, Any]], meta: dict[str, Any], final: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        usage: dict[str, int] = {"promptTokenCount": script.prompt_tokens}
        if final:
            candidate["finishReason"] = _FINISH.get(
                script.final_finish_reason, script.final_finish_reason.upper()
            )
            thoughts = script.completion_tokens // 2 if script.reasoning is not None else 0
            usage["candidatesTokenCount"] = script.completion_tokens - thoughts
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] = sum(usage.values())
        return {"candidates": [candidate], "usageMetadata": usage, **meta}

    def _events(self, script: ChatScript, meta: dict[str, Any]) -> Iterator[bytes]:
        pieces = [[{"text": p, "thought": True}] for p in script.reasoning_pieces]
        pieces += [[{"text": p}] for p in script.text_pieces]
        pieces += [[part] for part in _call_parts(script)]
        if not pieces:
            pieces = [[{"text": ""}]]
        for i, parts in enumerate(pieces):
            event = self._response(script, parts, meta, final=i == len(pieces) - 1)
            yield b"data: %s\n\n" % json.dumps(event).encode()

    # -- embeddings ------------------------------------------------------

    def _embed(self, body: dict[str, Any], resource: str) -> Reply:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, "* BatchEmbedContentsRequest.requests: must not be empty")
        embeddings = []
        words = 0
        for i, item in enumerate(requests):
            text = _texts(item.get("content")) if isinstance(item, dict) else None
            if text is None:
                return self._error(400, f"* requests[{i}].content: content is not specified")
            if item.get("model") != resource:
                return self._error(
                    400, f"Model names should match: requests[{i}].model must be {resource}"
                )
            dim = item.get("outputDimensionality") or DEFAULT_EMBEDDING_DIM
            if not isinstance(dim, int) or dim < 1:
                return self._error(400, "outputDimensionality must be a positive integer")
            media = [p for p in item["content"].get("parts") or [] if "text" not in p]
            if media and not _multimodal_embedder(resource):
                return self._error(400, f"* requests[{i}]: {resource} embeds text only")
            # Media parts (gemini-embedding-2) change the vector: keyed on the whole content.
            key = json.dumps(item["content"], sort_keys=True) if media else text
            embeddings.append({"values": embedding_vector(key, dim)})
            words += len(text.split())
        reply: dict[str, Any] = {"embeddings": embeddings}
        if self.embedding_usage:
            reply["usageMetadata"] = {"promptTokenCount": words, "totalTokenCount": words}
        return JSONReply(reply)


def _multimodal_embedder(resource: str) -> bool:
    """Whether the model embeds images and videos too (gemini-embedding-2 and later); the
    text-only ones (gemini-embedding-001, text-embedding-004) are refused media parts."""
    model = resource.rsplit("/", 1)[-1]
    return model.startswith("gemini-embedding-") and not model.startswith(
        ("gemini-embedding-001", "gemini-embedding-exp")
    )


#: What the countTokens route charges for an ``inlineData`` or ``fileData`` part.
MEDIA_TOKENS = 258


def count_tokens_of(contents: list[dict[str, Any]]) -> int:
    """The emulator's token count: whitespace-separated words of text parts, of a functionCall's
    name and sorted-JSON args and of a functionResponse's sorted-JSON response, plus
    :data:`MEDIA_TOKENS` per media part."""
    total = 0
    for content in contents:
        for part in content["parts"]:
            if "text" in part:
                total += len(str(part["text"]).split())
            elif "functionCall" in part:
                call = part["functionCall"]
                args = json.dumps(call.get("args") or {}, sort_keys=True)
                total += len(call.get("name", "").split()) + len(args.split())
            elif "functionResponse" in part:
                response = part["functionResponse"].get("response") or {}
                total += len(json.dumps(response, sort_keys=True).split())
            elif "inlineData" in part or "fileData" in part:
                total += MEDIA_TOKENS
    return total


def _all_parts(script: ChatScript) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if script.reasoning is not None:
        parts.append({"text": script.reasoning_text, "thought": True})
    if script.text:
        parts.append({"text": script.text})
    return parts + _call_parts(script)


def _call_parts(script: ChatScript) -> list[dict[str, Any]]:
    parts = []
    for i, call in enumerate(script.tool_calls):
        try:
            args = json.loads(call["arguments"])
        except ValueError:
            args = {"raw": call["arguments"]}
        function: dict[str, Any] = {"name": call["name"], "args": args}
        if call["id"] != f"call_{i}":
            function["id"] = call["id"]
        part: dict[str, Any] = {"functionCall": function}
        if i == 0 and script.reasoning is not None:  # thinking models sign the first call
            part["thoughtSignature"] = base64.b64encode(b"emu-signature").decode()
        parts.append(part)
    return parts


def _texts(content: Any) -> str | None:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return None
    return "".join(p.get("text", "") for p in content["parts"] if isinstance(p, dict))
