"""DashScope (Qwen) through the official ``dashscope`` SDK's legacy API.

``Generation``, ``MultiModalConversation``, ``TextEmbedding`` and ``ImageSynthesis`` are
called with ``api_key=`` and ``base_address=`` on every call (never the SDK's process-global
``dashscope.api_key``/``base_http_api_url``), through one ``requests.Session`` per wrapper.

The legacy SDK does not raise for HTTP errors: it returns (or, streamed, yields) responses with
``status_code != 200``. They are turned into typed errors here, at the call or when a stream is
opened (so the base class can retry them) and in the middle of a stream (partial text kept).
Streams request ``incremental_output=True``; a stream that is cumulative anyway (explicit
``incremental_output: false``) is turned back into deltas by diffing.

The SDK uploads local files named in user messages (and image-synthesis inputs) to a remote
OSS bucket. Local images, audio and video are therefore inlined as base64 data URLs before the
call, and anything else the SDK would upload is rejected with a ValueError.

Chat's ``acall`` uses ``AioGeneration``/``AioMultiModalConversation``, which answer exactly like
the sync API (same parsing), each call through its own aiohttp session, closed when the call or
its stream ends: the SDK's shared per-loop session is never opened, so nothing is left for
``dashscope.close_shared_aio_session()``. Embeddings and image synthesis run in a thread.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote_plus, urlparse

from loguru import logger

from ..errors import (
    AuthenticationError,
    BadRequestError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    error_for_status,
)
from ._aio import aiohttp_error
from ._base import ModelWrapperBase, parse_retry_after, wraps_urllib3_timeout
from ._format import (
    HISTORY_HEADER,
    _block_url,
    _extension,
    _tool_output_text,
    check_messages,
    flatten_msgs,
    normalize_tools,
    openai_tool_call,
    to_data_url,
)
from .response import Delta, ModelResponse, Usage, tool_call_block

MEDIA_KINDS = ("image", "audio", "video")
_EXTENSIONS = {
    "image": ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "heic"),
    "audio": ("mp3", "wav", "m4a", "aac", "flac", "ogg", "amr", "opus"),
    "video": ("mp4", "mov", "avi", "mkv", "webm", "flv"),
}
# Inputs of ImageSynthesis.call that the SDK uploads to OSS when they name a local file.
_IMAGE_INPUTS = ("images", "sketch_image_url", "ref_img", "mask_image_url", "base_image_url")
DEFAULT_TASK_WAIT = 600.0  # seconds an image task may take before giving up

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
}
_CHAT_PROPERTIES = {
    **_CLIENT_PROPERTIES,
    "enable_thinking": {"type": ["boolean", "null"]},
    "thinking_budget": {"type": ["integer", "null"], "minimum": 1},
}


def import_dashscope() -> Any:
    try:
        import dashscope
    except ImportError as exc:
        raise MissingDependencyError("dashscope", "dashscope") from exc
    return dashscope


# -- errors -----------------------------------------------------------------------------------
def _error_class(status: int | None, code: str | None) -> type[ProviderError]:
    # In-stream errors carry the SDK's default status 400; the code says more.
    code = code or ""
    if code == "InvalidApiKey":
        return AuthenticationError
    if code.startswith("Throttling"):
        return RateLimitError
    if code.startswith(("InternalError", "ServiceUnavailable")):
        return ServerError
    return error_for_status(status)


def error_from_response(rsp: Any) -> ProviderError:
    """The typed error for a legacy-API response whose ``status_code`` is not 200."""
    headers = {str(k).lower(): v for k, v in (rsp.get("headers") or {}).items()}
    status, code, message = rsp.get("status_code"), rsp.get("code"), rsp.get("message")
    request_id = rsp.get("request_id") or None
    if code == "Unknown" and status == 400 and "event-stream" in headers.get("content-type", ""):
        # The SDK reports a `data:` line it cannot parse this way, and carries on.
        return ResponseFormatError(
            f"malformed event in the stream: {str(message)[:200]!r}", request_id=request_id
        )
    return _error_class(status, code)(
        f"{code or 'error'}: {message}" if message else str(code or f"HTTP {status}"),
        status=status,
        request_id=request_id,
        retry_after=parse_retry_after(headers),
        body={"code": code, "message": message},
    )


def _checked(rsp: Any) -> Any:
    if rsp.get("status_code") != 200:
        raise error_from_response(rsp)
    return rsp


# -- responses --------------------------------------------------------------------------------
def _content_text(content: Any) -> str:
    """Text of a message content: a str, or a list of ``{"text": ...}`` items (multimodal)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(i["text"] for i in content if isinstance(i, dict) and i.get("text"))
    return ""


def _finish_reason(value: Any) -> str | None:
    return None if value in (None, "", "null") else value


@contextmanager
def _shape_errors(rsp: Any) -> Iterator[None]:
    """Any part of a response in the wrong shape is a ResponseFormatError."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ResponseFormatError(f"unexpected response shape ({exc}): {str(rsp)[:200]}") from None


def _first_choice(rsp: Any, strict: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    output = rsp.get("output")
    if not isinstance(output, dict):
        raise ResponseFormatError(f"the response has no output: {str(rsp)[:200]}")
    choices = output.get("choices")
    if choices:
        return choices[0], choices[0].get("message") or {}
    if output.get("text") is not None:  # result_format "text"
        return output, {"content": output["text"]}
    if strict:
        raise ResponseFormatError(f"the response has no choices: {str(rsp)[:200]}")
    return {}, {}  # a stream chunk with usage only


def _usage(rsp: Any) -> tuple[int, int] | None:
    usage = rsp.get("usage") or {}
    totals = (usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
    return totals if any(totals) else None


def _call_id(call: dict[str, Any], index: int, request_id: str | None) -> str:
    return call.get("id") or f"call_{request_id or uuid.uuid4().hex[:12]}_{index}"


def response_from_generation(rsp: Any) -> ModelResponse:
    """A ModelResponse from a non-streamed ``result_format="message"`` response."""
    with _shape_errors(rsp):
        choice, message = _first_choice(rsp)
        request_id = rsp.get("request_id") or None
        calls = [
            tool_call_block(
                _call_id(c, c.get("index", i), request_id),
                (c.get("function") or {}).get("name", ""),
                (c.get("function") or {}).get("arguments"),
            )
            for i, c in enumerate(message.get("tool_calls") or [])
        ]
        response = ModelResponse(
            text=_content_text(message.get("content")),
            raw=rsp,
            tool_calls=calls or None,
            usage=Usage(*(_usage(rsp) or (0, 0))),
            reasoning=message.get("reasoning_content") or None,
            finish_reason=_finish_reason(choice.get("finish_reason")),
        )
    response.request_id = request_id
    return response


class DeltaParser:
    """Turns streamed responses into Deltas; ``cumulative`` chunks are diffed into deltas."""

    def __init__(self, cumulative: bool) -> None:
        self.cumulative = cumulative
        self.text = ""
        self.reasoning = ""
        self.arguments: dict[int, str] = {}
        self.ids: dict[int, str] = {}

    def _diff(self, seen: str, new: str) -> tuple[str, str]:
        """(piece, seen') for a chunk value; a value not extending ``seen`` is a delta."""
        if self.cumulative and new.startswith(seen):
            return new[len(seen) :], new
        return new, seen + new

    def __call__(self, rsp: Any) -> Delta:
        with _shape_errors(rsp):
            return self._parse(rsp)

    def _parse(self, rsp: Any) -> Delta:
        choice, message = _first_choice(rsp, strict=False)
        request_id = rsp.get("request_id") or None
        text, self.text = self._diff(self.text, _content_text(message.get("content")))
        reasoning, self.reasoning = self._diff(
            self.reasoning, message.get("reasoning_content") or ""
        )
        calls = []
        for i, call in enumerate(message.get("tool_calls") or []):
            index = call.get("index", i)
            function = call.get("function") or {}
            piece, self.arguments[index] = self._diff(
                self.arguments.get(index, ""), function.get("arguments") or ""
            )
            if index not in self.ids:
                self.ids[index] = _call_id(call, index, request_id)
            calls.append(
                {
                    "index": index,
                    "id": call.get("id") or self.ids[index],
                    "name": function.get("name"),
                    "arguments": piece,
                }
            )
        return Delta(
            text,
            reasoning,
            calls or None,
            _usage(rsp),
            _finish_reason(choice.get("finish_reason")),
            request_id,
        )


def _next(responses: Iterator[Any]) -> Any:
    """The SDK's next streamed response; None at the end."""
    with _sdk_shape():
        return next(responses, None)


async def _anext(responses: AsyncIterator[Any]) -> Any:
    """The async SDK's next streamed response; None at the end."""
    with _sdk_shape():
        return await anext(responses, None)


@contextmanager
def _sdk_shape() -> Iterator[None]:
    try:
        yield
    except TypeError as exc:  # the SDK unpacks a 200 body or chunk without `output`
        raise ResponseFormatError(f"unexpected response shape: {exc}") from exc


class _Stream:
    """The SDK generator with its first (already checked) response put back in front."""

    def __init__(self, first: Any, rest: Iterator[Any], cumulative: bool) -> None:
        self.first, self.rest, self.cumulative = first, rest, cumulative

    def __iter__(self) -> Iterator[Any]:
        rsp, self.first = self.first, None
        while rsp is not None:
            yield rsp
            rsp = _next(self.rest)

    def close(self) -> None:
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()


class _AStream:
    """:class:`_Stream` for the async SDK; it also owns the call's aiohttp session."""

    def __init__(self, first: Any, rest: Any, cumulative: bool, session: Any) -> None:
        self.first, self.rest, self.cumulative = first, rest, cumulative
        self.session = session

    async def __aiter__(self) -> AsyncIterator[Any]:
        rsp, self.first = self.first, None
        while rsp is not None:
            yield rsp
            rsp = await _anext(self.rest)

    async def aclose(self) -> None:
        try:
            await self.rest.aclose()
        finally:
            await self.session.close()


# -- messages ---------------------------------------------------------------------------------
def media_kind(url: str) -> str | None:
    """``image``/``audio``/``video`` guessed from a data URL's type or the file extension."""
    if url.startswith("data:"):
        major = url[5:].split("/", 1)[0]
        return major if major in MEDIA_KINDS else None
    ext = _extension(url)
    return next((kind for kind, exts in _EXTENSIONS.items() if ext in exts), None)


def local_uri(url: str) -> str:
    """An existing local path as a ``file://`` URI (0.x DashScopeFormatter); others as is."""
    if "://" not in url and not url.startswith("data:") and os.path.isfile(url):
        return "file://" + os.path.abspath(url)
    return url


_local_uri = local_uri  # the name before the formatter package reused it


def _tool_calls(msg: Any) -> list[dict[str, Any]]:
    return [openai_tool_call(b) for b in msg.get_content_blocks("tool_use")]


def dashscope_chat_messages(msgs: list[Any]) -> list[dict[str, Any]]:
    """One DashScope message per Msg: content items ``{"text"|"image"|"audio"|"video": ...}``."""
    messages: list[dict[str, Any]] = []
    for msg in msgs:
        parts: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind in MEDIA_KINDS:
                parts.append({kind: _local_uri(_block_url(block))})
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["id"],
                        "content": _tool_output_text(block.get("output")),
                        "name": block.get("name", ""),
                    }
                )
        for url in msg.urls:
            kind = media_kind(url)
            if kind:
                parts.append({kind: _local_uri(url)})
        calls = _tool_calls(msg)
        if not parts and not calls:
            continue
        message: dict[str, Any] = {"role": msg.role, "content": parts or ""}
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    return messages


def dashscope_multi_agent_messages(msgs: list[Any]) -> list[dict[str, Any]]:
    """System prompt, then one user message: the media, then the conversation as text."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    messages: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        rest = msgs[1:]
        if text := msgs[0].get_text_content():
            messages.append({"role": "system", "content": [{"text": text}]})
    media: list[dict[str, Any]] = []
    lines = []
    for msg in rest:
        urls = [_block_url(b) for b in msg.get_content_blocks() if b.get("type") in MEDIA_KINDS]
        for url in urls + msg.urls:
            kind = media_kind(url)
            if kind is None:
                logger.warning("skipping {!r}: not a recognised image, audio or video URL", url)
                continue
            media.append({kind: _local_uri(url)})
        if text := msg.get_text_content():
            lines.append(f"{msg.name}: {text}")
    history = HISTORY_HEADER + "\n" + "\n".join(lines)
    messages.append({"role": "user", "content": [*media, {"text": history}]})
    return messages


def _local_path(value: str) -> str | None:
    """The local file the SDK would upload for this value (its own rules), else None."""
    if value.startswith("file://"):
        parsed = urlparse(value)
        path = unquote_plus(parsed.netloc + parsed.path)
        return os.path.expanduser(path)
    if value.startswith(("http", "oss://", "data:")):
        return None
    path = os.path.expanduser(value)
    return path if os.path.isfile(path) else None


def _inline(value: str) -> str:
    path = _local_path(value)
    if path is None:
        return value
    if not os.path.isfile(path):
        raise ValueError(f"local file not found: {value!r}")
    return to_data_url(path)


def inline_local_media(messages: list[dict[str, Any]], *, guard_text: bool) -> list[dict]:
    """A copy of ``messages`` with local image/audio/video files as base64 data URLs.

    With ``guard_text`` (MultiModalConversation), a user text item that names a local file is
    rejected: the SDK would upload that file to a remote OSS bucket.
    """
    messages = copy.deepcopy(messages)
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for item in content:
            if not isinstance(item, dict):
                continue
            for kind in MEDIA_KINDS:
                value = item.get(kind)
                if isinstance(value, str):
                    item[kind] = _inline(value)
                elif isinstance(value, list):
                    item[kind] = [_inline(v) if isinstance(v, str) else v for v in value]
            text = item.get("text")
            is_user = message.get("role") == "user"
            if guard_text and is_user and isinstance(text, str) and _local_path(text):
                raise ValueError(
                    f"the text item {text[:80]!r} names a local file, which the dashscope SDK "
                    "would upload to Alibaba Cloud OSS; rephrase it"
                )
    return messages


def tool_choice_to_dashscope(
    choice: str | dict[str, Any], tools: list[dict[str, Any]] | None
) -> str | dict[str, Any]:
    """DashScope knows "auto", "none" and a named function; "required" is emulated."""
    if not isinstance(choice, str) or choice in ("auto", "none"):
        return choice
    if choice == "required":
        names = [t["function"]["name"] for t in tools or []]
        if len(names) == 1:
            return {"type": "function", "function": {"name": names[0]}}
        logger.warning('DashScope cannot force one of several tools; tool_choice="auto" is sent')
        return "auto"
    return {"type": "function", "function": {"name": choice}}


# -- wrappers ---------------------------------------------------------------------------------
class DashScopeWrapperBase(ModelWrapperBase):
    """Resolves the key, keeps one HTTP session and maps SDK exceptions."""

    provider = "dashscope"
    api_key_env = "DASHSCOPE_API_KEY"
    config_schema = {"properties": _CLIENT_PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.sdk = import_dashscope()
        import requests

        self._api_key = self._resolve_api_key(api_key)
        self.base_url = base_url
        self._session = requests.Session()

    def _transport(self) -> dict[str, Any]:
        """Per-call SDK arguments that select the account, the server and the session."""
        args: dict[str, Any] = {"api_key": self._api_key, "session": self._session}
        if self.base_url:
            args["base_address"] = self.base_url
        if isinstance(self.timeout, dict):
            read = self.timeout.get("read", 300.0)
            args["request_timeout"] = (self.timeout.get("connect", min(read, 5.0)), read)
        elif self.timeout is not None:
            args["request_timeout"] = float(self.timeout)
        return args

    def _atransport(self, session: Any) -> dict[str, Any]:
        """:meth:`_transport` for the async SDK: an aiohttp session, one timeout value."""
        args = {**self._transport(), "session": session}
        if isinstance(self.timeout, dict):  # aiohttp: total (non-stream) or sock_read (stream)
            args["request_timeout"] = self.timeout.get("read", 300.0)
        return args

    @staticmethod
    def _aio_session() -> Any:
        """A fresh aiohttp session for one async call (aiohttp sessions are loop-bound; this
        one is closed when its call or stream ends). ``trust_env`` as ``requests`` does."""
        import aiohttp

        return aiohttp.ClientSession(trust_env=True)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        import requests

        errors = requests.exceptions
        if isinstance(exc, errors.Timeout) or wraps_urllib3_timeout(exc):
            return ProviderTimeoutError(f"request timed out: {exc}")
        if isinstance(exc, (errors.ConnectionError, errors.ChunkedEncodingError)):
            return ProviderConnectionError(f"connection error: {type(exc).__name__}: {exc}")
        transport = aiohttp_error(exc)  # the async SDK's transport
        if transport is not None:
            return transport
        if isinstance(exc, (errors.JSONDecodeError, json.JSONDecodeError)):
            return ResponseFormatError(f"malformed response: {exc}")
        return None


class _DashScopeChatBase(DashScopeWrapperBase):
    can_stream = True
    config_schema = {"properties": _CHAT_PROPERTIES}
    multimodal: ClassVar[bool] = False

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        enable_thinking: bool | None = None,
        thinking_budget: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.enable_thinking = enable_thinking
        self.thinking_budget = thinking_budget

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if multi_agent_mode is False:
            return dashscope_chat_messages(msgs)
        return dashscope_multi_agent_messages(msgs)

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
        request: dict[str, Any] = dict(kwargs)
        for key in ("enable_thinking", "thinking_budget"):
            if getattr(self, key) is not None:
                request.setdefault(key, getattr(self, key))
        request["model"] = self.model_name
        request["messages"] = inline_local_media(messages, guard_text=self.multimodal)
        request["result_format"] = "message"
        if tools:
            request["tools"] = normalize_tools(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice_to_dashscope(tool_choice, request.get("tools"))
        if stream:
            request["stream"] = True
            request.setdefault("incremental_output", True)
        else:
            request.pop("stream", None)
        return request

    def _invoke(self, request: dict[str, Any]) -> Any:
        api = self.sdk.MultiModalConversation if self.multimodal else self.sdk.Generation
        with _sdk_shape():
            return api.call(**request, **self._transport())

    async def _ainvoke(self, request: dict[str, Any], session: Any) -> Any:
        sdk = self.sdk
        api = sdk.AioMultiModalConversation if self.multimodal else sdk.AioGeneration
        with _sdk_shape():
            return await api.call(**request, **self._atransport(session))

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_generation(_checked(self._invoke(request)))

    def _open_stream(self, request: dict[str, Any]) -> _Stream:
        responses = iter(self._invoke(request))
        try:
            first = _next(responses)
            if first is not None:
                _checked(first)
        except BaseException:
            getattr(responses, "close", lambda: None)()
            raise
        return _Stream(first, responses, request.get("incremental_output") is not True)

    def _iter_deltas(self, sdk_stream: _Stream) -> Iterator[Delta]:
        parse = DeltaParser(sdk_stream.cumulative)
        for rsp in sdk_stream:
            yield parse(_checked(rsp))

    # The async SDK (AioGeneration, AioMultiModalConversation) answers like the sync one.
    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        async with self._aio_session() as session:
            return response_from_generation(_checked(await self._ainvoke(request, session)))

    async def _aopen_stream(self, request: dict[str, Any]) -> _AStream:
        session = self._aio_session()
        responses = None
        try:
            responses = await self._ainvoke(request, session)
            first = await _anext(responses)
            if first is not None:
                _checked(first)
        except BaseException:
            if responses is not None:
                await responses.aclose()
            await session.close()
            raise
        cumulative = request.get("incremental_output") is not True
        return _AStream(first, responses, cumulative, session)

    async def _aiter_deltas(self, sdk_stream: _AStream) -> AsyncIterator[Delta]:
        parse = DeltaParser(sdk_stream.cumulative)
        async for rsp in sdk_stream:
            yield parse(_checked(rsp))


class DashScopeChatWrapper(_DashScopeChatBase):
    """``dashscope_chat``: ``Generation.call`` with messages, tools, reasoning, streaming."""

    model_type = "dashscope_chat"


class DashScopeMultiModalWrapper(_DashScopeChatBase):
    """``dashscope_multimodal``: ``MultiModalConversation.call`` (images, audio, video)."""

    model_type = "dashscope_multimodal"
    multimodal = True


class DashScopeTextEmbeddingWrapper(DashScopeWrapperBase):
    """``dashscope_text_embedding``: one vector per input, for a str or a list input."""

    model_type = "dashscope_text_embedding"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return {**kwargs, "model": self.model_name, "input": texts}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        rsp = _checked(self.sdk.TextEmbedding.call(**request, **self._transport()))
        tokens = (rsp.get("usage") or {}).get("total_tokens") or 0
        return ModelResponse(
            embedding=vectors_from_output(rsp.get("output")), raw=rsp, usage=Usage(tokens, 0)
        )


def vectors_from_output(output: Any) -> list[list[float]]:
    """``output.embeddings[].embedding`` in input order (by ``text_index``)."""
    try:
        items = sorted(output["embeddings"], key=lambda e: e.get("text_index", 0))
        return [item["embedding"] for item in items]
    except (KeyError, TypeError, AttributeError):
        raise ResponseFormatError(f"no embeddings in the response: {str(output)[:200]}") from None


class DashScopeImageSynthesisWrapper(DashScopeWrapperBase):
    """``dashscope_image_synthesis``: an async task, submitted then polled (``/tasks/<id>``).

    ``wait_timeout`` (seconds, default 600) may be given in generate_args or per call. An
    error after the task was accepted is not retried, so a task is never paid for twice.
    """

    model_type = "dashscope_image_synthesis"

    def __call__(self, prompt: str, save_local: bool = False, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        response = super().__call__(prompt, **kwargs)
        if save_local and response.image_urls:
            response.image_urls = [self._save(url) for url in response.image_urls]
        return response

    def _build_request(self, prompt: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        for key in _IMAGE_INPUTS:
            values = kwargs.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and _local_path(value):
                    raise ValueError(
                        f"{key}={value!r} is a local file, which the dashscope SDK would upload "
                        "to Alibaba Cloud OSS; pass an http(s) URL"
                    )
        return {**kwargs, "model": self.model_name, "prompt": prompt}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        request = dict(request)
        wait_timeout = request.pop("wait_timeout", DEFAULT_TASK_WAIT)
        api = self.sdk.ImageSynthesis
        task = _checked(api.async_call(**request, **self._transport()))
        task_id = (task.get("output") or {}).get("task_id")
        if not task_id:
            raise ResponseFormatError(f"no task id in the response: {str(task)[:200]}")
        poll = {"api_key": self._api_key, "wait_timeout": wait_timeout}
        if self.base_url:
            poll["base_address"] = self.base_url  # ImageSynthesis.call would poll the default
        try:
            result = _checked(api.wait(task_id, **poll))
            return response_from_task(result)
        except Exception as exc:
            err = exc if isinstance(exc, ProviderError) else self._translate_error(exc)
            if err is None:
                raise
            err.message = f"task {task_id}: {err.message}"
            err.args = (err.message,)
            err.retryable = False  # type: ignore[misc]  # the task exists; do not resubmit
            raise err from (None if err is exc else exc)

    def _save(self, url: str) -> str:
        from .._runtime import get_runtime

        suffix = Path(urlparse(url).path).suffix if not url.startswith("data:") else ""
        path = get_runtime().file_dir("images") / f"image_{uuid.uuid4().hex[:12]}{suffix or '.png'}"
        if url.startswith("data:"):
            path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        else:
            reply = self._session.get(url, timeout=60)
            reply.raise_for_status()
            path.write_bytes(reply.content)
        return str(path)


def response_from_task(rsp: Any) -> ModelResponse:
    """Image URLs of a finished task; a failed or cancelled task raises."""
    output = rsp.get("output") or {}
    status = output.get("task_status")
    request_id = rsp.get("request_id") or None
    if status != "SUCCEEDED":
        code, message = output.get("code"), output.get("message")
        cls = _error_class(None, code) if code else ProviderError
        if code in ("InvalidParameter", "DataInspectionFailed"):
            cls = BadRequestError
        raise cls(
            f"image task {status}: {code or ''} {message or ''}".strip(),
            request_id=request_id,
            body=output,
        )
    results = output.get("results") or []
    urls = [r["url"] for r in results if r.get("url")]
    if not urls:
        first = results[0] if results else {}
        raise BadRequestError(
            f"the image task produced no image: {first.get('code')}: {first.get('message')}",
            request_id=request_id,
            body=output,
        )
    response = ModelResponse(image_urls=urls, raw=rsp, usage=Usage())
    response.request_id = request_id
    return response


__all__ = [
    "DashScopeChatWrapper",
    "DashScopeImageSynthesisWrapper",
    "DashScopeMultiModalWrapper",
    "DashScopeTextEmbeddingWrapper",
]
