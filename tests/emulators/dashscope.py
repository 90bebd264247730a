"""An emulator of the DashScope native HTTP API, as the legacy ``dashscope`` SDK speaks it.

Routes (under any prefix, normally ``/api/v1``; see ``wire_protocols.md`` section 3a):

* ``POST .../services/aigc/text-generation/generation`` and
  ``POST .../services/aigc/multimodal-generation/generation``: chat from the shared
  :class:`ChatScript`, as JSON or, with ``X-DashScope-SSE: enable``, as DashScope SSE events
  (``id:``/``event:result``/``:HTTP_STATUS/200``/``data:`` on one line). Deltas when the request
  says ``incremental_output: true``, cumulative text otherwise (the service default).
  Multimodal replies carry ``content`` as ``[{"text": ...}]``.
* ``POST .../services/embeddings/text-embedding/text-embedding``.
* ``POST .../services/aigc/text2image/image-synthesis`` (needs ``X-DashScope-Async: enable``,
  like the real service) creates a task; ``GET .../tasks/<id>`` polls it.
* ``GET /files/img-<i>.png`` serves the generated image.
* ``GET /compatible-mode/v1/models``: the model listing of DashScope's OpenAI-compatible mode
  (OpenAI's shape and errors; the native API has no listing).

Errors use DashScope's ``{"code", "message", "request_id"}`` body; an in-stream error is an
``event:error`` event.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

from .base import JSONReply, RawReply, RecordedRequest, Reply, StreamReply
from .listing import ModelListing
from .openai_compat import TINY_PNG, embedding_vector
from .script import ChatScript, ScriptedChatServer, split_text

__all__ = ["DashScopeEmulator"]

TEXT_PATH = "/services/aigc/text-generation/generation"
MULTIMODAL_PATH = "/services/aigc/multimodal-generation/generation"
EMBEDDING_PATH = "/services/embeddings/text-embedding/text-embedding"
MM_EMBEDDING_PATH = "/services/embeddings/multimodal-embedding/multimodal-embedding"
#: What the multimodal embedding route charges per image (input_tokens) and per video.
IMAGE_TOKENS = 100
IMAGE_PATH = "/services/aigc/text2image/image-synthesis"
SSE_CONTENT_TYPE = "text/event-stream;charset=UTF-8"
DEFAULT_EMBEDDING_DIM = 8
_TASK_RE = re.compile(r"^.*/tasks/([\w-]+)$")
_FILE_RE = re.compile(r"^/files/img-(\d+)\.png$")
_ERROR_CODES = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    403: "AccessDenied",
    404: "ModelNotFound",
    429: "Throttling.RateQuota",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class DashScopeEmulator(ModelListing, ScriptedChatServer):
    """DashScope native API on loopback; ``api_base`` is what ``base_address`` should be."""

    default_models = [
        {"id": "qwen-plus", "object": "model", "created": 1745994925, "owned_by": "system"},
        {"id": "qwen3-max", "object": "model", "created": 1758211200, "owned_by": "system"},
    ]

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._ids = itertools.count(1)
        self._tasks: dict[str, dict[str, Any]] = {}
        self._pending_polls = 0
        self._task_failure: dict[str, Any] | None = None

    @property
    def api_base(self) -> str:
        return self.base_url + "/api/v1"

    def set_image_task(self, pending_polls: int = 0, failure: dict[str, Any] | None = None) -> None:
        """Image tasks created from now on stay PENDING for ``pending_polls`` polls, then
        succeed, or fail with ``failure`` (``{"code", "message"}``) when given."""
        self._pending_polls = pending_polls
        self._task_failure = failure

    def clear(self) -> None:
        super().clear()
        self._tasks.clear()
        self._pending_polls = 0
        self._task_failure = None

    # -- errors ----------------------------------------------------------

    def _request_id(self) -> str:
        return f"req-{next(self._ids)}"

    def error_body(self, status: int, message: str) -> Any:
        code = _ERROR_CODES.get(status, "InternalError" if status >= 500 else "BadRequest")
        return {"code": code, "message": message, "request_id": self._request_id()}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        body = {
            "code": payload.get("code", "InternalError"),
            "message": payload.get("message", "error"),
            "request_id": payload.get("request_id", "req-error"),
        }
        status = payload.get("status", 500)
        return b"id:error\nevent:error\n:HTTP_STATUS/%d\ndata:%s\n\n" % (
            status,
            json.dumps(body, ensure_ascii=False).encode(),
        )

    def _error(self, status: int, message: str) -> Reply:
        return JSONReply(self.error_body(status, message), status=status)

    # -- routing ---------------------------------------------------------

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method == "GET" and _FILE_RE.match(path):
            return RawReply(TINY_PNG, content_type="image/png")
        if req.method == "GET" and path == "/compatible-mode/v1/models":
            return self._models(req)
        if not req.headers.get("authorization", "").removeprefix("Bearer ").strip():
            return self._error(401, "Invalid API-key provided.")
        if req.method == "POST" and path.endswith((TEXT_PATH, MULTIMODAL_PATH)):
            return self._chat(req, multimodal=path.endswith(MULTIMODAL_PATH))
        if req.method == "POST" and path.endswith(EMBEDDING_PATH):
            return self._embeddings(req)
        if req.method == "POST" and path.endswith(MM_EMBEDDING_PATH):
            return self._multimodal_embeddings(req)
        if req.method == "POST" and path.endswith(IMAGE_PATH):
            return self._create_task(req)
        match = _TASK_RE.match(path)
        if req.method == "GET" and match:
            return self._poll_task(match.group(1))
        return self._error(404, f"no route for {req.method} {req.path}")

    def _models(self, req: RecordedRequest) -> Reply:
        """OpenAI's listing shape; a refused key gets the compatible mode's OpenAI-style 401."""
        key = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.key_refused(key):
            error = {
                "message": "Incorrect API key provided. ",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
            return JSONReply({"error": error, "request_id": f"req-{next(self._ids)}"}, status=401)
        return JSONReply({"object": "list", "data": self.models})

    # -- chat ------------------------------------------------------------

    def _chat(self, req: RecordedRequest, multimodal: bool) -> Reply:
        body = req.json
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "Model not specified.")
        messages = (body.get("input") or {}).get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "Input messages must not be empty.")
        params = body.get("parameters") or {}
        script = self.script_for(body)
        renderer = _Renderer(
            script,
            request_id=self._request_id(),
            multimodal=multimodal,
            message_format=multimodal or params.get("result_format") == "message",
        )
        if req.headers.get("x-dashscope-sse", "").lower() == "enable":
            incremental = params.get("incremental_output") is True
            return StreamReply(renderer.events(incremental), content_type=SSE_CONTENT_TYPE)
        return JSONReply(renderer.whole())

    # -- embeddings ------------------------------------------------------

    def _embeddings(self, req: RecordedRequest) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        texts = (body.get("input") or {}).get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self._error(400, "input.texts must be a non-empty list of strings")
        dim = (body.get("parameters") or {}).get("dimension") or DEFAULT_EMBEDDING_DIM
        embeddings = [
            {"text_index": i, "embedding": embedding_vector(t, dim)} for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        return JSONReply(
            {
                "output": {"embeddings": embeddings},
                "usage": {"total_tokens": tokens},
                "request_id": self._request_id(),
            }
        )

    def _multimodal_embeddings(self, req: RecordedRequest) -> Reply:
        """``input.contents``: one vector per item (``text``, ``image`` as a web or data URL,
        ``video`` as a web URL), in order, with ``index`` and ``type``. Local paths and
        ``file://`` URIs are refused: the SDK uploads those, which a wrapper must never let it
        do."""
        body = req.json if isinstance(req.json, dict) else {}
        contents = (body.get("input") or {}).get("contents")
        if not isinstance(contents, list) or not contents:
            return self._error(400, "input.contents must be a non-empty list")
        dim = (body.get("parameters") or {}).get("dimension") or DEFAULT_EMBEDDING_DIM
        embeddings, tokens = [], 0
        for i, item in enumerate(contents):
            kinds = (
                [k for k in ("text", "image", "video") if k in item]
                if isinstance(item, dict)
                else []
            )
            if len(kinds) != 1 or not isinstance(item[kinds[0]], str) or not item[kinds[0]]:
                return self._error(400, f"input.contents[{i}]: one of text, image or video")
            kind, value = kinds[0], item[kinds[0]]
            remote = value.startswith(("http://", "https://"))
            if kind == "image" and not (remote or value.startswith("data:image/")):
                return self._error(400, f"input.contents[{i}].image: a URL or base64 data URL")
            if kind == "video" and not (remote or value.startswith("data:video/")):
                return self._error(400, f"input.contents[{i}].video: a URL or base64 data URL")
            tokens += len(value.split()) if kind == "text" else IMAGE_TOKENS
            vector = embedding_vector(f"{kind}:{value}", dim)
            embeddings.append({"index": i, "embedding": vector, "type": kind})
        return JSONReply(
            {
                "output": {"embeddings": embeddings},
                "usage": {"input_tokens": tokens},
                "request_id": self._request_id(),
            }
        )

    # -- image synthesis -------------------------------------------------

    def _create_task(self, req: RecordedRequest) -> Reply:
        if req.headers.get("x-dashscope-async", "").lower() != "enable":
            return self._error(403, "current user api does not support synchronous calls")
        body = req.json if isinstance(req.json, dict) else {}
        if not (body.get("input") or {}).get("prompt"):
            return self._error(400, "input.prompt is required")
        task_id = f"task-{next(self._ids)}"
        n = (body.get("parameters") or {}).get("n") or 1
        self._tasks[task_id] = {
            "n": n,
            "polls_left": self._pending_polls,
            "failure": self._task_failure,
        }
        output = {"task_id": task_id, "task_status": "PENDING"}
        return JSONReply({"output": output, "request_id": self._request_id()})

    def _poll_task(self, task_id: str) -> Reply:
        task = self._tasks.get(task_id)
        if task is None:
            return self._error(404, f"task {task_id} not found")
        output: dict[str, Any] = {"task_id": task_id}
        body: dict[str, Any] = {"request_id": self._request_id(), "output": output}
        if task["polls_left"] > 0:
            task["polls_left"] -= 1
            output["task_status"] = "RUNNING"
        elif task["failure"] is not None:
            output.update(task_status="FAILED", **task["failure"])
        else:
            n = task["n"]
            output["task_status"] = "SUCCEEDED"
            output["results"] = [{"url": f"{self.base_url}/files/img-{i}.png"} for i in range(n)]
            output["task_metrics"] = {"TOTAL": n, "SUCCEEDED": n, "FAILED": 0}
            body["usage"] = {"image_count": n}
        return JSONReply(body)


class _Renderer:
    """One scripted reply as a whole JSON body or as DashScope SSE events."""

    def __init__(
        self, script: ChatScript, request_id: str, multimodal: bool, message_format: bool
    ) -> None:
        self.script = script
        self.request_id = request_id
        self.multimodal = multimodal
        self.message_format = message_format

    def _content(self, text: str) -> Any:
        if not self.multimodal:
            return text
        return [{"text": text}] if text else []

    def _message(self, text: str, reasoning: str | None, calls: list[dict[str, Any]]) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": self._content(text)}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        return message

    def _body(self, message: dict[str, Any], finish: str, output_tokens: int) -> dict[str, Any]:
        prompt = self.script.prompt_tokens
        usage = {
            "input_tokens": prompt,
            "output_tokens": output_tokens,
            "total_tokens": prompt + output_tokens,
        }
        if self.message_format:
            output: dict[str, Any] = {"choices": [{"finish_reason": finish, "message": message}]}
        else:
            output = {"text": _text(message["content"]), "finish_reason": finish}
        return {"output": output, "usage": usage, "request_id": self.request_id}

    @staticmethod
    def _call(index: int, call: dict[str, Any], arguments: str, first: bool) -> dict[str, Any]:
        function = {"name": call["name"], "arguments": arguments} if first else {}
        function["arguments"] = arguments  # later fragments carry only arguments
        return {
            "index": index,
            "id": call["id"] if first else "",
            "type": "function",
            "function": function,
        }

    def whole(self) -> dict[str, Any]:
        s = self.script
        calls = [self._call(i, c, c["arguments"], True) for i, c in enumerate(s.tool_calls)]
        message = self._message(s.text, s.reasoning_text, calls)
        return self._body(message, s.final_finish_reason, s.completion_tokens)

    def _steps(self) -> list[tuple[str, Any]]:
        s = self.script
        steps: list[tuple[str, Any]] = [("reasoning", p) for p in s.reasoning_pieces]
        steps += [("text", p) for p in s.text_pieces]
        for index, call in enumerate(s.tool_calls):
            args = call["arguments"]
            fragments = split_text(args, max(1, -(-len(args) // 3))) or [""]
            steps += [("call", (index, j, f)) for j, f in enumerate(fragments)]
        return steps

    def events(self, incremental: bool) -> Iterator[bytes]:
        s = self.script
        steps = self._steps()
        total = len(steps) + 1
        text = reasoning = ""
        args: dict[int, str] = {}
        has_reasoning = s.reasoning is not None
        for k, (kind, value) in enumerate(steps, start=1):
            calls: list[dict[str, Any]] = []
            piece = {"text": "", "reasoning": "", "call": None}
            if kind == "call":
                index, j, fragment = value
                args[index] = args.get(index, "") + fragment
                if incremental:
                    calls = [self._call(index, s.tool_calls[index], fragment, j == 0)]
            else:
                piece[kind] = value
                text += value if kind == "text" else ""
                reasoning += value if kind == "reasoning" else ""
            if not incremental:
                calls = [self._call(i, s.tool_calls[i], a, True) for i, a in sorted(args.items())]
                message = self._message(text, reasoning if has_reasoning else None, calls)
            else:
                message = self._message(
                    piece["text"], piece["reasoning"] if has_reasoning else None, calls
                )
            yield self._event(k, self._body(message, "null", s.completion_tokens * k // total))
        if incremental:
            final = self._message("", "" if has_reasoning else None, [])
        else:
            calls = [self._call(i, c, c["arguments"], True) for i, c in enumerate(s.tool_calls)]
            final = self._message(s.text, s.reasoning_text, calls)
        yield self._event(total, self._body(final, s.final_finish_reason, s.completion_tokens))

    @staticmethod
    def _event(index: int, body: dict[str, Any]) -> bytes:
        data = json.dumps(body, ensure_ascii=False).encode()
        return b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:%s\n\n" % (index, data)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(item.get("text", "") for item in content)
    return content or ""
