"""What the TTS providers share, beside the base classes: keys, retries, base64 audio.

* :func:`resolve_api_key`: the key given, else the first set environment variable (registered
  for scrubbing); a ConfigError naming the variables when there is none.
* :func:`with_retries`: opening a call (up to its first audio) retried for retryable typed
  errors (429 honouring Retry-After, 5xx, connection), with the model's ``max_retries``,
  ``retry_interval`` and ``max_retry_interval`` (the config fields of :data:`RETRY_PROPERTIES`);
  audio already delivered is never replayed.
* :func:`decode_b64`: strict base64 audio (ResponseFormatError when it is not).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._secrets import register_secret
from ..errors import ConfigError, ConfigIssue, ProviderError, ResponseFormatError
from ..models._base import COMMON_PROPERTIES
from ..models._retry import retry_delay as _retry_delay

if TYPE_CHECKING:
    from ._base import TTSModelBase

T = TypeVar("T")

#: The longest Retry-After honoured between two attempts (seconds); longer ones fail at once.
MAX_RETRY_WAIT = 60.0
#: The defaults of the retry settings (backoff ``retry_interval * 2**attempt``, capped).
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_INTERVAL = 0.5
DEFAULT_MAX_RETRY_INTERVAL = 8.0

#: The config fields of a provider that retries (the chat configs' own schemas).
RETRY_PROPERTIES: dict[str, Any] = {
    k: COMMON_PROPERTIES[k] for k in ("max_retries", "retry_interval", "max_retry_interval")
}


def resolve_api_key(
    owner: str, api_key: str | None, envs: tuple[str, ...], *, required: bool = True
) -> str | None:
    """The key given, else the first set variable of ``envs``; registered for scrubbing.
    ConfigError naming the variables when there is none and one is ``required``."""
    key = api_key or next((os.environ[n] for n in envs if os.environ.get(n)), None)
    if not key and required:
        names = " or ".join(envs)
        raise ConfigError(
            ConfigIssue(f"{owner}: no API key: pass `api_key` or set {names}", field="api_key")
        )
    register_secret(key)
    return key


def retry_delay(model: Any, err: ProviderError, attempt: int) -> float | None:
    """The chat wrappers' backoff rule (:func:`models._retry.retry_delay`) with ``model``'s
    settings, and Retry-After honoured up to MAX_RETRY_WAIT."""
    return _retry_delay(
        err,
        attempt,
        getattr(model, "max_retries", DEFAULT_MAX_RETRIES),
        getattr(model, "retry_interval", DEFAULT_RETRY_INTERVAL),
        getattr(model, "max_retry_interval", DEFAULT_MAX_RETRY_INTERVAL),
        MAX_RETRY_WAIT,
    )


async def with_retries(model: TTSModelBase, fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()``, retried as :func:`retry_delay` says. The error raised is typed
    (``model._typed``), with ``attempts`` set."""
    attempt = 0
    while True:
        try:
            return await fn()
        except Exception as exc:
            err = model._typed(exc)
            if not isinstance(err, ProviderError):
                raise
            err.attempts = attempt + 1
            wait = retry_delay(model, err, attempt)
            if wait is None:
                if err is exc:
                    raise
                raise err from exc
            await asyncio.sleep(wait)
            attempt += 1


def decode_b64(data: Any, what: str) -> bytes:
    """Strict base64 (ResponseFormatError, without the data, when it is not)."""
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ResponseFormatError(f"{what} is not valid base64 audio") from None


__all__ = [
    "MAX_RETRY_WAIT",
    "RETRY_PROPERTIES",
    "decode_b64",
    "resolve_api_key",
    "retry_delay",
    "with_retries",
]
