"""``DashScopeChatModel``: Qwen models through the DashScope SDK."""

from __future__ import annotations

from typing import Any

from ..models.dashscope import DashScopeChatWrapper, DashScopeMultiModalWrapper
from ._base import ChatModelBase
from ._endpoint import base_url_of
from ._options import GenerateOptions, as_generate_args


def is_multimodal(model_name: str) -> bool:
    """Whether DashScope serves this model through MultiModalConversation (vision models)."""
    return model_name.startswith("qvq") or "-vl" in model_name


class DashScopeChatModel(ChatModelBase):
    """Qwen chat models (``Generation``; vision models through ``MultiModalConversation``).

    Args:
        model_name: e.g. ``"qwen-max"``.
        api_key: the key; default ``DASHSCOPE_API_KEY``.
        stream: stream the reply (an async generator of accumulative ChatResponses).
        enable_thinking: ask Qwen3 models to think; the thinking becomes a ThinkingBlock.
        generate_kwargs: parameters of every request (temperature, thinking_budget, ...), or
            a ``GenerateOptions``.
        base_http_api_url: the API's base URL (``.../api/v1``); ``base_url`` is an alias.
        multimodality: use MultiModalConversation; by default for ``-vl``/``qvq`` models.
        base_url: the API's base URL (the SDK's ``base_http_api_url``).
        formatter: formats ``Msg`` inputs (default: ``DashScopeChatFormatter``); a formatted list
            of dicts is sent as it is.
        **wrapper_args: options of the underlying wrapper (``max_retries``, ``timeout``...).
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        stream: bool = True,
        enable_thinking: bool | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        base_http_api_url: str | None = None,
        multimodality: bool | None = None,
        *,
        base_url: str | None = None,
        formatter: Any = None,
        **wrapper_args: Any,
    ) -> None:
        super().__init__(model_name, stream, formatter)
        self.enable_thinking = enable_thinking
        if multimodality is None:
            multimodality = is_multimodal(model_name)
        cls = DashScopeMultiModalWrapper if multimodality else DashScopeChatWrapper
        url = base_url_of(type(self).__name__, base_url, base_http_api_url=base_http_api_url)
        self.wrapper = cls(
            f"{type(self).__name__}:{model_name}",
            model_name,
            api_key=api_key,
            base_url=url,
            enable_thinking=enable_thinking,
            stream=stream,
            generate_args=as_generate_args(generate_kwargs, cls),
            **wrapper_args,
        )
