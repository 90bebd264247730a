"""``ollama_chat``: /api/chat, streamed or not, sync and async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .._format import check_messages, flatten_msgs, normalize_tools
from ..response import Delta, ModelResponse
from ._client import (
    _PROPERTIES,
    _THINK,
    OllamaWrapperBase,
    _APrimedStream,
    _auntil_done,
    _until_done,
)
from ._messages import _to_ollama_message, ollama_messages
from ._parsing import ChatPartParser, response_from_chat


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
