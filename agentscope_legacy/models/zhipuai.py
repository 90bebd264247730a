"""ZhipuAI (GLM) through the official ``zhipuai`` SDK: chat and embeddings.

One ``ZhipuAI`` client per wrapper with ``max_retries=0`` (the SDK's default is 3 retries that
ignore Retry-After; the base class retries instead, honouring it). The key is sent as given
(``Authorization: Bearer <key>``); ``client_args: {disable_token_cache: false}`` makes the SDK
sign a short-lived JWT locally instead.

SDK quirks worth knowing (observed with zhipuai 2.1.5):

* every chat request carries ``"response_format": null`` and ``"thinking": null`` unless set;
* ``temperature <= 0`` is rewritten to ``0.01`` with ``do_sample: false``, ``temperature >= 1``
  to ``0.99``, and ``top_p`` is clamped into ``[0.01, 0.99]``, before anything is sent;
* request kwargs that ``create()`` does not name are sent as top-level JSON via ``extra_body``.

``format()`` is text only (the common 0.x formats): images are not sent, also for GLM vision
models; build the ``image_url`` message parts yourself for those.

The SDK has no async client, so ``acall`` runs the sync calls in a worker thread (the base
class's default async hooks).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from typing import Any

from ..errors import (
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from ._base import ModelWrapperBase, parse_retry_after, transport_error
from ._endpoint import endpoint_and_key, popped
from ._format import (
    check_messages,
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    normalize_tools,
    tool_choice_to_openai,
)
from ._http import guard_httpx_client
from ._openai_shape import delta_from_sdk_chunk
from .response import Delta, ModelResponse, Usage, sdk_dict, tool_call_block

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
    "client_args": {"type": "object"},
}


def import_zhipuai() -> Any:
    try:
        import zhipuai
    except ImportError as exc:
        raise MissingDependencyError("zhipuai", "zhipuai") from exc
    return zhipuai


class ZhipuAIWrapperBase(ModelWrapperBase):
    """Builds the shared SDK client and maps SDK errors."""

    provider = "zhipuai"
    api_key_env = "ZHIPUAI_API_KEY"
    config_schema = {"properties": _CLIENT_PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        client_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        zhipuai = import_zhipuai()
        args = dict(client_args or {})
        base_url, api_key = endpoint_and_key(  # base_url None: ZHIPUAI_BASE_URL or the API
            config_name,
            base_url,
            api_key,
            urls=popped(args, "client_args", "base_url"),
            keys=popped(args, "client_args", "api_key"),
        )
        key = self._resolve_api_key(api_key)
        args.pop("max_retries", None)  # retries are the base class's job
        if self.timeout is not None:
            args["timeout"] = _sdk_timeout(self.timeout)
        self.base_url = base_url
        self.client = zhipuai.ZhipuAI(api_key=key, base_url=base_url, max_retries=0, **args)
        # Deadlines, and no header of this config sent to another host by a redirect.
        guard_httpx_client(self.client._client, self.client._base_url)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        errors = import_zhipuai()
        if isinstance(exc, errors.APIStatusError):
            status = exc.status_code
            body = _json_body(exc.response)
            return error_for_status(status)(
                _error_message(body, str(exc)),
                status=status,
                request_id=_request_id(body),
                retry_after=parse_retry_after(exc.response.headers),
                body=body,
            )
        if isinstance(exc, errors.APITimeoutError):
            return ProviderTimeoutError(f"request timed out: {exc}")
        if isinstance(exc, errors.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({type(cause).__name__}: {cause})" if cause else ""
            return ProviderConnectionError(f"connection error: {exc}{detail}")
        if isinstance(exc, errors.APIResponseValidationError):
            return ResponseFormatError(f"malformed response: {exc}", status=exc.status_code)
        if isinstance(exc, errors.APIResponseError):  # an error event inside a 200 stream
            body = exc.json_data
            return ProviderError(
                f"error reported inside the stream: {_error_message({'error': body}, exc.message)}",
                body=body,
            )
        transport = transport_error(exc)  # a raw httpx.RemoteProtocolError when the stream drops
        if transport is not None:
            return transport
        if isinstance(exc, ValueError):  # malformed JSON in a 200 response
            return ResponseFormatError(f"malformed response: {exc}")
        return None


def _sdk_timeout(timeout: float | dict[str, float]) -> Any:
    if isinstance(timeout, dict):
        import httpx  # the SDK's transport

        read = timeout.get("read", 300.0)
        return httpx.Timeout(read, connect=timeout.get("connect", min(read, 5.0)))
    return float(timeout)


def _json_body(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return getattr(response, "text", None)


def _error_message(body: Any, fallback: str) -> str:
    """``"<message> (code <code>)"`` from Zhipu's ``{"error": {"code", "message"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        code = error.get("code")
        return f"{error['message']} (code {code})" if code else str(error["message"])
    return fallback


def _request_id(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("request_id") or (body.get("error") or {}).get("request_id")
        return str(value) if value else None
    return None


def _split_kwargs(known: frozenset[str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Request kwargs the SDK names stay; the others go top-level through ``extra_body``."""
    request: dict[str, Any] = {}
    extra: dict[str, Any] = dict(kwargs.pop("extra_body", None) or {})
    for key, value in kwargs.items():
        (request if key in known else extra)[key] = value
    if extra:
        request["extra_body"] = extra
    return request


def _known_params(method: Any) -> frozenset[str]:
    return frozenset(inspect.signature(method).parameters) - {"kwargs"}


class ZhipuAIChatWrapper(ZhipuAIWrapperBase):
    """``zhipuai_chat``: GLM chat completions, streamed or not, with tools and thinking."""

    model_type = "zhipuai_chat"
    can_stream = True
    config_schema = {
        "properties": {
            **_CLIENT_PROPERTIES,
            "thinking": {"type": ["object", "null"], "required": ["type"]},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        thinking: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.thinking = dict(thinking) if thinking else None
        self._known = _known_params(self.client.chat.completions.create)

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
        request = _split_kwargs(self._known, kwargs)
        request["model"] = self.model_name
        request["messages"] = messages
        if self.thinking and "thinking" not in request:
            request["thinking"] = self.thinking
        if tools:
            request["tools"] = normalize_tools(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice_to_openai(tool_choice)
        if stream:
            request["stream"] = True
        return request

    def _create(self, request: dict[str, Any]) -> Any:
        # The SDK rewrites image parts of the messages in place: give it a copy.
        return self.client.chat.completions.create(**copy.deepcopy(request))

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return response_from_completion(self._create(request))

    def _open_stream(self, request: dict[str, Any]) -> Any:
        return self._create(request)

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        try:
            for chunk in sdk_stream:
                yield delta_from_sdk_chunk(chunk)
        finally:  # the SDK's stream object has no close(); release the connection here
            response = getattr(sdk_stream, "response", None)
            if response is not None:
                response.close()


def response_from_completion(completion: Any) -> ModelResponse:
    if not getattr(completion, "choices", None):
        raise ResponseFormatError(f"the response has no choices: {str(completion)[:200]}")
    choice = completion.choices[0]
    message = choice.message
    calls = [
        tool_call_block(c.id, c.function.name, c.function.arguments)
        for c in (message.tool_calls or [])
        if getattr(c, "function", None) is not None
    ]
    usage = getattr(completion, "usage", None)
    response = ModelResponse(
        text=message.content or "",
        raw=sdk_dict(completion),
        tool_calls=calls or None,
        usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage(),
        reasoning=getattr(message, "reasoning_content", None) or None,
        finish_reason=choice.finish_reason,
    )
    response.request_id = getattr(completion, "request_id", None) or getattr(completion, "id", None)
    response.sdk_response = completion
    return response


class ZhipuAIEmbeddingWrapper(ZhipuAIWrapperBase):
    """``zhipuai_embedding``: one vector per input, for a str or a list input."""

    model_type = "zhipuai_embedding"

    def __init__(self, config_name: str, model_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self._known = _known_params(self.client.embeddings.create)

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        request = _split_kwargs(self._known, kwargs)  # 0.x dropped these; they are sent
        request["input"] = texts
        request["model"] = self.model_name
        return request

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.embeddings.create(**request)
        data = getattr(result, "data", None)
        if data is None:
            raise ResponseFormatError(f"the embedding response has no data: {str(result)[:200]}")
        vectors = [item.embedding for item in sorted(data, key=lambda d: d.index or 0)]
        tokens = result.usage.prompt_tokens if getattr(result, "usage", None) else 0
        usage = Usage(tokens or 0, 0)
        response = ModelResponse(embedding=vectors, raw=sdk_dict(result), usage=usage)
        response.sdk_response = result
        return response


__all__ = ["ZhipuAIChatWrapper", "ZhipuAIEmbeddingWrapper"]
