"""``GeminiChatModel``: Google Gemini through the google-genai SDK."""

from __future__ import annotations

from typing import Any

from ..models.gemini import GeminiChatWrapper
from ._base import ChatModelBase
from ._options import GenerateOptions, as_generate_args


class GeminiChatModel(ChatModelBase):
    """Gemini models.

    Args:
        model_name: e.g. ``"gemini-2.5-flash"``.
        api_key: the key; default ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``.
        stream: stream the reply (an async generator of accumulative ChatResponses).
        thinking_config: e.g. ``{"include_thoughts": True, "thinking_budget": 1024}``;
            thoughts become ThinkingBlocks.
        client_args: ``genai.Client`` arguments: ``http_options`` (a dict or
            ``HttpOptions``: ``base_url``, ``api_version``, ``timeout``...) and ``vertexai``,
            ``project``, ``location``...; HttpOptions fields may also be given directly.
        generate_kwargs: ``GenerateContentConfig`` fields of every request, or a
            ``GenerateOptions``.
        base_url: the API's base URL (the SDK's ``http_options.base_url``).
        formatter: formats ``Msg`` inputs (default: ``GeminiChatFormatter``); a formatted list
            of dicts is sent as it is.
        **wrapper_args: options of the underlying wrapper (``max_retries``, ``timeout``...).
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        stream: bool = True,
        thinking_config: dict[str, Any] | None = None,
        client_args: dict[str, Any] | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        *,
        base_url: str | None = None,
        formatter: Any = None,
        **wrapper_args: Any,
    ) -> None:
        super().__init__(model_name, stream, formatter)
        self.thinking_config = thinking_config
        args = dict(client_args or {})
        http_options = args.pop("http_options", None) or {}
        if not isinstance(http_options, dict):  # an HttpOptions object
            http_options = http_options.model_dump(exclude_none=True)
        generate = as_generate_args(generate_kwargs, GeminiChatWrapper)
        if thinking_config:
            generate["thinking_config"] = dict(thinking_config)
        self.wrapper = GeminiChatWrapper(
            f"{type(self).__name__}:{model_name}",
            model_name,
            api_key=api_key,
            base_url=base_url,
            client_args={**http_options, **args},
            stream=stream,
            generate_args=generate,
            **wrapper_args,
        )
