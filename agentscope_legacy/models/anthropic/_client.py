"""The ``anthropic`` SDK's import, client options and the translation of its errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import (
    BadRequestError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    error_for_status,
)
from .._base import parse_retry_after, transport_error
from .._http import guard_httpx_client


def import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise MissingDependencyError("anthropic", "anthropic") from exc
    return anthropic


@contextmanager
def _streaming_required(request: dict[str, Any]) -> Iterator[None]:
    """The SDK refuses, before sending anything, a non-streamed call whose max_tokens could
    take longer than 10 minutes (when no timeout is configured): say what to do instead."""
    try:
        yield
    except ValueError as exc:
        if "Streaming is required" not in str(exc):
            raise
        raise BadRequestError(
            f"max_tokens={request.get('max_tokens')} is too large for a non-streamed call: "
            "the anthropic SDK requires streaming for it. Use `stream: true`, a smaller "
            "max_tokens, or set `timeout` in the config"
        ) from exc


def _stream_request_id(sdk_stream: Any) -> str | None:
    response = getattr(sdk_stream, "response", None)
    return response.headers.get("request-id") if response is not None else None


def _guarded(client: Any) -> Any:
    guard_httpx_client(client._client, client.base_url)
    return client


def _sdk_timeout(anthropic: Any, timeout: float | dict[str, float]) -> Any:
    if isinstance(timeout, dict):
        read = timeout.get("read", 600.0)
        return anthropic.Timeout(read, connect=timeout.get("connect", min(read, 5.0)))
    return float(timeout)


def error_detail(body: Any, fallback: str) -> tuple[str, str]:
    """``(error.type, error.message)`` from an Anthropic error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error.get("type") or ""), str(error["message"])
    return "", fallback


def translate_error(exc: Exception) -> ProviderError | None:
    """Anthropic SDK and transport exceptions as typed errors."""
    anthropic = import_anthropic()
    if isinstance(exc, anthropic.APIStatusError):
        kind, message = error_detail(exc.body, exc.message)
        request_id = exc.request_id or exc.response.headers.get("request-id")
        if exc.status_code < 400:  # `event: error` inside a 200 stream
            return ProviderError(
                f"error reported inside the stream: {kind}: {message}",
                request_id=request_id,
                body=exc.body,
            )
        return error_for_status(exc.status_code)(
            f"{kind}: {message}" if kind else message,
            status=exc.status_code,
            request_id=request_id,
            retry_after=parse_retry_after(exc.response.headers),
            body=exc.body,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderTimeoutError(f"request timed out: {exc}")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ProviderConnectionError(f"connection error: {exc}{detail}")
    transport = transport_error(exc)  # e.g. a raw httpx2.RemoteProtocolError mid-stream
    if transport is not None:
        return transport
    if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
        return ResponseFormatError(f"malformed response: {exc}")
    return None
