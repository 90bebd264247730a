"""``openai_chat``: Chat Completions, streamed or not, sync and async; the JSON body and the SSE
bytes are parsed here (``_openai_shape``), not into the SDK's typed objects."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ...errors import ResponseFormatError
from .._format import (
    check_messages,
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    normalize_tools,
    openai_messages,
    tool_choice_to_openai,
)
from .._openai_shape import (
    OPENAI_CHAT_ARGS,
    SSEDecoder,
    delta_from_chunk,
    loads_event,
    sse_blocks,
    sse_blocks_async,
)
from .._openai_shape import response_from_completion as response_from_json
from ..response import Delta, ModelResponse
from ._client import _CLIENT_PROPERTIES, OpenAIWrapperBase, import_openai

# Model names for which the per-message OpenAI format (with names and images) is used; other
# names (local and compatible servers) get the common merged format, as in 0.1.x.
OPENAI_FORMAT_MODELS = re.compile(r"gpt-.*|o1|o1-mini|o3-mini|o\d.*|chatgpt-.*")


class OpenAIChatWrapper(OpenAIWrapperBase):
    """``openai_chat``: Chat Completions, streamed or not, with tools and reasoning."""

    model_type = "openai_chat"
    can_stream = True
    generate_args_keys = OPENAI_CHAT_ARGS
    generate_args_hint = "parameters of other servers go under generate_args.extra_body"
    config_schema = {
        "properties": {**_CLIENT_PROPERTIES, "stream_usage": {"type": "boolean"}},
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        stream_usage: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        # Some compatible servers reject stream_options; `stream_usage: false` leaves it out.
        self.stream_usage = stream_usage
        create = self.client.chat.completions.create
        self._known_params = frozenset(inspect.signature(create).parameters) - {"kwargs"}
        openai = import_openai()
        # What ``client.post`` returns for a non-streamed call: the HTTP reply, body read.
        self._reply_types = (openai.APIResponse[bytes], openai.AsyncAPIResponse[bytes])

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if OPENAI_FORMAT_MODELS.fullmatch(self.model_name):
            return openai_messages(msgs)
        if multi_agent_mode is False:
            return common_chat_messages(msgs)
        return common_multi_agent_messages(msgs)

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
        request: dict[str, Any] = {}
        extra: dict[str, Any] = dict(kwargs.pop("extra_body", None) or {})
        for key, value in kwargs.items():
            (request if key in self._known_params else extra)[key] = value
        request["model"] = self.model_name
        request["messages"] = messages
        if tools:
            request["tools"] = normalize_tools(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice_to_openai(tool_choice)
        if stream:
            request["stream"] = True
            if self.stream_usage:
                request["stream_options"] = {"include_usage": True}
        if extra:
            request["extra_body"] = extra
        return request

    # Non-streamed calls: the SDK sends the request (headers, auth, timeouts, connection pool)
    # and raises typed errors for HTTP statuses, like ``create()``; the JSON body is parsed
    # here. ``create()`` would also walk the request through the typed parameter declarations
    # (which change nothing in a chat request: no aliases, no formats) and build a typed
    # ChatCompletion: together about a fifth of a loopback call.
    def _call(self, request: dict[str, Any]) -> ModelResponse:
        reply = self.client.post(
            "/chat/completions", cast_to=self._reply_types[0], **post_arguments(request)
        )
        return response_from_reply(reply.http_response)

    # Streams: the SDK sends the request and raises typed errors for HTTP statuses, then the
    # SSE bytes are decoded here. The SDK's own stream builds a typed object per chunk (~70 µs,
    # over ten times the cost of this parse). Reading stops at [DONE]: what is left of the body
    # (the HTTP terminator) is read if it comes at once, which keeps the connection for the
    # next call; a server that holds the body open after [DONE] loses the connection instead.
    def _open_stream(self, request: dict[str, Any]) -> Any:
        return self.client.chat.completions.with_streaming_response.create(**request).__enter__()

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        decoder, chunk_delta = SSEDecoder(), self.chunk_delta
        reply = sdk_stream.http_response
        blocks = sse_blocks(reply.headers.get("content-type"), sdk_stream.iter_bytes())
        for block in blocks:
            for payload in decoder.feed(block):
                yield chunk_delta(loads_event(payload))
            if decoder.done:
                _finish_after_done(reply, blocks)
                return
        for payload in decoder.close():
            yield chunk_delta(loads_event(payload))

    def chunk_delta(self, chunk: dict[str, Any]) -> Delta:
        """One ``chat.completion.chunk`` as a Delta (presets adjust for their servers)."""
        return delta_from_chunk(chunk)

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        reply = await self.aclient.post(
            "/chat/completions", cast_to=self._reply_types[1], **post_arguments(request)
        )
        return response_from_reply(reply.http_response)

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        manager = self.aclient.chat.completions.with_streaming_response.create(**request)
        return await manager.__aenter__()

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        decoder, chunk_delta = SSEDecoder(), self.chunk_delta
        reply = sdk_stream.http_response
        blocks = sse_blocks_async(reply.headers.get("content-type"), sdk_stream.iter_bytes())
        async for block in blocks:
            for payload in decoder.feed(block):
                yield chunk_delta(loads_event(payload))
            if decoder.done:
                await _afinish_after_done(reply, blocks)
                return
        for payload in decoder.close():
            yield chunk_delta(loads_event(payload))


#: After [DONE], how long the rest of the body (normally just the HTTP terminator, sent with
#: [DONE]) may take before the connection is closed instead of kept for the next call.
AFTER_DONE_WAIT = 0.05


def _finish_after_done(reply: Any, blocks: Iterator[bytes]) -> None:
    """Read what is left of the body after [DONE] with a socket timeout of AFTER_DONE_WAIT;
    any failure (nothing more came) closes the connection. Never waits for the server."""
    network = reply.extensions.get("network_stream")
    read = getattr(network, "read", None)
    if read is None:
        reply.close()
        return
    network.read = lambda max_bytes, timeout=None: read(max_bytes, AFTER_DONE_WAIT)
    try:
        for _ in blocks:
            pass
    except Exception:
        reply.close()
    finally:
        del network.read


async def _afinish_after_done(reply: Any, blocks: AsyncIterator[bytes]) -> None:
    """:func:`_finish_after_done` for the async client."""
    network = reply.extensions.get("network_stream")
    read = getattr(network, "read", None)
    if read is None:
        await reply.aclose()
        return
    network.read = lambda max_bytes, timeout=None: read(max_bytes, AFTER_DONE_WAIT)
    try:
        async for _ in blocks:
            pass
    except Exception:
        await reply.aclose()
    finally:
        del network.read


#: ``create()``'s per-request options, and where ``client.post`` takes them.
_REQUEST_OPTIONS = {"extra_headers": "headers", "extra_query": "params", "extra_body": "extra_json"}


def post_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """``client.post`` arguments sending what ``chat.completions.create(**request)`` sends.

    The options go where ``create()`` puts them: ``extra_body`` is merged into the JSON body by
    the SDK (its keys win), ``extra_query`` becomes query parameters, ``timeout`` (even
    ``None``, no timeout) overrides the client's. A pydantic class as ``response_format`` is
    refused as ``create()`` refuses it (``parse()`` is the API for those).
    """
    body = dict(request)
    options: dict[str, Any] = {}
    for key, option in _REQUEST_OPTIONS.items():
        value = body.pop(key, None)
        if value is not None:
            options[option] = value
    if "timeout" in body:
        options["timeout"] = body.pop("timeout")
    if isinstance(body.get("response_format"), type):
        raise TypeError(
            "a class as response_format needs chat.completions.parse(); pass a JSON schema "
            "dict, or structured_model= to the wrapper"
        )
    return {"body": body, "options": options}


def response_from_reply(reply: Any) -> ModelResponse:
    """A ModelResponse from the HTTP reply (status 2xx, body read) of a ``chat.completion``.

    The body is parsed by the parser ``post_api_chat`` uses (``_openai_shape``): the same
    text, tool calls, usage, reasoning fields and finish reason as the SDK's typed objects,
    with ``raw`` the JSON document (a dict, as in 0.x).
    """
    body = reply.content
    try:
        data = json.loads(body)
    except ValueError:
        kind = reply.headers.get("content-type") or "no content type"
        raise ResponseFormatError(
            f"malformed response ({kind}): not a JSON document: {body[:200]!r}"
        ) from None
    response = response_from_json(data)
    response.request_id = reply.headers.get("x-request-id")
    return response
