"""Plain HTTP POST APIs through ``requests``: any server that takes JSON and answers JSON.

``post_api_chat`` sends ``{messages_key: messages, **json_args, **call kwargs}`` and reads an
OpenAI-shaped reply (or 0.x's ``{"data": {"response": ...}}`` envelope); with ``stream: true``
it sends ``"stream": true`` and reads OpenAI-style SSE. ``post_api_embedding`` reads
``data[].embedding``. One ``requests.Session`` per wrapper keeps connections alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from .._secrets import is_secret_key, register_secret
from ..errors import (
    ConfigError,
    ConfigIssue,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from ._base import ModelWrapperBase, parse_retry_after, wraps_urllib3_timeout
from ._endpoint import one_spelling
from ._format import (
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    openai_messages,
)
from ._http import guarded_session, iter_body
from ._openai_shape import delta_from_chunk, iter_sse_json, response_from_completion
from .openai import OPENAI_FORMAT_MODELS
from .response import Delta, ModelResponse, Usage

_URL = {"type": "string", "pattern": "^https?://"}
_POST_PROPERTIES = {
    "base_url": _URL,  # the URL POSTed to
    "api_url": _URL,  # 0.x's name of base_url
    "api_key": {"type": ["string", "null"]},  # sent as `Authorization: Bearer <key>`
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "json_args": {"type": "object"},
    "post_args": {"type": "object"},
    "messages_key": {"type": "string", "minLength": 1},
    "max_length": {"type": "integer", "minimum": 1},
}


class PostAPIModelWrapperBase(ModelWrapperBase):
    """POSTs JSON to ``api_url`` and maps HTTP failures to typed errors."""

    provider = "post_api"
    # base_url (or api_url) is required: checked when the wrapper is built, as a schema
    # without anyOf cannot say "one of the two".
    config_schema = {"properties": _POST_PROPERTIES}
    default_messages_key = "messages"

    def __init__(
        self,
        config_name: str,
        api_url: str | None = None,
        model_name: str | None = None,
        headers: dict[str, str] | None = None,
        json_args: dict[str, Any] | None = None,
        post_args: dict[str, Any] | None = None,
        messages_key: str | None = None,
        max_length: int = 2048,
        timeout: float | dict[str, float] | None = 30.0,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.json_args = dict(json_args or {})
        model_name = model_name or self.json_args.get("model") or self.json_args.get("model_name")
        super().__init__(config_name, model_name, timeout=timeout, **kwargs)
        url = one_spelling(config_name, "base_url", base_url, {"api_url": api_url})
        if not url:
            raise ConfigError(
                ConfigIssue(
                    "missing required field 'base_url' (the URL to POST to; 0.x: `api_url`)",
                    config_name=config_name,
                    field="base_url",
                )
            )
        self.base_url = self.api_url = url
        self.headers = dict(headers or {})
        if api_key:
            self._add_bearer(api_key)
        for key, value in self.headers.items():
            if is_secret_key(key):
                register_secret(value)
                self.api_key_source = f"the config field `headers.{key}`"
        self.post_args = dict(post_args or {})
        self.messages_key = messages_key or self.default_messages_key
        self.max_length = max_length
        # requests is imported here, not at import: loading configs should not pay for it.
        # The session holds each call to its deadline and keys to api_url's host (_http.py).
        self.session = guarded_session()

    def _add_bearer(self, api_key: str) -> None:
        # An Authorization header of the config must say the same, or the config is ambiguous.
        name = next((k for k in self.headers if k.lower() == "authorization"), "Authorization")
        bearer = f"Bearer {api_key}"
        one_spelling(
            self.config_name, "api_key", bearer, {f"headers.{name}": self.headers.get(name)},
            secret=True,
        )  # fmt: skip
        register_secret(api_key)
        self.headers[name] = bearer
        self.api_key_source = "the config field `api_key`"

    def _post(self, payload: dict[str, Any], stream: bool = False) -> requests.Response:
        timeout = self.timeout
        if isinstance(timeout, dict):
            timeout = (timeout.get("connect"), timeout.get("read"))
        reply = self.session.post(
            self.api_url,
            json=payload,
            headers=self.headers,
            timeout=timeout,
            stream=stream,
            **self.post_args,
        )
        if reply.status_code >= 400:
            body = reply.text[:2000]
            reply.close()
            raise error_for_status(reply.status_code)(
                f"HTTP {reply.status_code} from {self.api_url}: {body[:300]}",
                status=reply.status_code,
                retry_after=parse_retry_after(reply.headers),
                request_id=reply.headers.get("x-request-id"),
                body=body,
            )
        return reply

    def _json(self, reply: requests.Response) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise ResponseFormatError(
                f"the server answered {reply.status_code} with a body that is not JSON: "
                f"{reply.text[:200]!r}",
                status=reply.status_code,
            ) from None

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        import requests

        if isinstance(exc, requests.Timeout) or wraps_urllib3_timeout(exc):
            return ProviderTimeoutError(f"request to {self.api_url} timed out: {exc}")
        if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            return ProviderConnectionError(f"connection to {self.api_url} failed: {exc}")
        return None


class PostAPIChatWrapper(PostAPIModelWrapperBase):
    """``post_api_chat``: chat through any OpenAI-compatible or 0.x-style POST endpoint."""

    model_type = "post_api_chat"
    legacy_arg_names = {"input_": "messages"}  # 0.x: model(input_=...)
    can_stream = True

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if OPENAI_FORMAT_MODELS.fullmatch(self.model_name):
            return openai_messages(msgs)
        if multi_agent_mode is False:
            return common_chat_messages(msgs)
        return common_multi_agent_messages(msgs)

    def _build_request(self, messages: Any, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        payload = {self.messages_key: messages, **self.json_args, **kwargs}
        if stream:
            payload["stream"] = True
        return payload

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        reply = self._post(request)
        response = response_from_completion(self._json(reply))
        response.request_id = reply.headers.get("x-request-id")
        return response

    def _open_stream(self, request: dict[str, Any]) -> requests.Response:
        return self._post(request, stream=True)

    def _iter_deltas(self, sdk_stream: requests.Response) -> Iterator[Delta]:
        content_type = sdk_stream.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            # The server ignored "stream": one JSON reply becomes a one-delta stream.
            response = response_from_completion(self._json(sdk_stream))
            usage = response.usage or Usage()
            calls = [
                {"index": i, "id": c["id"], "name": c["name"], "input": c["input"]}
                for i, c in enumerate(response.tool_calls or [])
            ]
            yield Delta(
                response.text or "",
                response.reasoning or "",
                calls or None,
                (usage.prompt_tokens, usage.completion_tokens),
                response.finish_reason,
            )
            return
        # Blocks as they arrive: ``iter_content`` would wait for the end of a body that is not
        # chunked (an SSE stream the server ends by closing the connection).
        for chunk in iter_sse_json(iter_body(sdk_stream.raw)):
            yield delta_from_chunk(chunk)


class PostAPIEmbeddingWrapper(PostAPIModelWrapperBase):
    """``post_api_embedding``: ``{input: texts, **json_args}`` → ``data[].embedding``."""

    model_type = "post_api_embedding"
    legacy_arg_names = {"input_": "texts"}
    default_messages_key = "input"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return {self.messages_key: texts, **self.json_args, **kwargs}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        data = self._json(self._post(request))
        if isinstance(data, dict) and "data" in data and isinstance(data["data"], dict):
            data = data["data"].get("response", data["data"])  # 0.x envelope
        try:
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            vectors = [item["embedding"] for item in items]
            usage = data.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens") or 0
        except (KeyError, TypeError, AttributeError):
            raise ResponseFormatError(
                "expected an OpenAI-shaped embedding reply with data[].embedding, "
                f"got {str(data)[:200]}"
            ) from None
        return ModelResponse(embedding=vectors, raw=data, usage=Usage(prompt_tokens, 0))
