"""Anthropic Claude through the official ``anthropic`` SDK (the Messages API).

One SDK client per wrapper, built with the SDK's retries off and the key passed explicitly (so
the SDK's credential discovery -- profiles, workload identity -- never runs). Messages are
given in the OpenAI-like shape that ``format()`` produces: leading system messages become the
top-level ``system`` string, a later system message is sent as a user turn, OpenAI-style
``tool_calls``/``tool`` messages are turned into ``tool_use``/``tool_result`` blocks.

Request kwargs that ``messages.create()`` does not name (in SDK 2.x that includes
``temperature``, ``top_p`` and ``top_k``) are sent as top-level JSON fields via ``extra_body``.
``max_tokens`` is required by the API: the config's ``max_tokens`` (default 4096) is used
unless generate_args or the call give one. Text blocks are joined with no separator, streamed
or not, and ``finish_reason`` is Anthropic's ``stop_reason`` (``end_turn``, ``tool_use``...).

``acall`` uses the SDK's ``AsyncAnthropic`` (one per event loop, built on first use) with the
same requests, and the same per-event parsing (:class:`EventParser`) as the sync stream.
"""

from __future__ import annotations

import base64
import inspect
import json
import mimetypes
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import (
    BadRequestError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from ..message import Msg
from ._aio import PerLoop
from ._base import ModelWrapperBase, parse_retry_after, transport_error
from ._format import (
    HISTORY_HEADER,
    IMAGE_EXTENSIONS,
    _extension,
    _tool_output_text,
    check_messages,
    flatten_msgs,
    normalize_tools,
)
from ._http import guard_httpx_client
from .response import Delta, ModelResponse, Usage, tool_call_block

DEFAULT_MAX_TOKENS = 4096


def import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise MissingDependencyError("anthropic", "anthropic") from exc
    return anthropic


class AnthropicChatWrapper(ModelWrapperBase):
    """``anthropic_chat``: Claude messages, streamed or not, with tools and extended thinking."""

    model_type = "anthropic_chat"
    provider = "anthropic"
    api_key_env = "ANTHROPIC_API_KEY"
    can_stream = True
    config_schema = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "client_args": {"type": "object"},
            "client_kwargs": {"type": "object"},  # the 0.x name of client_args
            "max_tokens": {"type": "integer", "minimum": 1},
            "thinking": {"type": ["object", "null"], "required": ["type"]},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        client_args: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        thinking: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        anthropic = import_anthropic()
        args = {**(client_kwargs or {}), **(client_args or {})}
        key = self._resolve_api_key(api_key or args.pop("api_key", None))
        args.pop("api_key", None)
        base_url = base_url or args.pop("base_url", None)  # None: ANTHROPIC_BASE_URL or the API
        args.pop("max_retries", None)  # retries are the base class's job
        if self.timeout is not None:
            args["timeout"] = _sdk_timeout(anthropic, self.timeout)
        self.base_url = base_url
        self.max_tokens = max_tokens
        self.thinking = dict(thinking) if thinking else None
        client_kwargs = dict(api_key=key, base_url=base_url, max_retries=0, **args)
        self.client = anthropic.Anthropic(**client_kwargs)
        # Deadlines, and no header of this config sent to another host by a redirect.
        guard_httpx_client(self.client._client, self.client.base_url)
        self._async_clients = PerLoop(
            lambda: _guarded(anthropic.AsyncAnthropic(**client_kwargs)), lambda c: c.close()
        )
        create = self.client.messages.create
        self._known_params = frozenset(inspect.signature(create).parameters) - {"kwargs"}

    # -- prompt ------------------------------------------------------------------------------
    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if multi_agent_mode is False:
            return anthropic_chat_messages(msgs)
        return anthropic_multi_agent_messages(msgs)

    # -- request -----------------------------------------------------------------------------
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
        system, converted = to_anthropic_messages(messages)
        request: dict[str, Any] = {}
        extra: dict[str, Any] = dict(kwargs.pop("extra_body", None) or {})
        for key, value in kwargs.items():
            (request if key in self._known_params else extra)[key] = value
        request["model"] = self.model_name
        request["messages"] = converted
        request.setdefault("max_tokens", self.max_tokens)
        if system:
            given = request.get("system")
            request["system"] = f"{given}\n\n{system}" if isinstance(given, str) else system
        if self.thinking and "thinking" not in request:
            request["thinking"] = self.thinking
        if tools:
            request["tools"] = tools_to_anthropic(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice_to_anthropic(tool_choice)
        if stream:
            request["stream"] = True
        if extra:
            request["extra_body"] = extra
        return request

    # -- calls -------------------------------------------------------------------------------
    @property
    def aclient(self) -> Any:
        """The SDK's ``AsyncAnthropic`` client, built on first async use (once per loop)."""
        return self._async_clients.get()

    # Non-streamed calls go through ``create()`` (its checks, its timeout for a large
    # max_tokens, its errors) with the raw response: the JSON body is parsed here instead of
    # into the SDK's typed Message.
    def _call(self, request: dict[str, Any]) -> ModelResponse:
        with _streaming_required(request):
            reply = self.client.messages.with_raw_response.create(**request)
        return response_from_reply(reply.http_response)

    def _open_stream(self, request: dict[str, Any]) -> Any:
        return self.client.messages.create(**request)

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        yield from deltas_from_events(sdk_stream, _stream_request_id(sdk_stream))

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        with _streaming_required(request):
            reply = await self.aclient.messages.with_raw_response.create(**request)
        return response_from_reply(reply.http_response)

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        return await self.aclient.messages.create(**request)

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        parse = EventParser(_stream_request_id(sdk_stream))
        async for event in sdk_stream:
            if (delta := parse(event)) is not None:
                yield delta

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        anthropic = import_anthropic()
        if isinstance(exc, anthropic.APIStatusError):
            kind, message = error_detail(exc.body, exc.message)
            request_id = exc.request_id or exc.response.headers.get("request-id")
            if exc.status_code < 400:  # `event: error` inside a 200 stream
                return ProviderError(
                    f"error reported inside the stream: {kind}: {message}",
                    request_id=request_id,
                    body=exc.body,
                )
            return error_for_status(exc.status_code)(
                f"{kind}: {message}" if kind else message,
                status=exc.status_code,
                request_id=request_id,
                retry_after=parse_retry_after(exc.response.headers),
                body=exc.body,
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeoutError(f"request timed out: {exc}")
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({type(cause).__name__}: {cause})" if cause else ""
            return ProviderConnectionError(f"connection error: {exc}{detail}")
        transport = transport_error(exc)  # e.g. a raw httpx2.RemoteProtocolError mid-stream
        if transport is not None:
            return transport
        if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
            return ResponseFormatError(f"malformed response: {exc}")
        return None


@contextmanager
def _streaming_required(request: dict[str, Any]) -> Iterator[None]:
    """The SDK refuses, before sending anything, a non-streamed call whose max_tokens could
    take longer than 10 minutes (when no timeout is configured): say what to do instead."""
    try:
        yield
    except ValueError as exc:
        if "Streaming is required" not in str(exc):
            raise
        raise BadRequestError(
            f"max_tokens={request.get('max_tokens')} is too large for a non-streamed call: "
            "the anthropic SDK requires streaming for it. Use `stream: true`, a smaller "
            "max_tokens, or set `timeout` in the config"
        ) from exc


def _stream_request_id(sdk_stream: Any) -> str | None:
    response = getattr(sdk_stream, "response", None)
    return response.headers.get("request-id") if response is not None else None


def _guarded(client: Any) -> Any:
    guard_httpx_client(client._client, client.base_url)
    return client


def _sdk_timeout(anthropic: Any, timeout: float | dict[str, float]) -> Any:
    if isinstance(timeout, dict):
        read = timeout.get("read", 600.0)
        return anthropic.Timeout(read, connect=timeout.get("connect", min(read, 5.0)))
    return float(timeout)


def error_detail(body: Any, fallback: str) -> tuple[str, str]:
    """``(error.type, error.message)`` from an Anthropic error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error.get("type") or ""), str(error["message"])
    return "", fallback


# -- request shaping (pure) -------------------------------------------------------------------
def tools_to_anthropic(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function tools (or bare schemas) to ``{"name","description","input_schema"}``."""
    result = []
    for tool in normalize_tools(tools):
        function = tool["function"]
        item = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            item["description"] = function["description"]
        result.append(item)
    return result


def tool_choice_to_anthropic(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        function = choice.get("function")
        if choice.get("type") == "function" and isinstance(function, dict):
            return {"type": "tool", "name": function["name"]}
        return choice  # already Anthropic-shaped
    named = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    return named.get(choice, {"type": "tool", "name": choice})


def to_anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)``: leading system text lifted out, the rest in Anthropic shape."""
    system: list[str] = []
    result: list[dict[str, Any]] = []
    leading = True
    for message in messages:
        role, content = message["role"], message.get("content")
        if role == "system" and leading:
            if text := _text_of(content):
                system.append(text)
            continue
        leading = False
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _tool_output_text(content),
            }
            last = result[-1] if result else None
            if last and last["role"] == "user" and _all_tool_results(last["content"]):
                last["content"].append(block)
            else:
                result.append({"role": "user", "content": [block]})
            continue
        blocks = _content_blocks(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            block = tool_call_block(
                call.get("id", ""), function.get("name", ""), function.get("arguments")
            )
            block.pop("raw_input", None)  # arguments that are not JSON cannot be sent
            blocks.append(block)
        if not blocks:
            continue
        if isinstance(content, str) and len(blocks) == 1:
            body: str | list[dict[str, Any]] = content
        else:
            body = blocks
        result.append({"role": "user" if role == "system" else role, "content": body})
    return "\n\n".join(system) or None, result


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _all_tool_results(content: Any) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """Message content as Anthropic blocks; OpenAI ``image_url`` parts become images."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image_url":
            url = (block.get("image_url") or {}).get("url", "")
            blocks.append({"type": "image", "source": image_source(url)})
        elif block.get("type") == "text" and not block.get("text"):
            continue  # the API rejects empty text blocks
        else:
            blocks.append(block)
    return blocks


def image_source(url: str) -> dict[str, Any]:
    """An image ``source``: a web URL as is; a data URL or local file as bare base64."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {"type": "base64", "media_type": media_type, "data": data}
    path = url[7:] if url.startswith("file://") else url
    if "://" not in path and os.path.isfile(path):
        media_type = mimetypes.guess_type(path)[0] or "image/png"
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def image_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """An image content block (ours or 0.1.x's) as an Anthropic image block, or None."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        data = str(source.get("data", ""))
        if data.startswith("data:"):  # 0.x sent the data-URL prefix inside `data`
            return {"type": "image", "source": image_source(data)}
        media_type = source.get("media_type") or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    url = source.get("url") if isinstance(source, dict) else source or block.get("url")
    return {"type": "image", "source": image_source(url)} if isinstance(url, str) and url else None


_image_block = image_block  # the name before the formatter package reused it


def tool_use_to_anthropic(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` content block as Anthropic's (only the fields the API takes)."""
    return {
        "type": "tool_use",
        "id": block["id"],
        "name": block["name"],
        "input": block.get("input") or {},
    }


def tool_result_to_anthropic(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_result`` block as Anthropic's: text as a string, images kept as image blocks."""
    output = block.get("output")
    content: str | list[dict[str, Any]] = _tool_output_text(output)
    if isinstance(output, list) and any(
        isinstance(item, dict) and item.get("type") == "image" for item in output
    ):
        content = []
        for item in output:
            image = image_block(item) if item.get("type") == "image" else None
            if image is not None:
                content.append(image)
            elif text := _tool_output_text([item]):
                content.append({"type": "text", "text": text})
    return {"type": "tool_result", "tool_use_id": block["id"], "content": content}


def _msg_images(msg: Msg) -> list[dict[str, Any]]:
    return [
        {"type": "image", "source": image_source(url)}
        for url in msg.urls
        if _extension(url) in IMAGE_EXTENSIONS or url.startswith("data:image/")
    ]


def anthropic_chat_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    """One Anthropic message per Msg (tool results split into a following user message)."""
    result: list[dict[str, Any]] = []
    leading = True
    for msg in msgs:
        if msg.role == "system" and leading:
            result.append({"role": "system", "content": msg.get_text_content() or ""})
            continue
        leading = False
        blocks: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                blocks.append({"type": "text", "text": block["text"]})
            elif kind == "image" and (image := _image_block(block)) is not None:
                blocks.append(image)
            elif kind == "tool_use":
                blocks.append(tool_use_to_anthropic(block))
            elif kind == "tool_result":
                results.append(tool_result_to_anthropic(block))
        blocks.extend(_msg_images(msg))
        if blocks:
            result.append({"role": "user" if msg.role == "system" else msg.role, "content": blocks})
        if results:
            result.append({"role": "user", "content": results})
    return result


def anthropic_multi_agent_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    """The system prompt, then one user message: the conversation as text, then its images."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    result: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        result.append({"role": "system", "content": msgs[0].get_text_content() or ""})
        rest = msgs[1:]
    lines: list[str] = []
    images: list[dict[str, Any]] = []
    for msg in rest:
        parts: list[str] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                parts.append(block["text"])
            elif kind in ("tool_use", "tool_result"):
                shown = {k: v for k, v in block.items() if k != "type"}
                parts.append(
                    f"<{kind}>{json.dumps(shown, ensure_ascii=False, default=str)}</{kind}>"
                )
            elif kind == "image" and (image := _image_block(block)) is not None:
                images.append(image)
        images.extend(_msg_images(msg))
        if parts:
            lines.append(f"{msg.name}: " + "\n".join(parts))
    content: list[dict[str, Any]] = []
    if lines:
        content.append({"type": "text", "text": HISTORY_HEADER + "\n" + "\n".join(lines)})
    content.extend(images)
    if content:
        result.append({"role": "user", "content": content})
    return result


# -- response parsing (pure) ------------------------------------------------------------------
class _Tokens:
    """Running token counts; Anthropic's usage fields are cumulative, never to be summed."""

    def __init__(self) -> None:
        self.input = self.cache_creation = self.cache_read = self.output = 0

    def update(self, usage: Any) -> tuple[int, int]:
        for attr, name in (
            ("input", "input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("output", "output_tokens"),
        ):
            if usage is None:
                value = None
            elif isinstance(usage, dict):
                value = usage.get(name)
            else:
                value = getattr(usage, name, None)
            if value is not None:
                setattr(self, attr, value)
        return self.input + self.cache_creation + self.cache_read, self.output


def response_from_reply(reply: Any) -> ModelResponse:
    """A ModelResponse from the HTTP reply (2xx, body read) of a non-streamed Messages call."""
    try:
        data = json.loads(reply.content)
    except ValueError:
        kind = reply.headers.get("content-type") or "no content type"
        raise ResponseFormatError(
            f"malformed response ({kind}): not a JSON document: {reply.content[:200]!r}"
        ) from None
    response = response_from_message(data)
    response.request_id = reply.headers.get("request-id")
    return response


def response_from_message(message: Any) -> ModelResponse:
    """A ModelResponse from a Messages API ``message`` document (``raw`` is that dict, as in
    0.x): text blocks joined, thinking as reasoning, ``tool_use`` blocks as tool calls."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise ResponseFormatError(
            f"the response has no content: {str(message)[:200]}", body=message
        )
    texts, thinking, calls = [], [], []
    try:
        for block in content:
            kind = block.get("type")
            if kind == "text":
                texts.append(block["text"])
            elif kind == "thinking":
                thinking.append(block["thinking"])
            elif kind == "tool_use":
                calls.append(tool_call_block(block["id"], block["name"], block.get("input") or {}))
        usage = message.get("usage")
        prompt, completion = _Tokens().update(usage if isinstance(usage, dict) else None)
        text = "".join(texts)
        reasoning = "".join(thinking) if thinking else None
    except (KeyError, TypeError, AttributeError):
        raise ResponseFormatError(
            f"malformed content block in the response: {str(content)[:200]}", body=message
        ) from None
    return ModelResponse(
        text=text,
        raw=message,
        tool_calls=calls or None,
        usage=Usage(prompt, completion),
        reasoning=reasoning,
        finish_reason=message.get("stop_reason"),
    )


def deltas_from_events(events: Iterable[Any], request_id: str | None = None) -> Iterator[Delta]:
    """Deltas from raw stream events (``message_start`` ... ``message_stop``)."""
    parse = EventParser(request_id)
    for event in events:
        if (delta := parse(event)) is not None:
            yield delta


class EventParser:
    """One raw stream event to a Delta (None for events that carry nothing); sync and async
    streams share it.

    Usage: input tokens come from ``message_start`` (or a later cumulative value); output
    tokens are the last running total of ``message_delta``.
    """

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.tokens = _Tokens()

    def __call__(self, event: Any) -> Delta | None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            return Delta(usage=self.tokens.update(event.message.usage), request_id=self.request_id)
        if kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                call: dict[str, Any] = {"index": event.index, "id": block.id, "name": block.name}
                if block.input:
                    call["input"] = block.input
                return Delta(tool_calls=[call])
            if block.type == "text" and block.text:
                return Delta(text=block.text)
            if block.type == "thinking" and block.thinking:
                return Delta(reasoning=block.thinking)
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return Delta(text=delta.text)
            if delta.type == "thinking_delta":
                return Delta(reasoning=delta.thinking)
            if delta.type == "input_json_delta" and delta.partial_json:
                return Delta(tool_calls=[{"index": event.index, "arguments": delta.partial_json}])
        elif kind == "message_delta":
            return Delta(
                usage=self.tokens.update(getattr(event, "usage", None)),
                finish_reason=getattr(event.delta, "stop_reason", None),
            )
        return None


__all__ = ["AnthropicChatWrapper"]
