"""``OllamaChatModel``: models served by Ollama."""

from __future__ import annotations

from typing import Any

from ..models.ollama import OllamaChatWrapper
from ._base import ChatModelBase
from ._endpoint import base_url_of
from ._options import GenerateOptions, as_generate_args

#: Keyword arguments that configure the wrapper; any other goes to the Ollama client.
_WRAPPER_ARGS = ("max_retries", "retry_interval", "max_retry_interval", "timeout", "api_key")


class OllamaChatModel(ChatModelBase):
    """Ollama chat models (no key needed for a local server).

    Args:
        model_name: e.g. ``"qwen3:8b"``.
        stream: stream the reply (an async generator of accumulative ChatResponses).
        options: Ollama model options (temperature, num_predict, num_ctx, ...).
        keep_alive: how long the server keeps the model loaded.
        enable_thinking: ``think`` for thinking models; the thinking becomes a ThinkingBlock.
        host: the server, default ``http://127.0.0.1:11434``; ``base_url`` is an alias.
        generate_kwargs: parameters of every request, or a ``GenerateOptions``.
        base_url: the server (the SDK's ``host``).
        formatter: formats ``Msg`` inputs (default: ``OllamaChatFormatter``); a formatted list
            of dicts is sent as it is.
        **kwargs: ``max_retries``, ``retry_interval``, ``max_retry_interval``, ``timeout`` and
            ``api_key`` configure the wrapper; other arguments go to ``ollama.AsyncClient``.

    Ollama cannot force a tool call: ``tool_choice`` must be ``"auto"`` or ``"none"``, and
    structured output is asked for as JSON (with the schema as Ollama's ``format``).
    """

    def __init__(
        self,
        model_name: str,
        stream: bool = False,
        options: dict[str, Any] | None = None,
        keep_alive: str | float | None = "5m",
        enable_thinking: bool | str | None = None,
        host: str | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        *,
        base_url: str | None = None,
        formatter: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name, stream, formatter)
        self.enable_thinking = enable_thinking
        wrapper_args = {k: kwargs.pop(k) for k in _WRAPPER_ARGS if k in kwargs}
        self.wrapper = OllamaChatWrapper(
            f"{type(self).__name__}:{model_name}",
            model_name,
            host=base_url_of(type(self).__name__, base_url, host=host),
            options=options,
            keep_alive=keep_alive,
            think=enable_thinking,
            client_args=kwargs,
            stream=stream,
            generate_args=as_generate_args(generate_kwargs, OllamaChatWrapper),
            **wrapper_args,
        )
