"""An emulator of the Ollama HTTP API: ``/api/chat``, ``/api/generate``, ``/api/embed``.

Replies are the shapes the ``ollama`` SDK 0.6.3 was verified to accept (``wire_protocols.md``
section 5): one JSON object, or NDJSON (``application/x-ndjson``) with incremental
``message.content`` / ``message.thinking`` / ``response`` parts and a final ``"done": true``
part carrying ``prompt_eval_count`` / ``eval_count``. Tool calls are whole objects with the
arguments as a JSON object and no id. Errors are ``{"error": "..."}``, also as a line inside
a 200 stream. Images must be base64, as the real server requires.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .base import JSONReply, RecordedRequest, Reply, StreamReply
from .fixtures import emulator_fixture, shared_emulator_of
from .listing import ModelListing
from .openai_compat import embedding_vector
from .script import ChatScript, ScriptedChatServer

__all__ = ["OllamaEmulator", "ollama_server"]

CREATED_AT = "2025-01-01T00:00:00Z"
NDJSON = "application/x-ndjson"


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def _tag(name: str, family: str, size: str) -> dict[str, Any]:
    """A ``/api/tags`` entry as Ollama sends it."""
    return {
        "name": name,
        "model": name,
        "modified_at": CREATED_AT,
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": size,
            "quantization_level": "Q4_K_M",
        },
    }


def _show(arch: str, context: int, capabilities: list[str]) -> dict[str, Any]:
    """A ``/api/show`` reply as Ollama sends it (``model_info`` keys prefixed by the
    architecture)."""
    return {
        "modelfile": "FROM /models/blob\n",
        "parameters": 'stop "<|eot_id|>"',
        "template": "{{ .Prompt }}",
        "details": {"format": "gguf", "family": arch, "parameter_size": "3.2B"},
        "model_info": {
            "general.architecture": arch,
            "general.parameter_count": 3212749888,
            f"{arch}.context_length": context,
            f"{arch}.embedding_length": 3072,
        },
        "capabilities": capabilities,
        "modified_at": CREATED_AT,
    }


class OllamaEmulator(ModelListing, ScriptedChatServer):
    """Ollama server answering chat and generate requests from the scripted reply, and
    ``GET /api/tags`` + ``POST /api/show`` from :attr:`models` and :attr:`shows`."""

    default_models = [_tag("llama3.2:latest", "llama", "3.2B"), _tag("qwen3:4b", "qwen3", "4.0B")]

    def _reset_listing(self) -> None:
        super()._reset_listing()
        #: ``/api/show`` replies by model name (a model without one answers 404).
        self.shows: dict[str, Any] = {
            "llama3.2:latest": _show("llama", 131072, ["completion", "tools"]),
            "qwen3:4b": _show("qwen3", 40960, ["completion", "tools", "thinking"]),
        }

    # NDJSON has no comments: spaces without a newline keep the line from ever completing.
    keepalive_event = b" "

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        return _line({"error": payload.get("message") or json.dumps(payload)})

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        body = req.json
        if path in ("/api/tags", "/api/show") and self.listing_key is not None:
            # Hosted Ollama (ollama.com) wants a bearer key; a local server has no auth.
            if req.headers.get("authorization", "") != f"Bearer {self.listing_key}":
                return self._error(401, "unauthorized")
        if req.method == "GET" and path == "/api/tags":
            return JSONReply({"models": self.models})
        if req.method == "POST" and path == "/api/show":
            name = body.get("model") if isinstance(body, dict) else None
            show = self.shows.get(name) if isinstance(name, str) else None
            if show is None:
                return self._error(404, f"model '{name}' not found")
            return JSONReply(show)
        if req.method != "POST" or path not in ("/api/chat", "/api/generate", "/api/embed"):
            return self.not_found(req)
        if not isinstance(body, dict):
            return self._error(400, "invalid JSON body")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "model is required")
        if path == "/api/embed":
            return self._embed(body)
        bad = _bad_image(body)
        if bad:
            return self._error(400, bad)
        if path == "/api/chat":
            if not isinstance(body.get("messages"), list):
                return self._error(400, "messages must be an array")
            return self._reply(body, self._chat_parts(self.script_for(body), body))
        if not isinstance(body.get("prompt", ""), str):
            return self._error(400, "prompt must be a string")
        return self._reply(body, self._generate_parts(self.script_for(body), body))

    def _error(self, status: int, message: str) -> Reply:
        return JSONReply(self.error_body(status, message), status=status)

    # -- chat / generate -------------------------------------------------

    @staticmethod
    def _reply(body: dict[str, Any], parts: tuple[dict[str, Any], list[dict[str, Any]]]) -> Reply:
        whole, stream = parts
        if body.get("stream", True):  # Ollama streams unless told not to
            return StreamReply((_line(p) for p in stream), content_type=NDJSON)
        return JSONReply(whole)

    @staticmethod
    def _final(script: ChatScript, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": script.model or body["model"],
            "created_at": CREATED_AT,
            "done": True,
            "done_reason": script.finish_reason or "stop",  # "stop" after tool calls too
            "total_duration": 1000,
            "load_duration": 1,
            "prompt_eval_count": script.prompt_tokens,
            "prompt_eval_duration": 1,
            "eval_count": script.completion_tokens,
            "eval_duration": 1,
        }

    def _chat_parts(
        self, script: ChatScript, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        model = script.model or body["model"]
        thinking = script.reasoning is not None and body.get("think") is not False
        calls = [
            {"function": {"name": c["name"], "arguments": json.loads(c["arguments"])}}
            for c in script.tool_calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": script.text}
        if thinking:
            message["thinking"] = script.reasoning_text
        if calls:
            message["tool_calls"] = calls
        whole = {**self._final(script, body), "message": message}

        def part(**fields: Any) -> dict[str, Any]:
            message = {"role": "assistant", "content": "", **fields}
            return {"model": model, "created_at": CREATED_AT, "message": message, "done": False}

        stream = [part(thinking=p) for p in (script.reasoning_pieces if thinking else [])]
        stream += [part(content=p) for p in script.text_pieces]
        stream += [part(tool_calls=[c]) for c in calls]
        final = {**self._final(script, body), "message": {"role": "assistant", "content": ""}}
        return whole, [*stream, final]

    def _generate_parts(
        self, script: ChatScript, body: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        model = script.model or body["model"]
        thinking = script.reasoning is not None and body.get("think") is not False
        whole = {**self._final(script, body), "response": script.text, "context": [1, 2, 3]}
        if thinking:
            whole["thinking"] = script.reasoning_text

        def part(**fields: Any) -> dict[str, Any]:
            return {"model": model, "created_at": CREATED_AT, "response": "", **fields}

        stream = [part(thinking=p) for p in (script.reasoning_pieces if thinking else [])]
        stream += [part(response=p) for p in script.text_pieces]
        final = {**self._final(script, body), "response": "", "context": [1, 2, 3]}
        return whole, [*(dict(p, done=False) for p in stream), final]

    # -- embeddings ------------------------------------------------------

    def _embed(self, body: dict[str, Any]) -> Reply:
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return self._error(400, "invalid input type")
        dim = body.get("dimensions") or 8
        return JSONReply(
            {
                "model": body["model"],
                "embeddings": [embedding_vector(text, dim) for text in inputs],
                "total_duration": 1000,
                "load_duration": 1,
                "prompt_eval_count": sum(len(text.split()) for text in inputs),
            }
        )


def _bad_image(body: dict[str, Any]) -> str | None:
    """The real server's error for an image that is not base64, else None."""
    images = list(body.get("images") or [])
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            images += message.get("images") or []
    for image in images:
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, TypeError, ValueError):
            return "illegal base64 data at input byte 0"
    return None


shared_ollama_emulator = shared_emulator_of(OllamaEmulator)
ollama_server = emulator_fixture(OllamaEmulator, "ollama_server")
