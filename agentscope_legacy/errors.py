"""The typed errors of agentscope_legacy.

::

    AgentScopeError
    ├── ConfigError                 a model config (or experiment file) is invalid; also a
    │                               ValueError, as 0.x raised
    ├── MissingDependencyError      an optional provider SDK is not installed (also an ImportError)
    ├── ProviderError               a provider call failed (provider, model, status, request_id);
    │   │                           also a RuntimeError, as 0.x raised
    │   ├── AuthenticationError     401/403: never retried
    │   ├── BadRequestError         other 4xx (404 model not found, 400 invalid request, ...)
    │   ├── RateLimitError          429: retried, honouring Retry-After
    │   ├── ServerError             5xx: retried
    │   ├── ProviderConnectionError connection refused/reset, stream dropped midway: retried
    │   │   └── ProviderTimeoutError
    │   ├── AllEndpointsFailedError every endpoint of a pool failed (each one's last error)
    │   └── ResponseFormatError     the provider answered something that cannot be parsed
    ├── StreamConsumedError         reserved for streams that cannot be replayed
    ├── ResponseParsingError        a user-supplied parse function rejected a reply
    └── QuotaExceededError          a configured budget would be exceeded

Every message passes through :func:`agentscope_legacy._secrets.scrub`, so a known API key can
never leak through an exception text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._secrets import scrub


class AgentScopeError(Exception):
    """Base class of every error raised by agentscope_legacy."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in one config: where it is and what was expected."""

    message: str
    file: str | None = None
    line: int | None = None
    config_name: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        who = f"config '{self.config_name}'" if self.config_name else "config"
        field = f", field '{self.field}'" if self.field else ""
        return f"{where}{who}{field}: {self.message}"


class ConfigError(AgentScopeError, ValueError):
    """Invalid configuration; ``issues`` lists every problem found, each with its location.

    It subclasses ``ValueError`` because 0.x raised ``ValueError`` for bad configs.
    """

    def __init__(self, issues: ConfigIssue | list[ConfigIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(issues)]
        elif isinstance(issues, ConfigIssue):
            issues = [issues]
        self.issues: list[ConfigIssue] = list(issues)
        first = self.issues[0] if self.issues else ConfigIssue("invalid config")
        self.file, self.line = first.file, first.line
        self.config_name, self.field = first.config_name, first.field
        text = "\n".join(str(i) for i in self.issues)
        if len(self.issues) > 1:
            text = f"{len(self.issues)} problems:\n{text}"
        super().__init__(text)


class MissingDependencyError(AgentScopeError, ImportError):
    """A provider SDK is missing; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str, hint: str = "") -> None:
        self.package, self.extra = package, extra
        super().__init__(
            f"the '{package}' package is required here; install it with "
            f'`pip install "agentscope-legacy[{extra}]"`{hint}'
        )


class ProviderError(AgentScopeError, RuntimeError):
    """A call to a provider failed.

    It subclasses ``RuntimeError`` because 0.x raised ``RuntimeError`` for failed API calls,
    so an old ``except RuntimeError:`` still catches it.

    Attributes:
        provider: e.g. ``"openai"``.
        model: the model name that was called.
        status: HTTP status code when there was one.
        request_id: the provider's request id when it sent one.
        config_name: the config the wrapper was built from.
        retry_after: seconds the provider asked us to wait (429/503), if it said.
        partial_text: for a stream that failed midway, the text received before the failure.
        attempts: how many attempts were made before giving up.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        config_name: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        self.message = message = cap_text(message)
        self.provider, self.model, self.status = provider, model, status
        self.request_id, self.config_name = request_id, config_name
        self.retry_after = retry_after
        self.body = cap_text(body)
        self.partial_text: str | None = None
        self.attempts = 1
        super().__init__(message)

    def __str__(self) -> str:
        parts = [
            f"provider={self.provider}" if self.provider else None,
            f"config={self.config_name}" if self.config_name else None,
            f"model={self.model}" if self.model else None,
            f"status={self.status}" if self.status is not None else None,
            f"request_id={self.request_id}" if self.request_id else None,
            f"attempts={self.attempts}" if self.attempts > 1 else None,
        ]
        context = ", ".join(p for p in parts if p)
        text = super().__str__()
        return scrub(f"{text} ({context})" if context else text)


#: What an error keeps of a server's text (its message and body): a server may answer 100 MB.
MAX_ERROR_TEXT = 64 * 1024


def cap_text(value: Any) -> Any:
    """``value`` (a str or bytes, or a parsed JSON body) cut to MAX_ERROR_TEXT characters;
    a parsed body larger than that is kept as the start of its JSON text."""
    text = value
    if isinstance(value, (dict, list)):
        import json

        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return value
    if not isinstance(text, (str, bytes)) or len(text) <= MAX_ERROR_TEXT:
        return value
    more = f"... [{len(text) - MAX_ERROR_TEXT:,} more characters not kept]"
    return text[:MAX_ERROR_TEXT] + (more.encode() if isinstance(text, bytes) else more)


class AuthenticationError(ProviderError):
    """401/403: the key is missing, wrong or lacks permission."""


class BadRequestError(ProviderError):
    """A 4xx other than auth and rate limits: retrying the same request cannot help."""


class RateLimitError(ProviderError):
    """429: retried with backoff, honouring Retry-After."""

    retryable = True


class ServerError(ProviderError):
    """5xx from the provider."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The connection failed or was dropped."""

    retryable = True


class ProviderTimeoutError(ProviderConnectionError):
    """The provider did not answer in time."""


class AllEndpointsFailedError(ProviderError):
    """Every endpoint of an endpoint pool failed. ``errors`` maps each endpoint (its base_url,
    credentials masked) to its last error; retried by the retry policy when all of those are
    retryable. ``status`` is theirs when they all had the same one."""

    def __init__(self, errors: dict[str, ProviderError]) -> None:
        self.errors = dict(errors)
        listed = "; ".join(
            f"{label}: {type(err).__name__}: {cap_text(str(err))[:300]}"
            for label, err in self.errors.items()
        )
        statuses = {err.status for err in self.errors.values()}
        waits = [err.retry_after for err in self.errors.values()]
        super().__init__(
            f"all {len(self.errors)} endpoints failed: {listed}",
            status=statuses.pop() if len(statuses) == 1 else None,
            retry_after=min(waits) if waits and None not in waits else None,  # type: ignore[type-var]
        )
        self.retryable = bool(self.errors) and all(e.retryable for e in self.errors.values())


class ResponseFormatError(ProviderError):
    """The provider's answer could not be parsed (malformed JSON, unexpected shape)."""


class StreamConsumedError(AgentScopeError):
    """A stream was asked for again after its source was released."""


class ResponseParsingError(AgentScopeError):
    """A parse function rejected the model's reply."""

    def __init__(self, message: str, raw_response: Any = None) -> None:
        self.raw_response = raw_response
        super().__init__(message)


class QuotaExceededError(AgentScopeError):
    """A configured budget would be exceeded by the next call.

    Attributes: ``config_name`` (the config whose call was refused), ``scope`` (``"config"``
    or ``"run"``), ``limit`` (``max_calls``, ``max_tokens`` or ``max_cost``), ``maximum`` and
    ``used``.
    """

    config_name: str | None = None
    scope: str | None = None
    limit: str | None = None
    maximum: float | None = None
    used: float | None = None


def error_for_status(status: int | None) -> type[ProviderError]:
    """The most specific ProviderError class for an HTTP status code."""
    if status is None:
        return ProviderError
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimitError
    if status in (408,):
        return ProviderTimeoutError
    if status >= 500:
        return ServerError
    if status >= 400:
        return BadRequestError
    return ProviderError


__all__ = [
    "AgentScopeError",
    "AllEndpointsFailedError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "ConfigIssue",
    "MissingDependencyError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseFormatError",
    "ResponseParsingError",
    "ServerError",
    "StreamConsumedError",
    "error_for_status",
]
