"""The ``ollama`` import, the wrappers' base (client, options, Retry-After), the translation
of SDK errors and the primed streams every streamed family uses."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from typing import Any

from ...errors import (
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ResponseFormatError,
    error_for_status,
)
from .._aio import PerLoop
from .._base import ModelWrapperBase, parse_retry_after, transport_error
from .._endpoint import one_spelling, popped
from .._http import guard_httpx_client

DEFAULT_TIMEOUT = 300.0  # seconds; the SDK would wait forever


_PROPERTIES: dict[str, Any] = {
    "base_url": {"type": ["string", "null"]},
    "host": {"type": ["string", "null"]},  # the SDK's (and 0.x's) name of base_url
    "options": {"type": ["object", "null"]},
    "keep_alive": {"type": ["string", "number", "null"]},
    "client_args": {"type": "object"},
    "api_key": {"type": ["string", "null"]},
}


_THINK = {"think": {"type": ["boolean", "string", "null"]}}


def import_ollama() -> Any:
    try:
        import ollama
    except ImportError as exc:
        raise MissingDependencyError("ollama", "ollama") from exc
    return ollama


class OllamaWrapperBase(ModelWrapperBase):
    """Builds the client, merges options and maps SDK errors."""

    provider = "ollama"
    api_key_env = "OLLAMA_API_KEY"  # optional: only hosted Ollama needs one
    config_schema = {"properties": _PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        base_url: str | None = None,
        host: str | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | float | None = "5m",
        client_args: dict[str, Any] | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        ollama = import_ollama()
        import httpx

        client_args = dict(client_args or {})
        host = one_spelling(
            config_name,
            "base_url",
            base_url,
            {"host": host, **popped(client_args, "client_args", "host")},
        )
        timeout = client_args.pop("timeout", DEFAULT_TIMEOUT)
        if isinstance(self.timeout, dict):
            read = self.timeout.get("read", DEFAULT_TIMEOUT)
            timeout = httpx.Timeout(read, connect=self.timeout.get("connect", min(read, 10.0)))
        elif self.timeout is not None:
            timeout = float(self.timeout)
        key = self._resolve_api_key(api_key, required=False)
        if key:  # explicit, so two configs with two keys work side by side
            headers = dict(client_args.pop("headers", None) or {})
            headers["authorization"] = f"Bearer {key}"
            client_args["headers"] = headers
        self.base_url = self.host = host
        self.options = dict(options or {})
        self.keep_alive = keep_alive
        # ResponseError drops the response headers; a hook keeps Retry-After for the retry.
        self._retry_after = threading.local()
        hooks = dict(client_args.pop("event_hooks", None) or {})
        hooks["response"] = [*hooks.get("response", []), self._remember_retry_after]
        self.client = ollama.Client(host=host, timeout=timeout, event_hooks=hooks, **client_args)
        # Deadlines, and no header of this config sent to another host by a redirect.
        guard_httpx_client(self.client._client, self.client._client.base_url)
        # The async client (one per event loop) gets only its own, async, Retry-After hook.
        ahooks = {"response": [_aremember_retry_after]}
        self._async_clients = PerLoop(
            lambda: _guarded(
                ollama.AsyncClient(host=host, timeout=timeout, event_hooks=ahooks, **client_args)
            ),
            lambda c: c.close(),
        )

    @property
    def aclient(self) -> Any:
        """The SDK's ``AsyncClient``, built on first async use (once per event loop)."""
        return self._async_clients.get()

    def _remember_retry_after(self, response: Any) -> None:
        self._retry_after.value = (
            parse_retry_after(response.headers) if response.status_code in (429, 503) else None
        )

    async def _asdk(self, call: Awaitable[Any]) -> Any:
        """Await an async SDK call; a ResponseError keeps the Retry-After its hook saw."""
        _async_retry_after.set(None)
        try:
            return await call
        except import_ollama().ResponseError as exc:
            exc.retry_after = _async_retry_after.get()  # type: ignore[attr-defined]
            raise

    def _merge(self, kwargs: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Request kwargs: options merged (config < call), option names moved into options."""
        options = {**self.options, **(kwargs.pop("options", None) or {})}
        names = import_ollama().Options.model_fields
        for name in [k for k in kwargs if k in names]:
            options[name] = kwargs.pop(name)
        keep_alive = kwargs.pop("keep_alive", self.keep_alive)
        request = {"model": self.model_name, **extra, **kwargs}
        if options:
            request["options"] = options
        if keep_alive is not None:
            request["keep_alive"] = keep_alive
        return request

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        error = translate_error(exc)
        if error is not None and error.status in (429, 503):
            error.retry_after = getattr(
                exc, "retry_after", getattr(self._retry_after, "value", None)
            )
        return error

    def _open_stream(self, request: dict[str, Any]) -> Any:
        return _PrimedStream(self._sdk_call(request))

    def _sdk_call(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError


def _guarded(client: Any) -> Any:
    guard_httpx_client(client._client, client._client.base_url)
    return client


_async_retry_after: ContextVar[float | None] = ContextVar("ollama_retry_after", default=None)


async def _aremember_retry_after(response: Any) -> None:
    # httpx awaits the hook in the calling task, so the value is seen by that call only.
    status = response.status_code
    _async_retry_after.set(parse_retry_after(response.headers) if status in (429, 503) else None)


def translate_error(exc: Exception) -> ProviderError | None:
    """Ollama SDK and transport exceptions as typed errors."""
    import ollama
    import pydantic

    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == -1:  # an {"error": ...} line inside a 200 stream
            return ProviderError(f"error reported by the server: {exc.error}")
        status = exc.status_code
        return error_for_status(status)(str(exc.error), status=status, body=exc.error)
    transport = transport_error(exc)
    if transport is not None:
        return transport
    if isinstance(exc, ConnectionError):  # the SDK's own "Failed to connect to Ollama"
        return ProviderConnectionError(f"connection error: {exc}")
    if isinstance(exc, json.JSONDecodeError):
        return ResponseFormatError(f"malformed response: {exc}")
    if isinstance(exc, pydantic.ValidationError) and exc.title.endswith("Response"):
        return ResponseFormatError(f"unexpected response shape: {exc}")
    return None


class _PrimedStream:
    """The SDK's lazy stream, advanced to its first part so HTTP errors raise at call time."""

    def __init__(self, parts: Iterator[Any]) -> None:
        self._parts = parts
        self._first: list[Any] = []
        try:
            self._first.append(next(parts))
        except StopIteration:
            pass

    def __iter__(self) -> Iterator[Any]:
        yield from self._first
        self._first = []
        yield from self._parts

    def close(self) -> None:
        close = getattr(self._parts, "close", None)
        if close is not None:
            close()


def _until_done(parts: Any) -> Iterator[Any]:
    """The stream's parts; one that ends without its ``done`` part was cut short."""
    for part in parts:
        yield part
        if part.done:
            return
    raise ResponseFormatError(_CUT_SHORT)


async def _auntil_done(parts: Any) -> AsyncIterator[Any]:
    """:func:`_until_done` for the async SDK."""
    async for part in parts:
        yield part
        if part.done:
            return
    raise ResponseFormatError(_CUT_SHORT)


_CUT_SHORT = "the stream ended before its final part (done: true)"


class _APrimedStream:
    """:class:`_PrimedStream` for the async SDK."""

    def __init__(self, parts: AsyncIterator[Any], first: list[Any]) -> None:
        self._parts, self._first = parts, first

    @classmethod
    async def start(cls, parts: AsyncIterator[Any]) -> _APrimedStream:
        try:
            first = await anext(parts, None)
        except BaseException:
            await cls(parts, []).aclose()
            raise
        return cls(parts, [first] if first is not None else [])

    async def __aiter__(self) -> AsyncIterator[Any]:
        first, self._first = self._first, []
        for part in first:
            yield part
        async for part in self._parts:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._parts, "aclose", None)
        if aclose is not None:
            await aclose()
