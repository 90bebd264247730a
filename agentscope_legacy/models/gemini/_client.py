"""The ``google-genai`` import, the wrappers' base (one ``genai.Client`` each) and the
translation of SDK errors."""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import (
    ConfigError,
    ConfigIssue,
    MissingDependencyError,
    ProviderError,
    ResponseFormatError,
    error_for_status,
)
from .._aio import aiohttp_error
from .._base import ModelWrapperBase, parse_retry_after, transport_error
from .._endpoint import endpoint_and_key, popped
from .._http import guard_httpx_client

_CLIENT_PROPERTIES = {
    "api_key": {"type": ["string", "null"]},
    "base_url": {"type": ["string", "null"]},
    "api_version": {"type": ["string", "null"]},
    "client_args": {"type": "object"},
}


_CLIENT_KWARGS = ("enterprise", "vertexai", "credentials", "project", "location", "debug_config")


def import_genai() -> Any:
    try:
        from google import genai
        from google.genai import errors, types  # noqa: F401  (loads the submodules)
    except ImportError as exc:
        raise MissingDependencyError("google-genai", "gemini") from exc
    return genai


def translate_error(exc: Exception) -> ProviderError | None:
    """Exceptions of the google-genai SDK (APIError with Retry-After or RetryInfo, malformed
    replies) and of its transports as typed errors; None when not known."""
    errors = import_genai().errors
    if isinstance(exc, errors.APIError):
        code = exc.code if isinstance(exc.code, int) else None
        headers = getattr(getattr(exc, "response", None), "headers", None)
        headers = {str(k).lower(): v for k, v in dict(headers or {}).items()}
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = _retry_info(exc.details)
        text = exc.message or str(exc)
        return error_for_status(code)(
            f"{exc.status}: {text}" if exc.status else text,
            status=code,
            retry_after=retry_after,
            body=exc.details,
        )
    if isinstance(exc, (json.JSONDecodeError, errors.UnknownApiResponseError)):
        return ResponseFormatError(f"malformed response: {exc}")
    # The SDK's transports (httpx2; aiohttp for async) raise their own errors.
    return transport_error(exc) or aiohttp_error(exc)


class GeminiWrapperBase(ModelWrapperBase):
    """Builds the wrapper's own ``genai.Client`` and maps SDK errors."""

    provider = "gemini"
    api_key_env = "GEMINI_API_KEY"  # GOOGLE_API_KEY is accepted too
    config_schema = {"properties": _CLIENT_PROPERTIES}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        client_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        genai = import_genai()
        options = dict(client_args or {})
        # genai.Client's own spelling, client_args: {http_options: {...}}, is accepted too.
        nested = dict(options.pop("http_options", None) or {})
        base_url, api_key = endpoint_and_key(
            config_name,
            base_url,
            api_key,
            urls={
                **popped(options, "client_args", "base_url"),
                **popped(nested, "client_args.http_options", "base_url"),
            },
            keys=popped(options, "client_args", "api_key"),
        )
        options = {**nested, **options}
        client_kwargs = {k: options.pop(k) for k in _CLIENT_KWARGS if k in options}
        # Retries are the base class's job: one attempt, and no implicit aiohttp reconnect.
        options["retry_options"] = genai.types.HttpRetryOptions(attempts=1)
        unknown = set(options) - set(genai.types.HttpOptions.model_fields)
        if unknown:
            raise ConfigError(
                ConfigIssue(
                    f"unknown client_args: {', '.join(sorted(unknown))} (HttpOptions fields "
                    f"or {', '.join(_CLIENT_KWARGS)} are accepted)",
                    config_name=config_name,
                    field="client_args",
                )
            )
        if base_url:
            options["base_url"] = base_url
        if api_version:
            options["api_version"] = api_version
        if self.timeout is not None:
            options["timeout"] = _timeout_ms(self.timeout)
        vertex = client_kwargs.get("vertexai") or client_kwargs.get("enterprise")
        key = self._resolve_api_key(
            api_key,
            required=not (vertex or options.get("base_url")),
            envs=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        )
        if "vertexai" not in client_kwargs and "enterprise" not in client_kwargs:
            client_kwargs["vertexai"] = False  # never switched on by GOOGLE_GENAI_USE_VERTEXAI
        self.base_url = options.get("base_url")
        self.client = genai.Client(
            api_key=key or (None if vertex else "no-key"),
            http_options=genai.types.HttpOptions(**options),
            **client_kwargs,
        )
        # Sync calls: deadlines, and no header sent to another host by a redirect (async calls
        # are held to their deadline by cancellation, in the base class).
        api = self.client._api_client
        if hasattr(getattr(api, "_httpx_client", None), "event_hooks"):
            guard_httpx_client(api._httpx_client, api._http_options.base_url)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_error(exc)


def _timeout_ms(timeout: float | dict[str, float]) -> int:
    # HttpOptions has one timeout (milliseconds) applied to every phase of a request.
    if isinstance(timeout, dict):
        timeout = timeout.get("read") or timeout.get("connect") or 600.0
    return max(1, round(float(timeout) * 1000))


def _retry_info(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` entry (``"retryDelay": "17s"``) of an error."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay):
            return float(delay[:-1])
    return None
