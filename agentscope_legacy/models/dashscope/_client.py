"""The DashScope SDK and its errors: one import, typed errors from its responses, and the
base of every DashScope wrapper (transport settings, error translation)."""

from __future__ import annotations

import json
from typing import Any

from ...errors import (
    AuthenticationError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    error_for_status,
)
from .._aio import aiohttp_error
from .._base import ModelWrapperBase, parse_retry_after, wraps_urllib3_timeout
from .._endpoint import one_spelling
from .._http import guarded_session

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
    # The SDK's names of base_url (its module global; its per-call argument).
    "base_http_api_url": {"type": ["string", "null"]},
    "base_address": {"type": ["string", "null"]},
}


def import_dashscope() -> Any:
    try:
        import dashscope
    except ImportError as exc:
        raise MissingDependencyError("dashscope", "dashscope") from exc
    return dashscope


# -- errors -----------------------------------------------------------------------------------
def _error_class(status: int | None, code: str | None) -> type[ProviderError]:
    # In-stream errors carry the SDK's default status 400; the code says more.
    code = code or ""
    if code == "InvalidApiKey":
        return AuthenticationError
    if code.startswith("Throttling"):
        return RateLimitError
    if code.startswith(("InternalError", "ServiceUnavailable")):
        return ServerError
    return error_for_status(status)


def error_from_response(rsp: Any) -> ProviderError:
    """The typed error for a legacy-API response whose ``status_code`` is not 200."""
    headers = {str(k).lower(): v for k, v in (rsp.get("headers") or {}).items()}
    status, code, message = rsp.get("status_code"), rsp.get("code"), rsp.get("message")
    request_id = rsp.get("request_id") or None
    if code == "Unknown" and status == 400 and "event-stream" in headers.get("content-type", ""):
        # The SDK reports a `data:` line it cannot parse this way, and carries on.
        return ResponseFormatError(
            f"malformed event in the stream: {str(message)[:200]!r}", request_id=request_id
        )
    return _error_class(status, code)(
        f"{code or 'error'}: {message}" if message else str(code or f"HTTP {status}"),
        status=status,
        request_id=request_id,
        retry_after=parse_retry_after(headers),
        body={"code": code, "message": message},
    )


def _checked(rsp: Any) -> Any:
    if rsp.get("status_code") != 200:
        raise error_from_response(rsp)
    return rsp


# -- responses --------------------------------------------------------------------------------


def translate_error(exc: Exception) -> ProviderError | None:
    """Transport exceptions of the dashscope SDK (requests; aiohttp for async calls) and
    malformed JSON as typed errors; None when not known (HTTP statuses come back as
    responses: see :func:`error_from_response`)."""
    import requests

    errors = requests.exceptions
    if isinstance(exc, errors.Timeout) or wraps_urllib3_timeout(exc):
        return ProviderTimeoutError(f"request timed out: {exc}")
    if isinstance(exc, (errors.ConnectionError, errors.ChunkedEncodingError)):
        return ProviderConnectionError(f"connection error: {type(exc).__name__}: {exc}")
    transport = aiohttp_error(exc)  # the async SDK's transport
    if transport is not None:
        return transport
    if isinstance(exc, (errors.JSONDecodeError, json.JSONDecodeError)):
        return ResponseFormatError(f"malformed response: {exc}")
    return None


class DashScopeWrapperBase(ModelWrapperBase):
    """Resolves the key, keeps one HTTP session and maps SDK exceptions."""

    provider = "dashscope"
    api_key_env = "DASHSCOPE_API_KEY"
    config_schema = {"properties": _CLIENT_PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        base_http_api_url: str | None = None,
        base_address: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.sdk = import_dashscope()
        self._api_key = self._resolve_api_key(api_key)
        self.base_url = one_spelling(
            config_name,
            "base_url",
            base_url,
            {"base_http_api_url": base_http_api_url, "base_address": base_address},
        )
        # Deadlines, and no header of this config sent to another host by a redirect.
        self._session = guarded_session()

    def _transport(self) -> dict[str, Any]:
        """Per-call SDK arguments that select the account, the server and the session."""
        args: dict[str, Any] = {"api_key": self._api_key, "session": self._session}
        if self.base_url:
            args["base_address"] = self.base_url
        if isinstance(self.timeout, dict):
            read = self.timeout.get("read", 300.0)
            args["request_timeout"] = (self.timeout.get("connect", min(read, 5.0)), read)
        elif self.timeout is not None:
            args["request_timeout"] = float(self.timeout)
        return args

    def _atransport(self, session: Any) -> dict[str, Any]:
        """:meth:`_transport` for the async SDK: an aiohttp session, one timeout value."""
        args = {**self._transport(), "session": session}
        if isinstance(self.timeout, dict):  # aiohttp: total (non-stream) or sock_read (stream)
            args["request_timeout"] = self.timeout.get("read", 300.0)
        return args

    @staticmethod
    def _aio_session() -> Any:
        """A fresh aiohttp session for one async call (aiohttp sessions are loop-bound; this
        one is closed when its call or stream ends). ``trust_env`` as ``requests`` does."""
        import aiohttp

        return aiohttp.ClientSession(trust_env=True)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_error(exc)
