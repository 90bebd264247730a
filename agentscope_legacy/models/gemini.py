"""Google Gemini through the official ``google-genai`` SDK (``from google import genai``).

One ``genai.Client`` per wrapper, kept on the wrapper (a dropped client closes its HTTP client),
built with an explicit key and ``HttpOptions``: nothing process-global is configured. The SDK
does not retry unless ``retry_options`` is given: they are set to one attempt (the base retries),
which also turns off the implicit reconnect (after a 1-10 s sleep) of its aiohttp async path.
Async calls go through ``client.aio``.

Requests are plain dicts (``model``, ``contents``, ``config``) that the SDK validates; tools go
out as ``FunctionDeclaration`` dicts, never Python callables, and automatic function calling is
disabled, so one call is one request. ``timeout`` becomes ``HttpOptions.timeout`` (milliseconds,
one value for every phase: a ``{"connect", "read"}`` mapping uses ``read``).

Replies: ``"thought": true`` parts are reasoning, ``functionCall`` parts are whole tool calls
(``id`` is Gemini's when it sends one, else ``call_<n>`` counted over the reply, the same streamed
or not). Usage: ``prompt_tokens`` is ``promptTokenCount`` (plus ``toolUsePromptTokenCount``);
``completion_tokens`` is ``candidatesTokenCount`` plus ``thoughtsTokenCount``, since thinking
tokens are generated (and billed) output. ``STOP`` with tool calls is reported as ``tool_calls``.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..errors import (
    ConfigError,
    ConfigIssue,
    MissingDependencyError,
    ProviderError,
    ResponseFormatError,
    error_for_status,
)
from ._aio import aiohttp_error
from ._base import ModelWrapperBase, parse_retry_after, transport_error
from ._format import HISTORY_HEADER, _block_url, _tool_output_text, check_messages, flatten_msgs
from ._http import guard_httpx_client
from .response import Delta, ModelResponse, Usage, tool_call_block

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
    "api_version": {"type": ["string", "null"]},
    "client_args": {"type": "object"},
}
_CLIENT_KWARGS = ("enterprise", "vertexai", "credentials", "project", "location", "debug_config")
_ROLES = {
    "user": "user",
    "model": "model",
    "assistant": "model",
    "tool": "user",
    "function": "user",
}
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}
_FILTERED = {"RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
_ALIASES = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}


def import_genai() -> Any:
    try:
        from google import genai
        from google.genai import errors, types  # noqa: F401  (loads the submodules)
    except ImportError as exc:
        raise MissingDependencyError("google-genai", "gemini") from exc
    return genai


class GeminiWrapperBase(ModelWrapperBase):
    """Builds the wrapper's own ``genai.Client`` and maps SDK errors."""

    provider = "gemini"
    api_key_env = "GEMINI_API_KEY"  # GOOGLE_API_KEY is accepted too
    config_schema = {"properties": _CLIENT_PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        client_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        genai = import_genai()
        options = dict(client_args or {})
        client_kwargs = {k: options.pop(k) for k in _CLIENT_KWARGS if k in options}
        # Retries are the base class's job: one attempt, and no implicit aiohttp reconnect.
        options["retry_options"] = genai.types.HttpRetryOptions(attempts=1)
        unknown = set(options) - set(genai.types.HttpOptions.model_fields)
        if unknown:
            raise ConfigError(
                ConfigIssue(
                    f"unknown client_args: {', '.join(sorted(unknown))} (HttpOptions fields "
                    f"or {', '.join(_CLIENT_KWARGS)} are accepted)",
                    config_name=config_name,
                    field="client_args",
                )
            )
        if base_url:
            options["base_url"] = base_url
        if api_version:
            options["api_version"] = api_version
        if self.timeout is not None:
            options["timeout"] = _timeout_ms(self.timeout)
        vertex = client_kwargs.get("vertexai") or client_kwargs.get("enterprise")
        key = self._resolve_api_key(
            api_key,
            required=not (vertex or options.get("base_url")),
            envs=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        )
        if "vertexai" not in client_kwargs and "enterprise" not in client_kwargs:
            client_kwargs["vertexai"] = False  # never switched on by GOOGLE_GENAI_USE_VERTEXAI
        self.base_url = options.get("base_url")
        self.client = genai.Client(
            api_key=key or (None if vertex else "no-key"),
            http_options=genai.types.HttpOptions(**options),
            **client_kwargs,
        )
        # Sync calls: deadlines, and no header sent to another host by a redirect (async calls
        # are held to their deadline by cancellation, in the base class).
        api = self.client._api_client
        if hasattr(getattr(api, "_httpx_client", None), "event_hooks"):
            guard_httpx_client(api._httpx_client, api._http_options.base_url)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        errors = import_genai().errors
        if isinstance(exc, errors.APIError):
            code = exc.code if isinstance(exc.code, int) else None
            headers = getattr(getattr(exc, "response", None), "headers", None)
            headers = {str(k).lower(): v for k, v in dict(headers or {}).items()}
            retry_after = parse_retry_after(headers)
            if retry_after is None:
                retry_after = _retry_info(exc.details)
            text = exc.message or str(exc)
            return error_for_status(code)(
                f"{exc.status}: {text}" if exc.status else text,
                status=code,
                retry_after=retry_after,
                body=exc.details,
            )
        if isinstance(exc, (json.JSONDecodeError, errors.UnknownApiResponseError)):
            return ResponseFormatError(f"malformed response: {exc}")
        # The SDK's transports (httpx2; aiohttp for async) raise their own errors.
        return transport_error(exc) or aiohttp_error(exc)


def _timeout_ms(timeout: float | dict[str, float]) -> int:
    # HttpOptions has one timeout (milliseconds) applied to every phase of a request.
    if isinstance(timeout, dict):
        timeout = timeout.get("read") or timeout.get("connect") or 600.0
    return max(1, round(float(timeout) * 1000))


def _retry_info(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` entry (``"retryDelay": "17s"``) of an error."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay):
            return float(delay[:-1])
    return None


class GeminiChatWrapper(GeminiWrapperBase):
    """``gemini_chat``: generateContent, streamed or not, with tools and thoughts."""

    model_type = "gemini_chat"
    can_stream = True
    config_schema = {
        "properties": {
            **_CLIENT_PROPERTIES,
            "thinking_budget": {"type": ["integer", "null"]},
            "include_thoughts": {"type": ["boolean", "null"]},
        },
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        thinking_budget: int | None = None,
        include_thoughts: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.thinking_budget = thinking_budget
        self.include_thoughts = include_thoughts
        self._config_fields = frozenset(import_genai().types.GenerateContentConfig.model_fields)

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if multi_agent_mode is False:
            return gemini_chat_contents(msgs)
        return gemini_multi_agent_contents(msgs)

    def _build_request(
        self,
        messages: list[dict[str, Any]],
        *,
        stream: bool,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        check_messages(messages)
        config: dict[str, Any] = dict(kwargs.pop("generation_config", None) or {})  # 0.x style
        thinking = {
            "thinking_budget": kwargs.pop("thinking_budget", self.thinking_budget),
            "include_thoughts": kwargs.pop("include_thoughts", self.include_thoughts),
        }
        for key, value in kwargs.items():
            config[_ALIASES.get(key, key)] = value
        unknown = {k for k in config if k not in self._config_fields} - {
            re.sub(r"_(\w)", lambda m: m.group(1).upper(), f) for f in self._config_fields
        }
        if unknown:
            raise ValueError(
                f"unknown generate_args for {self.model_type}: {', '.join(sorted(unknown))}; "
                "use google.genai.types.GenerateContentConfig fields (e.g. max_output_tokens)"
            )
        if isinstance(config.get("stop_sequences"), str):
            config["stop_sequences"] = [config["stop_sequences"]]
        thinking = {k: v for k, v in thinking.items() if v is not None}
        explicit = config.get("thinking_config")
        if thinking and (explicit is None or isinstance(explicit, dict)):
            config["thinking_config"] = {**thinking, **(explicit or {})}
        system, contents = split_system(messages)
        if system:
            if contents:
                config.setdefault("system_instruction", {"parts": system})
            else:  # Gemini needs at least one content: send a lone system prompt as the turn
                contents = [{"role": "user", "parts": system}]
        if tools:
            config["tools"] = tools_to_gemini(tools)
        if tool_choice is not None:
            config["tool_config"] = tool_choice_to_gemini(tool_choice)
        config["automatic_function_calling"] = {"disable": True}
        return {"model": self.model_name, "contents": contents, "config": config}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_gemini(self.client.models.generate_content(**request))

    def _open_stream(self, request: dict[str, Any]) -> Any:
        # The SDK sends the request on the first next(): pull it here so HTTP errors are
        # raised (and retried) at call time.
        return _StartedStream(self.client.models.generate_content_stream(**request))

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        calls = 0
        for chunk in sdk_stream:
            delta, n = delta_from_gemini(chunk, calls)
            calls += n
            yield delta

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_gemini(await self.client.aio.models.generate_content(**request))

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        chunks = await self.client.aio.models.generate_content_stream(**request)
        return await _AStartedStream.start(chunks)

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        calls = 0
        async for chunk in sdk_stream:
            delta, n = delta_from_gemini(chunk, calls)
            calls += n
            yield delta


class _StartedStream:
    """The SDK's chunk generator with its first chunk already received."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._head = [next(chunks, None)]

    def __iter__(self) -> Iterator[Any]:
        head, self._head = self._head, []
        yield from (c for c in head if c is not None)
        yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class _AStartedStream:
    """:class:`_StartedStream` for ``client.aio``."""

    def __init__(self, chunks: AsyncIterator[Any], first: Any) -> None:
        self._chunks = chunks
        self._head = [first] if first is not None else []

    @classmethod
    async def start(cls, chunks: AsyncIterator[Any]) -> _AStartedStream:
        try:
            first = await anext(chunks, None)
        except BaseException:
            await cls(chunks, None).aclose()
            raise
        return cls(chunks, first)

    async def __aiter__(self) -> AsyncIterator[Any]:
        head, self._head = self._head, []
        for chunk in head:
            yield chunk
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


# -- requests ---------------------------------------------------------------------------------
def split_system(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict[str, Any]]]:
    """System parts and Gemini contents from Gemini- or OpenAI-shaped messages.

    Adjacent contents with the same role are merged (Gemini expects alternating turns).
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        parts = _message_parts(message)
        if role == "system":
            system.extend(parts)
            continue
        if role not in _ROLES:
            raise ValueError(f"unsupported role for Gemini: {role!r}")
        if not parts:
            continue
        if contents and contents[-1]["role"] == _ROLES[role]:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": _ROLES[role], "parts": parts})
    return system, contents


def _message_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    if "parts" in message:
        parts = message["parts"]
        parts = [parts] if isinstance(parts, (str, dict)) else list(parts or [])
        return [{"text": p} if isinstance(p, str) else p for p in parts]
    # OpenAI shape: content str or parts, tool_calls, role "tool".
    content = message.get("content")
    if message["role"] == "tool":
        text = content if isinstance(content, str) else _tool_output_text(content)
        return [function_response_part(message.get("name", ""), text)]
    parts: list[dict[str, Any]] = []
    for item in [content] if isinstance(content, str) else content or []:
        if isinstance(item, str):
            parts.append({"text": item})
        elif item.get("type") == "text":
            parts.append({"text": item.get("text", "")})
        elif item.get("type") == "image_url":
            parts.append(image_part((item.get("image_url") or {}).get("url", "")))
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        args = function.get("arguments") or "{}"
        args = json.loads(args) if isinstance(args, str) else args
        parts.append({"function_call": {"name": function.get("name", ""), "args": args}})
    return parts


def tools_to_gemini(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function schemas (wrapped or bare) → one Tool of ``function_declarations``.

    Native Gemini tools (``{"google_search": {}}``, ``{"code_execution": {}}``, ...) pass through.
    """
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        schema = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(schema, dict) or "name" not in schema:
            native.append(tool)
            continue
        declaration = {"name": schema["name"]}
        if schema.get("description"):
            declaration["description"] = schema["description"]
        if schema.get("parameters"):
            declaration["parameters_json_schema"] = schema["parameters"]
        declarations.append(declaration)
    return ([{"function_declarations": declarations}] if declarations else []) + native


def tool_choice_to_gemini(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):  # OpenAI's {"type": "function", "function": {"name": ...}}
        choice = (choice.get("function") or choice).get("name", "")
    if choice in _TOOL_CHOICE:
        return {"function_calling_config": {"mode": _TOOL_CHOICE[choice]}}
    return {"function_calling_config": {"mode": "ANY", "allowed_function_names": [choice]}}


# -- format() ---------------------------------------------------------------------------------
def gemini_chat_contents(msgs: list[Any]) -> list[dict[str, Any]]:
    """One content per Msg: assistant → model, a leading system Msg → system, others → user."""
    contents: list[dict[str, Any]] = []
    leading = True
    for msg in msgs:
        leading = leading and msg.role == "system"
        parts: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind in ("image", "audio", "video") and _block_url(block):
                parts.append(image_part(_block_url(block)))
            elif kind == "tool_use":
                parts.append(function_call_part(block))
            elif kind == "tool_result":
                part = function_response_part(block.get("name", ""), block.get("output"))
                contents.append({"role": "user", "parts": [part]})
        parts.extend(image_part(url) for url in msg.urls if _is_media(url))
        if parts:
            role = "system" if leading else "model" if msg.role == "assistant" else "user"
            contents.append({"role": role, "parts": parts})
    return contents


def function_call_part(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block as a Gemini ``function_call`` part."""
    return {"function_call": {"name": block["name"], "args": block.get("input") or {}}}


def function_response_part(name: str, output: Any) -> dict[str, Any]:
    """A tool's output as a ``function_response`` part (a dict output is sent as it is)."""
    response = output if isinstance(output, dict) else {"output": _tool_output_text(output)}
    return {"function_response": {"name": name, "response": response}}


def gemini_multi_agent_contents(msgs: list[Any]) -> list[dict[str, Any]]:
    """The system prompt, then one user turn: images, then ``name: text`` history lines."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    contents: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        contents.append({"role": "system", "parts": [{"text": msgs[0].get_text_content() or ""}]})
        rest = msgs[1:]
    images = [
        image_part(url)
        for m in rest
        for url in [*m.urls, *(_block_url(b) for b in m.get_content_blocks("image"))]
        if url and (_is_media(url) or url.startswith("data:"))
    ]
    lines = [f"{m.name}: {text}" for m in rest if (text := m.get_text_content())]
    parts = images + ([{"text": HISTORY_HEADER + "\n" + "\n".join(lines)}] if lines else [])
    if parts:
        contents.append({"role": "user", "parts": parts})
    return contents


def image_part(url: str) -> dict[str, Any]:
    """``inline_data`` for a local file or data URL, ``file_data`` for a web/cloud URI.

    Images mostly, but Gemini takes audio, video and PDF the same way.
    """
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        return {"inline_data": {"mime_type": header.split(";")[0], "data": data}}
    path = url[7:] if url.startswith("file://") else url
    mime = mimetypes.guess_type(path.split("?", 1)[0])[0] or "image/jpeg"
    if "://" not in path and os.path.isfile(path):
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        return {"inline_data": {"mime_type": mime, "data": data}}
    return {"file_data": {"mime_type": mime, "file_uri": url}}


def _is_media(url: str) -> bool:
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or ""
    return mime.startswith(("image/", "audio/", "video/")) or mime == "application/pdf"


# -- responses --------------------------------------------------------------------------------
def _content(response: Any, first_call: int) -> tuple[Any, list[str], list[str], list[dict]]:
    """(candidate, text pieces, thought pieces, whole tool calls) of one (chunk of a) reply."""
    candidate = (response.candidates or [None])[0]
    content = getattr(candidate, "content", None)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in getattr(content, "parts", None) or []:
        if part.function_call is not None:
            index = first_call + len(calls)
            fc = part.function_call
            call = {"index": index, "id": fc.id or f"call_{index}", "name": fc.name or ""}
            calls.append({**call, "input": dict(fc.args or {})})
        elif part.text:
            (thoughts if part.thought else texts).append(part.text)
    return candidate, texts, thoughts, calls


def _usage(meta: Any) -> tuple[int, int] | None:
    if meta is None:
        return None
    prompt = (meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0)
    return prompt, (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)


def _finish_reason(response: Any, candidate: Any, has_calls: bool) -> str | None:
    reason = getattr(candidate, "finish_reason", None)
    if reason is None:
        feedback = getattr(response, "prompt_feedback", None)
        return "content_filter" if getattr(feedback, "block_reason", None) else None
    reason = str(getattr(reason, "value", reason))
    if reason == "STOP" and has_calls:
        return "tool_calls"
    return "content_filter" if reason in _FILTERED else _FINISH.get(reason, reason.lower())


def response_from_gemini(response: Any) -> ModelResponse:
    if not response.candidates and getattr(response, "prompt_feedback", None) is None:
        raise ResponseFormatError("the response has no candidates and no promptFeedback")
    candidate, texts, thoughts, calls = _content(response, 0)
    usage = _usage(response.usage_metadata) or (0, 0)
    result = ModelResponse(
        text="".join(texts),
        raw=response,
        tool_calls=[tool_call_block(c["id"], c["name"], c["input"]) for c in calls] or None,
        usage=Usage(*usage),
        reasoning="".join(thoughts) or None,
        finish_reason=_finish_reason(response, candidate, bool(calls)),
    )
    result.request_id = response.response_id
    return result


def delta_from_gemini(chunk: Any, calls_before: int) -> tuple[Delta, int]:
    """A Delta from one streamed chunk and how many tool calls it carried."""
    candidate, texts, thoughts, calls = _content(chunk, calls_before)
    finish = _finish_reason(chunk, candidate, calls_before + len(calls) > 0)
    delta = Delta(
        "".join(texts),
        "".join(thoughts),
        calls or None,
        _usage(chunk.usage_metadata),
        finish,
        chunk.response_id,
    )
    return delta, len(calls)


class GeminiEmbeddingWrapper(GeminiWrapperBase):
    """``gemini_embedding``: one vector per input (always ``:batchEmbedContents``)."""

    model_type = "gemini_embedding"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        config = dict(kwargs.pop("config", None) or {})
        config.update(kwargs)  # task_type, title, output_dimensionality, ...
        if isinstance(config.get("task_type"), str):
            config["task_type"] = config["task_type"].upper()  # 0.x took "retrieval_query"
        contents = [texts] if isinstance(texts, str) else list(texts)
        return {"model": self.model_name, "contents": contents, "config": config or None}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.models.embed_content(**request)
        vectors = [list(e.values or []) for e in result.embeddings or []]
        if len(vectors) != len(request["contents"]):
            raise ResponseFormatError(
                f"expected {len(request['contents'])} embeddings, got {len(vectors)}"
            )
        meta = result.usage_metadata
        tokens = (meta.prompt_token_count or 0) if meta is not None else 0
        return ModelResponse(embedding=vectors, raw=result, usage=Usage(tokens, 0))


__all__ = ["GeminiChatWrapper", "GeminiEmbeddingWrapper"]
