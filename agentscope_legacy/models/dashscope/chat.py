"""``dashscope_chat`` and ``dashscope_multimodal``: ``Generation`` and
``MultiModalConversation``, their replies parsed and their streams turned into deltas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ...errors import (
    ResponseFormatError,
)
from .._format import (
    check_messages,
    flatten_msgs,
    normalize_tools,
)
from ..response import Delta, ModelResponse, Usage, tool_call_block
from ._client import _CLIENT_PROPERTIES, DashScopeWrapperBase, _checked
from ._messages import (
    dashscope_chat_messages,
    dashscope_multi_agent_messages,
    inline_local_media,
    tool_choice_to_dashscope,
)

_CHAT_PROPERTIES = {
    **_CLIENT_PROPERTIES,
    "enable_thinking": {"type": ["boolean", "null"]},
    "thinking_budget": {"type": ["integer", "null"], "minimum": 1},
}


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
