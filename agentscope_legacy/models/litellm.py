"""Any provider LiteLLM knows, through ``litellm.completion`` (OpenAI-shaped replies).

litellm is imported once per process, lazily, with its cost map read from the bundled copy
(at import it would otherwise fetch it from GitHub). The key and base URL are passed on each
call, never set globally, and litellm's own retries are off: the base class retries.
``acall`` goes through ``litellm.acompletion`` with the same request and parsing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import (
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from ._base import ModelWrapperBase, parse_retry_after
from ._endpoint import one_spelling
from ._format import (
    check_messages,
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    normalize_tools,
    tool_choice_to_openai,
)
from ._openai_shape import delta_from_sdk_chunk
from .response import Delta, ModelResponse, Usage, sdk_dict, tool_call_block

_litellm: Any = None
_import_lock = threading.Lock()


def import_litellm() -> Any:
    """The litellm module, imported once (a slow import that would also reach the network)."""
    global _litellm
    if _litellm is None:
        with _import_lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                try:
                    import litellm
                except ImportError as exc:
                    raise MissingDependencyError("litellm", "litellm") from exc
                # Otherwise every failed call prints a "Give Feedback / Get Help" banner.
                litellm.suppress_debug_info = True
                _litellm = litellm
    return _litellm


class LiteLLMChatWrapper(ModelWrapperBase):
    """``litellm_chat``: ``model_name`` is litellm's, e.g. ``openai/gpt-4o-mini``."""

    model_type = "litellm_chat"
    provider = "litellm"
    can_stream = True
    config_schema = {
        "properties": {
            "api_key": {"type": ["string", "null"]},
            "base_url": {"type": ["string", "null"]},
            "api_base": {"type": ["string", "null"]},  # litellm's (and 0.x's) name of base_url
            "stream_usage": {"type": "boolean"},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        api_base: str | None = None,
        stream_usage: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        import_litellm()
        # Without a key litellm reads the provider's own variable (OPENAI_API_KEY, ...).
        self._api_key = self._resolve_api_key(api_key, required=False)
        self.base_url = self.api_base = one_spelling(
            config_name, "base_url", base_url, {"api_base": api_base}
        )
        self.stream_usage = stream_usage

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if multi_agent_mode is False:
            return common_chat_messages(msgs)
        return common_multi_agent_messages(msgs)

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
        request: dict[str, Any] = {**kwargs, "model": self.model_name, "messages": messages}
        if tools:
            request["tools"] = normalize_tools(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice_to_openai(tool_choice)
        if stream:
            request["stream"] = True
            if self.stream_usage:
                request["stream_options"] = {"include_usage": True}
        if self.api_base:
            request.setdefault("api_base", self.api_base)
        if self.timeout is not None:
            request.setdefault("timeout", _timeout(self.timeout))
        return request

    def _complete(self, request: dict[str, Any]) -> Any:
        with _mcp_needed():
            return import_litellm().completion(**request, **self._secret_args())

    async def _acomplete(self, request: dict[str, Any]) -> Any:
        with _mcp_needed():
            return await import_litellm().acompletion(**request, **self._secret_args())

    def _secret_args(self) -> dict[str, Any]:
        # The key is added here, not in the request, so it is never recorded.
        extra: dict[str, Any] = {"api_key": self._api_key} if self._api_key else {}
        return {**extra, "max_retries": 0}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_completion(self._complete(request))

    def _open_stream(self, request: dict[str, Any]) -> Any:
        return self._complete(request)

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        for chunk in sdk_stream:
            yield delta_from_sdk_chunk(chunk)
        _check_stream_was_read(sdk_stream)

    # litellm.acompletion: the same request, replies and chunks.
    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_completion(await self._acomplete(request))

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        return await self._acomplete(request)

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        async for chunk in sdk_stream:
            yield delta_from_sdk_chunk(chunk)
        _check_stream_was_read(sdk_stream)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_error(exc)


def _check_stream_was_read(sdk_stream: Any) -> None:
    """litellm ends a stream whose body it could not parse (malformed or empty) with one chunk
    it made up itself (its own id, finish_reason "stop"), so the reply would look like an empty
    answer. Its stream wrapper still knows that no server chunk arrived: say so."""
    if getattr(sdk_stream, "chunks", None) == [] and not getattr(
        sdk_stream, "received_any_finish_reason", True
    ):
        raise ResponseFormatError(
            "malformed response: the stream carried no chunk litellm could parse"
        )


def _timeout(timeout: float | dict[str, float]) -> Any:
    if isinstance(timeout, dict):
        import httpx

        read = timeout.get("read", 600.0)
        return httpx.Timeout(read, connect=timeout.get("connect", min(read, 5.0)))
    return float(timeout)


# -- parsing (OpenAI-shaped objects) ----------------------------------------------------------
def _reasoning(obj: Any) -> str | None:
    return getattr(obj, "reasoning_content", None) or getattr(obj, "reasoning", None) or None


def _tokens(usage: Any) -> tuple[int, int] | None:
    if not usage:
        return None
    return (getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)


def response_from_completion(completion: Any) -> ModelResponse:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ResponseFormatError(f"the response has no choices: {str(completion)[:200]}")
    message = choices[0].message
    calls = [
        tool_call_block(c.id or f"call_{i}", c.function.name, c.function.arguments)
        for i, c in enumerate(getattr(message, "tool_calls", None) or [])
    ]
    response = ModelResponse(
        text=message.content or "",
        raw=sdk_dict(completion),
        tool_calls=calls or None,
        usage=Usage(*(_tokens(getattr(completion, "usage", None)) or (0, 0))),
        reasoning=_reasoning(message),
        finish_reason=choices[0].finish_reason,
    )
    response.request_id = getattr(completion, "id", None)
    response.sdk_response = completion
    return response


# -- errors -----------------------------------------------------------------------------------
def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def translate_error(exc: Exception) -> ProviderError | None:
    """litellm's exceptions as typed errors.

    litellm reports a malformed 200 body as InternalServerError and an error event inside a
    stream as APIConnectionError (wrapped in MidStreamFallbackError), so the causes decide.
    """
    import httpx
    import openai

    litellm = import_litellm()
    if not isinstance(exc, (openai.OpenAIError, litellm.exceptions.MidStreamFallbackError)):
        return None
    root = getattr(exc, "original_exception", None) or exc  # mid-stream: what really failed
    causes = list(_chain(root))
    message = getattr(root, "message", None) or str(root)
    if any(isinstance(c, json.JSONDecodeError) for c in causes):
        return ResponseFormatError(f"malformed response: {message}")
    if any(isinstance(c, (openai.APITimeoutError, httpx.TimeoutException)) for c in causes):
        return ProviderTimeoutError(f"request timed out: {message}")
    if isinstance(root, openai.APIConnectionError):
        in_stream = [
            c
            for c in causes[1:]
            if type(c) is openai.APIError or isinstance(c, litellm.exceptions.APIError)
        ]
        if in_stream:  # an error event inside a 200 stream, not a network failure
            return ProviderError(f"error reported by the server: {in_stream[0].message}")
    if any(isinstance(c, (openai.APIConnectionError, httpx.TransportError)) for c in causes):
        return ProviderConnectionError(f"connection error: {message}")
    status = getattr(root, "status_code", None)
    headers = getattr(root, "litellm_response_headers", None)
    if headers is None:
        response = getattr(root, "response", None)
        headers = getattr(response, "headers", None)
    request_id = getattr(root, "request_id", None) or (headers or {}).get("x-request-id")
    return error_for_status(status if isinstance(status, int) else None)(
        message,
        status=status if isinstance(status, int) else None,
        request_id=request_id,
        retry_after=parse_retry_after(headers),
        body=getattr(root, "body", None),
    )


__all__ = ["LiteLLMChatWrapper"]


@contextmanager
def _mcp_needed() -> Iterator[None]:
    """litellm imports ``mcp`` for any call with tools; say so instead of a bare ImportError."""
    try:
        yield
    except ImportError as exc:
        if "mcp" not in str(exc):
            raise
        raise MissingDependencyError(
            "mcp>=2.3",
            "litellm",
            hint=" (litellm needs it for calls with tools; mcp 2 requires PyJWT>=2.10, which the "
            "zhipuai SDK's pin excludes, so use an environment without the zhipuai extra)",
        ) from exc
