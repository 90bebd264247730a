"""``OpenAIChatModel``: the Chat Completions API, OpenAI's or a compatible server's."""

from __future__ import annotations

from typing import Any

from ..models.openai import OpenAIChatWrapper
from ._base import ChatModelBase
from ._options import GenerateOptions, as_generate_args


class OpenAIChatModel(ChatModelBase):
    """OpenAI chat models, and OpenAI-compatible servers (vLLM, DeepSeek, ...) through
    ``base_url`` (or, as before, ``client_args={"base_url": ...}``).

    Args:
        model_name: e.g. ``"gpt-4.1"``.
        api_key: the key; default ``OPENAI_API_KEY`` (not needed with a custom ``base_url``).
        stream: stream the reply (an async generator of accumulative ChatResponses).
        reasoning_effort: ``"low"``/``"medium"``/``"high"`` for reasoning models. Reasoning
            text sent as ``reasoning_content`` (DeepSeek, vLLM, ...) becomes a ThinkingBlock.
        organization: the OpenAI organization.
        client_args: ``openai.AsyncOpenAI`` arguments (``base_url``, ``timeout``, headers...).
        generate_kwargs: parameters of every request (temperature, max_tokens, ...), or a
            ``GenerateOptions``.
        base_url: the server, e.g. ``http://127.0.0.1:8000/v1`` (wins over ``client_args``'s).
        formatter: formats ``Msg`` inputs (default: ``OpenAIChatFormatter``); a formatted list
            of dicts is sent as it is.
        **wrapper_args: options of the underlying ``openai_chat`` wrapper (``max_retries``,
            ``retry_interval``, ``timeout``, ``stream_usage``).
    """

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        stream: bool = True,
        reasoning_effort: str | None = None,
        organization: str | None = None,
        client_args: dict[str, Any] | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        *,
        base_url: str | None = None,
        formatter: Any = None,
        **wrapper_args: Any,
    ) -> None:
        super().__init__(model_name, stream, formatter)
        generate = as_generate_args(generate_kwargs, OpenAIChatWrapper)
        if reasoning_effort is not None:
            generate["reasoning_effort"] = reasoning_effort
        self.reasoning_effort = reasoning_effort
        self.wrapper = OpenAIChatWrapper(
            f"{type(self).__name__}:{model_name}",
            model_name,
            api_key=api_key,
            organization=organization,
            base_url=base_url,
            client_args=client_args,
            stream=stream,
            generate_args=generate,
            **wrapper_args,
        )
