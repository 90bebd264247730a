"""``AnthropicTokenCounter``: Anthropic's token-counting API, through the ``anthropic`` SDK."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from .._secrets import register_secret
from ..errors import ConfigError
from ._base import TokenCounterBase


class AnthropicTokenCounter(TokenCounterBase):
    """Counts with ``client.messages.count_tokens`` (``POST /v1/messages/count_tokens``).

    Messages are converted exactly as the ``anthropic_chat`` wrapper sends them
    (:func:`agentscope_legacy.models.anthropic.to_anthropic_messages`): a leading system message
    is lifted to ``system``, OpenAI-shaped parts, tool calls and tool results become Anthropic
    blocks, Anthropic-shaped blocks pass through; tools go through ``tools_to_anthropic``.

    Args:
        model_name: e.g. ``"claude-sonnet-4-5"``.
        api_key: defaults to the ``ANTHROPIC_API_KEY`` environment variable.
        base_url: defaults to ``ANTHROPIC_BASE_URL`` or the public API.
        client_args: more ``anthropic.Anthropic(...)`` arguments (``timeout``, ...).

    The SDK client is created on the first :meth:`count`, once per counter; a call runs the
    synchronous client in a worker thread, so a counter works from any event loop.
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        base_url: str | None = None,
        client_args: dict[str, Any] | None = None,
    ) -> None:
        from ..models.anthropic import import_anthropic

        import_anthropic()  # a missing SDK is reported now, naming the extra
        self.model_name = model_name
        self.api_key = api_key
        self.base_url = base_url
        self.client_args = dict(client_args or {})
        self._client: Any = None
        self._lock = threading.Lock()
        register_secret(api_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r})"

    @property
    def client(self) -> Any:
        """The ``anthropic.Anthropic`` client (built on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        from ..models.anthropic import import_anthropic

        args = dict(self.client_args)
        key = self.api_key or args.pop("api_key", None) or os.environ.get("ANTHROPIC_API_KEY")
        args.pop("api_key", None)
        if not key and not args.get("auth_token") and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise ConfigError(
                "AnthropicTokenCounter: no API key: pass api_key or set ANTHROPIC_API_KEY"
            )
        register_secret(key)
        return import_anthropic().Anthropic(api_key=key, base_url=self.base_url, **args)

    def build_request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The keyword arguments :meth:`count` passes to ``client.messages.count_tokens``."""
        from ..models.anthropic import to_anthropic_messages, tools_to_anthropic

        system, converted = to_anthropic_messages(messages)
        if not converted and system:  # the API needs one message: a lone system prompt is it
            converted, system = [{"role": "user", "content": system}], None
        request: dict[str, Any] = {"model": self.model_name, "messages": converted}
        if system:
            request["system"] = system
        if tools:
            request["tools"] = tools_to_anthropic(tools)
        return request

    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        request = self.build_request(messages, tools)
        if not request["messages"]:
            return 0
        result = await asyncio.to_thread(self._count, request)
        return int(result.input_tokens)

    def _count(self, request: dict[str, Any]) -> Any:
        return self.client.messages.count_tokens(**request)
