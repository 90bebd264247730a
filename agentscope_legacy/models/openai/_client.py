"""The ``openai`` import and the wrappers' base: one SDK client (and one async client per
event loop) per wrapper, SDK errors translated."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ...errors import (
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from .._aio import PerLoop
from .._base import ModelWrapperBase, parse_retry_after, transport_error
from .._endpoint import endpoint_and_key, popped
from .._http import guard_httpx_client

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "organization": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
    "client_args": {"type": "object"},
}


def import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError("openai", "openai") from exc
    return openai


def translate_error(exc: Exception) -> ProviderError | None:
    """Exceptions of the openai SDK (status, timeout, connection, in-stream errors, malformed
    JSON) and of its transport as typed errors; None when not known."""
    openai = import_openai()
    if isinstance(exc, openai.APIStatusError):
        cls = error_for_status(exc.status_code)
        return cls(
            getattr(exc, "message", str(exc)),
            status=exc.status_code,
            request_id=getattr(exc, "request_id", None),
            retry_after=parse_retry_after(exc.response.headers),
            body=exc.body,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeoutError(f"request timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ProviderConnectionError(f"connection error: {exc}{detail}")
    transport = transport_error(exc)  # openai 2.x lets httpx errors escape mid-stream
    if transport is not None:
        return transport
    if isinstance(exc, openai.APIError):  # an error event inside a 200 stream
        return ProviderError(f"error reported by the server: {exc.message}", body=exc.body)
    if isinstance(exc, ValueError):  # malformed JSON in a 200 response
        return ResponseFormatError(f"malformed response: {exc}")
    return None


class OpenAIWrapperBase(ModelWrapperBase):
    """Builds the shared SDK client and maps SDK errors.

    Presets for OpenAI-compatible providers (``openai_compatible.py``) only change the class
    attributes below: the config's ``base_url`` always wins over ``default_base_url``.
    """

    provider = "openai"
    api_key_env = "OPENAI_API_KEY"
    config_schema = {"properties": _CLIENT_PROPERTIES}
    #: The provider's public endpoint, used when the config gives no ``base_url``
    #: (``None``: the SDK's own default, api.openai.com).
    default_base_url: ClassVar[str | None] = None
    #: Environment variable consulted for the base URL before ``default_base_url``.
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    #: Whether the public endpoint needs a key; a custom ``base_url`` never requires one.
    api_key_required: ClassVar[bool] = True

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        base_url: str | None = None,
        client_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        openai = import_openai()
        client_args = dict(client_args or {})
        base_url, api_key = endpoint_and_key(
            config_name,
            base_url,
            api_key,
            urls=popped(client_args, "client_args", "base_url"),
            keys=popped(client_args, "client_args", "api_key"),
        )
        base_url = base_url or (os.environ.get(self.base_url_env) if self.base_url_env else None)
        # A custom server (vLLM, llama.cpp, a proxy) often needs no key; the public one does.
        required = self.api_key_required and not base_url
        base_url = base_url or self.default_base_url
        key = self._resolve_api_key(api_key, required=required)
        client_args.pop("max_retries", None)  # retries are the base class's job
        if self.timeout is not None:
            client_args["timeout"] = _sdk_timeout(openai, self.timeout)
        self.base_url = base_url
        self._client_kwargs = dict(
            api_key=key or "EMPTY", organization=organization, base_url=base_url, max_retries=0,
            **client_args,
        )  # fmt: skip
        self.client = openai.OpenAI(**self._client_kwargs)
        # Deadlines, and no header of this config sent to another host by a redirect.
        guard_httpx_client(self.client._client, self.client.base_url)
        self._async_clients = PerLoop(self._new_async_client, lambda c: c.close())

    def _new_async_client(self) -> Any:
        client = import_openai().AsyncOpenAI(**self._client_kwargs)
        guard_httpx_client(client._client, client.base_url)
        return client

    @property
    def aclient(self) -> Any:
        """The SDK's async client, built on first async use (once per wrapper and event loop)."""
        return self._async_clients.get()

    def __repr__(self) -> str:  # the client kwargs hold the key: never show them
        return super().__repr__()

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_error(exc)


def _sdk_timeout(openai: Any, timeout: float | dict[str, float]) -> Any:
    if isinstance(timeout, dict):
        read = timeout.get("read", 600.0)
        return openai.Timeout(read, connect=timeout.get("connect", min(read, 5.0)))
    return float(timeout)
