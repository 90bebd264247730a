"""Ollama through the official ``ollama`` SDK: chat, generate and embeddings.

One ``ollama.Client`` per wrapper. The SDK has no retries (the base class retries) and no
timeout by default, so a finite one is always set. Model parameters (temperature, top_p,
num_predict, ...) live in Ollama's ``options``: the config's ``options`` are merged with the
call's, and call kwargs that name an option are moved into it.

Chat's ``acall`` uses the SDK's ``AsyncClient`` (one per event loop, built on first use) with
the same requests and parsing; generate and embeddings run their sync calls in a thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from typing import Any

from loguru import logger

from ..errors import (
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ResponseFormatError,
    error_for_status,
)
from ._aio import PerLoop
from ._base import ModelWrapperBase, parse_retry_after, transport_error
from ._format import (
    block_url,
    check_messages,
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    normalize_tools,
)
from ._http import guard_httpx_client
from .response import Delta, ModelResponse, Usage

DEFAULT_TIMEOUT = 300.0  # seconds; the SDK would wait forever
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "bmp")

_PROPERTIES: dict[str, Any] = {
    "host": {"type": ["string", "null"]},
    "options": {"type": ["object", "null"]},
    "keep_alive": {"type": ["string", "number", "null"]},
    "client_args": {"type": "object"},
    "api_key": {"type": ["string", "null"]},
}
_THINK = {"think": {"type": ["boolean", "string", "null"]}}


def import_ollama() -> Any:
    try:
        import ollama
    except ImportError as exc:
        raise MissingDependencyError("ollama", "ollama") from exc
    return ollama


class OllamaWrapperBase(ModelWrapperBase):
    """Builds the client, merges options and maps SDK errors."""

    provider = "ollama"
    api_key_env = "OLLAMA_API_KEY"  # optional: only hosted Ollama needs one
    config_schema = {"properties": _PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        host: str | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | float | None = "5m",
        client_args: dict[str, Any] | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        ollama = import_ollama()
        import httpx

        client_args = dict(client_args or {})
        host = host or client_args.pop("host", None)
        timeout = client_args.pop("timeout", DEFAULT_TIMEOUT)
        if isinstance(self.timeout, dict):
            read = self.timeout.get("read", DEFAULT_TIMEOUT)
            timeout = httpx.Timeout(read, connect=self.timeout.get("connect", min(read, 10.0)))
        elif self.timeout is not None:
            timeout = float(self.timeout)
        key = self._resolve_api_key(api_key, required=False)
        if key:  # explicit, so two configs with two keys work side by side
            headers = dict(client_args.pop("headers", None) or {})
            headers["authorization"] = f"Bearer {key}"
            client_args["headers"] = headers
        self.host = host
        self.options = dict(options or {})
        self.keep_alive = keep_alive
        # ResponseError drops the response headers; a hook keeps Retry-After for the retry.
        self._retry_after = threading.local()
        hooks = dict(client_args.pop("event_hooks", None) or {})
        hooks["response"] = [*hooks.get("response", []), self._remember_retry_after]
        self.client = ollama.Client(host=host, timeout=timeout, event_hooks=hooks, **client_args)
        # Deadlines, and no header of this config sent to another host by a redirect.
        guard_httpx_client(self.client._client, self.client._client.base_url)
        # The async client (one per event loop) gets only its own, async, Retry-After hook.
        ahooks = {"response": [_aremember_retry_after]}
        self._async_clients = PerLoop(
            lambda: _guarded(
                ollama.AsyncClient(host=host, timeout=timeout, event_hooks=ahooks, **client_args)
            ),
            lambda c: c.close(),
        )

    @property
    def aclient(self) -> Any:
        """The SDK's ``AsyncClient``, built on first async use (once per event loop)."""
        return self._async_clients.get()

    def _remember_retry_after(self, response: Any) -> None:
        self._retry_after.value = (
            parse_retry_after(response.headers) if response.status_code in (429, 503) else None
        )

    async def _asdk(self, call: Awaitable[Any]) -> Any:
        """Await an async SDK call; a ResponseError keeps the Retry-After its hook saw."""
        _async_retry_after.set(None)
        try:
            return await call
        except import_ollama().ResponseError as exc:
            exc.retry_after = _async_retry_after.get()  # type: ignore[attr-defined]
            raise

    def _merge(self, kwargs: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Request kwargs: options merged (config < call), option names moved into options."""
        options = {**self.options, **(kwargs.pop("options", None) or {})}
        names = import_ollama().Options.model_fields
        for name in [k for k in kwargs if k in names]:
            options[name] = kwargs.pop(name)
        keep_alive = kwargs.pop("keep_alive", self.keep_alive)
        request = {"model": self.model_name, **extra, **kwargs}
        if options:
            request["options"] = options
        if keep_alive is not None:
            request["keep_alive"] = keep_alive
        return request

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        error = translate_error(exc)
        if error is not None and error.status in (429, 503):
            error.retry_after = getattr(
                exc, "retry_after", getattr(self._retry_after, "value", None)
            )
        return error

    def _open_stream(self, request: dict[str, Any]) -> Any:
        return _PrimedStream(self._sdk_call(request))

    def _sdk_call(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError


def _guarded(client: Any) -> Any:
    guard_httpx_client(client._client, client._client.base_url)
    return client


_async_retry_after: ContextVar[float | None] = ContextVar("ollama_retry_after", default=None)


async def _aremember_retry_after(response: Any) -> None:
    # httpx awaits the hook in the calling task, so the value is seen by that call only.
    status = response.status_code
    _async_retry_after.set(parse_retry_after(response.headers) if status in (429, 503) else None)


def translate_error(exc: Exception) -> ProviderError | None:
    """Ollama SDK and transport exceptions as typed errors."""
    import ollama
    import pydantic

    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == -1:  # an {"error": ...} line inside a 200 stream
            return ProviderError(f"error reported by the server: {exc.error}")
        status = exc.status_code
        return error_for_status(status)(str(exc.error), status=status, body=exc.error)
    transport = transport_error(exc)
    if transport is not None:
        return transport
    if isinstance(exc, ConnectionError):  # the SDK's own "Failed to connect to Ollama"
        return ProviderConnectionError(f"connection error: {exc}")
    if isinstance(exc, json.JSONDecodeError):
        return ResponseFormatError(f"malformed response: {exc}")
    if isinstance(exc, pydantic.ValidationError) and exc.title.endswith("Response"):
        return ResponseFormatError(f"unexpected response shape: {exc}")
    return None


class _PrimedStream:
    """The SDK's lazy stream, advanced to its first part so HTTP errors raise at call time."""

    def __init__(self, parts: Iterator[Any]) -> None:
        self._parts = parts
        self._first: list[Any] = []
        try:
            self._first.append(next(parts))
        except StopIteration:
            pass

    def __iter__(self) -> Iterator[Any]:
        yield from self._first
        self._first = []
        yield from self._parts

    def close(self) -> None:
        close = getattr(self._parts, "close", None)
        if close is not None:
            close()


def _until_done(parts: Any) -> Iterator[Any]:
    """The stream's parts; one that ends without its ``done`` part was cut short."""
    for part in parts:
        yield part
        if part.done:
            return
    raise ResponseFormatError(_CUT_SHORT)


async def _auntil_done(parts: Any) -> AsyncIterator[Any]:
    """:func:`_until_done` for the async SDK."""
    async for part in parts:
        yield part
        if part.done:
            return
    raise ResponseFormatError(_CUT_SHORT)


_CUT_SHORT = "the stream ended before its final part (done: true)"


class _APrimedStream:
    """:class:`_PrimedStream` for the async SDK."""

    def __init__(self, parts: AsyncIterator[Any], first: list[Any]) -> None:
        self._parts, self._first = parts, first

    @classmethod
    async def start(cls, parts: AsyncIterator[Any]) -> _APrimedStream:
        try:
            first = await anext(parts, None)
        except BaseException:
            await cls(parts, []).aclose()
            raise
        return cls(parts, [first] if first is not None else [])

    async def __aiter__(self) -> AsyncIterator[Any]:
        first, self._first = self._first, []
        for part in first:
            yield part
        async for part in self._parts:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._parts, "aclose", None)
        if aclose is not None:
            await aclose()


def _usage(part: Any) -> tuple[int, int]:
    return (part.prompt_eval_count or 0, part.eval_count or 0)


def call_id(index: int, name: str, arguments: Any) -> str:
    """A stable id for a tool call (Ollama sends none): the same call gets the same id."""
    digest = hashlib.sha256(
        json.dumps([index, name, arguments], sort_keys=True, default=str).encode()
    )
    return f"call_{digest.hexdigest()[:12]}"


def tool_call_blocks(calls: Any, start: int = 0) -> list[dict[str, Any]]:
    """``tool_use`` blocks (with stable ids) from the SDK's ``message.tool_calls``."""
    blocks = []
    for i, call in enumerate(calls or [], start):
        args = dict(call.function.arguments or {})
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id(i, call.function.name, args),
                "name": call.function.name,
                "input": args,
            }
        )
    return blocks


def _finish_reason(reason: str | None, has_calls: bool) -> str | None:
    # Ollama says "stop" after tool calls; say "tool_calls" as the other providers do.
    return "tool_calls" if has_calls and reason in (None, "stop") else reason


# -- chat ---------------------------------------------------------------------------------------
class OllamaChatWrapper(OllamaWrapperBase):
    """``ollama_chat``: /api/chat, streamed or not, with tools, thinking and images."""

    model_type = "ollama_chat"
    can_stream = True
    config_schema = {"properties": {**_PROPERTIES, **_THINK}}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        think: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.think = think

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        return ollama_messages(flatten_msgs(*args), multi_agent_mode is not False)

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
        if tool_choice not in (None, "auto", "none"):
            raise ValueError(
                f"Ollama cannot force a tool call (tool_choice={tool_choice!r}); "
                "use 'auto', 'none' or leave it unset"
            )
        extra: dict[str, Any] = {"messages": [_to_ollama_message(m) for m in messages]}
        if tools and tool_choice != "none":
            extra["tools"] = normalize_tools(tools)
        think = kwargs.pop("think", self.think)
        if think is not None:
            extra["think"] = think
        extra["stream"] = stream
        return self._merge(kwargs, extra)

    def _sdk_call(self, request: dict[str, Any]) -> Any:
        return self.client.chat(**request)

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_chat(self._sdk_call(request))

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        parse = ChatPartParser()
        for part in _until_done(sdk_stream):
            yield parse(part)

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_chat(await self._asdk(self.aclient.chat(**request)))

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        parts = await self._asdk(self.aclient.chat(**request))
        return await self._asdk(_APrimedStream.start(parts))

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        parse = ChatPartParser()
        async for part in _auntil_done(sdk_stream):
            yield parse(part)


def response_from_chat(part: Any) -> ModelResponse:
    """A ModelResponse from a non-streamed ``/api/chat`` reply."""
    message = part.message
    calls = tool_call_blocks(message.tool_calls)
    return ModelResponse(
        text=message.content or "",
        raw=part,
        tool_calls=calls or None,
        usage=Usage(*_usage(part)),
        reasoning=message.thinking or None,
        finish_reason=_finish_reason(part.done_reason, bool(calls)),
    )


class ChatPartParser:
    """One streamed ``/api/chat`` part to a Delta (tool calls numbered across the reply)."""

    def __init__(self) -> None:
        self.n_calls = 0

    def __call__(self, part: Any) -> Delta:
        message = part.message
        calls = None
        if message.tool_calls:
            blocks = tool_call_blocks(message.tool_calls, self.n_calls)
            calls = [{"index": self.n_calls + i, **b} for i, b in enumerate(blocks)]
            self.n_calls += len(blocks)
        return Delta(
            message.content or "",
            message.thinking or "",
            calls,
            _usage(part) if part.done else None,
            _finish_reason(part.done_reason, self.n_calls > 0) if part.done else None,
        )


def _to_ollama_message(message: dict[str, Any]) -> dict[str, Any]:
    """Accept OpenAI-shaped tool calls (JSON-string arguments) in the history."""
    if not message.get("tool_calls"):
        return message
    calls = []
    for call in message["tool_calls"]:
        function = dict(call.get("function") or {})
        if isinstance(function.get("arguments"), str):
            function["arguments"] = json.loads(function["arguments"] or "{}")
        calls.append({"function": function})
    return {**message, "tool_calls": calls}


# -- generate -----------------------------------------------------------------------------------
class OllamaGenerationWrapper(OllamaWrapperBase):
    """``ollama_generate``: /api/generate on a plain prompt; kwargs reach the SDK."""

    model_type = "ollama_generate"
    can_stream = True
    config_schema = {"properties": {**_PROPERTIES, **_THINK}}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        think: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.think = think

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> str:
        """One prompt string: the system text, then the conversation history."""
        messages = common_multi_agent_messages(flatten_msgs(*args))
        return "\n\n".join(m["content"] for m in messages if m["content"])

    def _build_request(self, prompt: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(prompt, str):
            raise ValueError(f"the prompt must be a str, got {type(prompt).__name__}")
        think = kwargs.pop("think", self.think)
        extra: dict[str, Any] = {"prompt": prompt, "stream": stream}
        if think is not None:
            extra["think"] = think
        return self._merge(kwargs, extra)

    def _sdk_call(self, request: dict[str, Any]) -> Any:
        return self.client.generate(**request)

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        part = self._sdk_call(request)
        return ModelResponse(
            text=part.response or "",
            raw=part,
            usage=Usage(*_usage(part)),
            reasoning=part.thinking or None,
            finish_reason=part.done_reason,
        )

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        for part in _until_done(sdk_stream):
            yield Delta(
                part.response or "",
                part.thinking or "",
                None,
                _usage(part) if part.done else None,
                part.done_reason if part.done else None,
            )


# -- embeddings ---------------------------------------------------------------------------------
class OllamaEmbeddingWrapper(OllamaWrapperBase):
    """``ollama_embedding``: /api/embed; one vector per input, for a str or a list input."""

    model_type = "ollama_embedding"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return self._merge(kwargs, {"input": texts})

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.embed(**request)
        expected = 1 if isinstance(request["input"], str) else len(request["input"])
        vectors = [list(v) for v in result.embeddings]
        if len(vectors) != expected:
            raise ResponseFormatError(f"expected {expected} embeddings, got {len(vectors)}")
        return ModelResponse(
            embedding=vectors, raw=result, usage=Usage(result.prompt_eval_count or 0, 0)
        )


# -- format -------------------------------------------------------------------------------------
def ollama_messages(msgs: list[Any], multi_agent: bool = True) -> list[dict[str, Any]]:
    """0.1.x common format plus ``images`` (local files and base64 data; web URLs skipped).

    Multi-agent: the system prompt, then one user message with the conversation and every
    image. Otherwise one ``{"role", "content"[, "images"]}`` per Msg.
    """
    if not multi_agent:
        messages = common_chat_messages(msgs)
        for message, msg in zip(messages, msgs, strict=True):
            images = msg_images(msg)
            if images:
                message["images"] = images
        return messages
    messages = common_multi_agent_messages(msgs)
    images = [image for msg in msgs for image in msg_images(msg)]
    if images:
        if not messages or messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": ""})
        messages[-1]["images"] = images
    return messages


def msg_images(msg: Any) -> list[str]:
    """A Msg's images as the SDK takes them: absolute file paths or base64 strings.

    Ollama needs the image bytes: local files and ``data:`` URLs are used, web URLs and
    non-image files are skipped with a warning.
    """
    images: list[str | None] = [image_from_url(url) for url in msg.urls]
    images += [block_image(block) for block in msg.get_content_blocks("image")]
    return [image for image in images if image]


def block_image(block: dict[str, Any]) -> str | None:
    """An image block as the SDK takes it: base64 data or a local file's absolute path."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        data = source.get("data") or None
        return image_from_url(data) if data and data.startswith("data:") else data
    return image_from_url(block_url(block))


def image_from_url(url: str) -> str | None:
    """Base64 data from a data URL, a local image file's absolute path, else None (warned)."""
    if url.startswith("data:image/"):
        header, _, data = url.partition(",")
        if header.endswith(";base64") and data:
            return data
    path = url[7:] if url.startswith("file://") else url
    if "://" not in path and os.path.isfile(path):
        if path.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS:
            return os.path.abspath(path)
    if url:
        logger.warning("Ollama takes local image files only; skipped {!r:.80}", url)
    return None


_image_from_url = image_from_url  # the name before the formatter package reused it


__all__ = ["OllamaChatWrapper", "OllamaEmbeddingWrapper", "OllamaGenerationWrapper"]
