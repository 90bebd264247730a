"""``AnthropicChatModel``: Claude through the Messages API."""

from __future__ import annotations

from typing import Any

from ..models.anthropic import AnthropicChatWrapper
from ._base import ChatModelBase
from ._options import GenerateOptions, as_generate_args


class AnthropicChatModel(ChatModelBase):
    """Claude models. A leading system message of the formatted messages becomes the request's
    top-level ``system``.

    Args:
        model_name: e.g. ``"claude-sonnet-4-6"``.
        api_key: the key; default ``ANTHROPIC_API_KEY``.
        max_tokens: the reply's token limit (required by the API).
        stream: stream the reply (an async generator of accumulative ChatResponses).
        thinking: extended thinking, e.g. ``{"type": "enabled", "budget_tokens": 1024}``;
            the thinking becomes a ThinkingBlock.
        prompt_caching: ``True``, a dict or a ``PromptCaching`` policy: ``cache_control``
            marks on the tools, system prompt and last user turns (a wrapper option); the
            usage then has ``cache_read_tokens``/``cache_creation_tokens``.
        client_args: ``anthropic.AsyncAnthropic`` arguments (``base_url``, headers...).
        generate_kwargs: parameters of every request (temperature, top_p, ...), or a
            ``GenerateOptions``.
        base_url: the API's base URL (wins over ``client_args``'s).
        formatter: formats ``Msg`` inputs (default: ``AnthropicChatFormatter``); a formatted list
            of dicts is sent as it is.
        **wrapper_args: options of the underlying wrapper (``max_retries``, ``timeout``...).
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        max_tokens: int = 2048,
        stream: bool = True,
        thinking: dict[str, Any] | None = None,
        client_args: dict[str, Any] | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        *,
        base_url: str | None = None,
        formatter: Any = None,
        **wrapper_args: Any,
    ) -> None:
        super().__init__(model_name, stream, formatter)
        self.max_tokens = max_tokens
        self.thinking = thinking
        self.wrapper = AnthropicChatWrapper(
            f"{type(self).__name__}:{model_name}",
            model_name,
            api_key=api_key,
            base_url=base_url,
            client_args=client_args,
            max_tokens=max_tokens,
            thinking=thinking,
            stream=stream,
            generate_args=as_generate_args(generate_kwargs, AnthropicChatWrapper),
            **wrapper_args,
        )
