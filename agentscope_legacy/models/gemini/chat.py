"""``gemini_chat``: generateContent, streamed or not, sync and async (``client.aio``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .._format import check_messages, flatten_msgs
from ..response import Delta, ModelResponse
from ._client import _CLIENT_PROPERTIES, GeminiWrapperBase, import_genai
from ._messages import (
    gemini_chat_contents,
    gemini_multi_agent_contents,
    split_system,
    tool_choice_to_gemini,
    tools_to_gemini,
)
from ._parsing import delta_from_gemini, response_from_gemini

_ALIASES = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}


class GeminiChatWrapper(GeminiWrapperBase):
    """``gemini_chat``: generateContent, streamed or not, with tools and thoughts."""

    model_type = "gemini_chat"
    legacy_arg_names = {"contents": "messages"}  # 0.x: model(contents=...)
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
