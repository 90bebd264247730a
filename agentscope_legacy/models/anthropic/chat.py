"""``anthropic_chat``: the Messages API, streamed or not, sync and async."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ...errors import ProviderError
from .._aio import PerLoop
from .._base import ModelWrapperBase
from .._endpoint import endpoint_and_key, popped
from .._format import check_messages, flatten_msgs
from .._http import guard_httpx_client
from ..response import Delta, ModelResponse
from ._caching import PromptCaching, with_cache_control
from ._client import (
    _guarded,
    _sdk_timeout,
    _stream_request_id,
    _streaming_required,
    import_anthropic,
    translate_error,
)
from ._messages import (
    anthropic_chat_messages,
    anthropic_multi_agent_messages,
    to_anthropic_messages,
    tool_choice_to_anthropic,
    tools_to_anthropic,
)
from ._parsing import EventParser, deltas_from_events, response_from_reply

DEFAULT_MAX_TOKENS = 4096


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
            "prompt_caching": {
                "type": ["boolean", "object", "null"],
                "properties": {
                    "system": {"type": "boolean"},
                    "tools": {"type": "boolean"},
                    "last_turns": {"type": "integer", "minimum": 0},
                    "ttl": {"enum": ["5m", "1h", None]},
                },
                "additionalProperties": False,
            },
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
        prompt_caching: PromptCaching | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        #: Where ``cache_control`` marks go (None: no caching asked for).
        self.prompt_caching = PromptCaching.of(prompt_caching)
        anthropic = import_anthropic()
        old_args, args = dict(client_kwargs or {}), dict(client_args or {})
        base_url, api_key = endpoint_and_key(  # base_url None: ANTHROPIC_BASE_URL or the API
            config_name,
            base_url,
            api_key,
            urls={**popped(args, "client_args", "base_url"),
                  **popped(old_args, "client_kwargs", "base_url")},
            keys={**popped(args, "client_args", "api_key"),
                  **popped(old_args, "client_kwargs", "api_key")},
        )  # fmt: skip
        args = {**old_args, **args}
        key = self._resolve_api_key(api_key)
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
        if self.prompt_caching is not None:
            request = with_cache_control(request, self.prompt_caching)
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
        return translate_error(exc)
