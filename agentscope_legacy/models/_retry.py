"""Retries and deadlines, for :class:`~._base.ModelWrapperBase` (which mixes them in).

The :class:`Deadline` of one call (kept in a context variable while its requests are sent, for
the HTTP clients' hooks in ``_http.py``), the sync and async retry loops with exponential
backoff honouring Retry-After, the guarded streams that hold a stream to its deadline and
always release it; and the helpers provider modules use when translating errors
(``parse_retry_after``, ``transport_error``, ``wraps_urllib3_timeout``).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from ..errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
)
from .response import Delta

T = TypeVar("T")

#: What bounds a call when the config says nothing (``deadline``, seconds; see
#: docs/reliability.md, "Deadlines"): a non-streamed call ends within ``total`` (retries and
#: their waits included); a stream fails when no event came for ``stream_idle`` (the first one
#: included), and has no total limit unless ``stream_total`` is set.
DEFAULT_DEADLINE: dict[str, float | None] = {
    "total": 600.0,
    "stream_idle": 300.0,
    "stream_total": None,
}


# A Retry-After longer than this is not waited for: the error is raised instead.
MAX_RETRY_AFTER = 120.0


# A stream that ends before its first event (e.g. an empty 200 body) is not an empty reply.
_EMPTY_STREAM = "the stream ended before any event arrived (empty response body?)"


_END = object()


class Deadline:
    """When one call must be over: ``end`` (monotonic seconds; ``inf``: no total limit) and,
    for a stream, ``idle`` seconds after ``last`` (the start of the attempt, then each delta).

    Set in a context variable while the call's requests are sent, so that the HTTP clients'
    hooks (``_http.py``) cap every socket read at the time left and check it between reads.
    """

    __slots__ = ("end", "idle", "last", "total", "stream")

    def __init__(self, total: float | None, idle: float | None, stream: bool) -> None:
        now = time.monotonic()
        self.total, self.stream, self.last = total, stream, now
        self.end = now + total if total is not None else math.inf
        self.idle = idle if idle is not None else math.inf

    def time_left(self) -> float:
        """Seconds until the total limit (``inf`` without one)."""
        return self.end - time.monotonic()

    def remaining(self) -> float:
        """Seconds until the first limit (total, or idle) is reached; <= 0 once past it."""
        limit = self.last + self.idle
        return (self.end if self.end < limit else limit) - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def error(self) -> ProviderTimeoutError:
        """The typed error of this deadline (``deadline`` names the limit that ran out)."""
        now = time.monotonic()
        if now >= self.end:
            field = "stream_total" if self.stream else "total"
            message = f"the call ran past its deadline ({field}: {self.total:g} s)"
        else:
            field = "stream_idle"
            message = f"no event from the stream for {self.idle:g} s (deadline {field})"
        err = ProviderTimeoutError(message)
        err.deadline = field  # type: ignore[attr-defined]
        err.retryable = False
        return err


_DEADLINE: ContextVar[Deadline | None] = ContextVar("agentscope_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the call whose requests this context is sending, if any."""
    return _DEADLINE.get()


async def _unbounded(deadline: Deadline, step: Awaitable[T]) -> T:
    return await step


async def _within(deadline: Deadline, step: Awaitable[T]) -> T:
    """Await ``step``, cancelled when ``deadline`` runs out (a typed ProviderTimeoutError)."""
    try:
        async with asyncio.timeout(max(deadline.remaining(), 0.0)):
            return await step
    except TimeoutError:
        if deadline.expired():
            raise deadline.error() from None
        raise


class RetryMixin:
    """The retry loops and stream guards of a wrapper; the wrapper supplies its limits
    (``max_retries``, ``retry_interval``, ``max_retry_interval``, ``deadline``) and
    ``_translating``/``_fill_context``."""

    model_type: str
    config_name: str
    max_retries: int
    retry_interval: float
    max_retry_interval: float
    deadline: dict[str, float | None]

    if TYPE_CHECKING:  # defined by the wrapper

        def _translating(self) -> AbstractContextManager[None]: ...

        def _fill_context(self, err: ProviderError) -> None: ...

    def _new_deadline(self, stream: bool) -> Deadline:
        """The deadline of one call (see ``DEFAULT_DEADLINE``)."""
        limits = self.deadline
        if stream:
            return Deadline(limits["stream_total"], limits["stream_idle"], True)
        return Deadline(limits["total"], None, False)

    def _with_retries(self, fn: Callable[[], T], deadline: Deadline | None = None) -> T:
        attempt = 0
        # The HTTP clients' hooks (``_http.py``) read the deadline to bound every socket read.
        token = _DEADLINE.set(deadline)
        try:
            while True:
                if deadline is not None:
                    deadline.last = time.monotonic()  # each attempt waits anew for its reply
                try:
                    with self._translating():
                        return fn()
                except ProviderError as err:
                    delay = self._next_attempt(
                        self._past_deadline(err, deadline), attempt, deadline
                    )
                    time.sleep(delay)
                    attempt += 1
        finally:
            _DEADLINE.reset(token)

    async def _awith_retries(
        self,
        fn: Callable[[], Awaitable[T]],
        deadline: Deadline | None = None,
        cancel: bool = True,
    ) -> T:
        attempt = 0
        token = _DEADLINE.set(deadline)
        try:
            while True:
                if deadline is not None:
                    deadline.last = time.monotonic()
                try:
                    with self._translating():
                        if deadline is None or not cancel:
                            return await fn()
                        # Cancelling the awaited SDK call interrupts any socket read in it.
                        async with asyncio.timeout(max(deadline.remaining(), 0.0)):
                            return await fn()
                except TimeoutError as exc:
                    if deadline is None or not deadline.expired():
                        raise
                    err = self._past_deadline(ProviderTimeoutError(str(exc)), deadline)
                    raise err from None
                except ProviderError as err:
                    delay = self._next_attempt(
                        self._past_deadline(err, deadline), attempt, deadline
                    )
                    await asyncio.sleep(delay)
                    attempt += 1
        finally:
            _DEADLINE.reset(token)

    def _past_deadline(self, err: ProviderError, deadline: Deadline | None) -> ProviderError:
        """``err``, or the deadline's ProviderTimeoutError when the deadline is what ended the
        call (the HTTP hooks made a socket read fail at the deadline); never retried."""
        if deadline is None or getattr(err, "deadline", None) or not deadline.expired():
            return err
        timeout = deadline.error()
        self._fill_context(timeout)
        timeout.__cause__ = err
        timeout.attempts = err.attempts
        return timeout

    def _next_attempt(
        self, err: ProviderError, attempt: int, deadline: Deadline | None = None
    ) -> float:
        """The wait before retrying after ``err``; re-raises it when no retry is due."""
        err.attempts = attempt + 1
        delay = self._retry_delay(err, attempt)
        if delay is None or (deadline is not None and delay >= deadline.time_left()):
            raise err  # a wait past the call's deadline is not waited
        logger.warning(
            "{} [{}]: {} (status {}), retry {}/{} in {:.2f}s",
            self.model_type,
            self.config_name,
            type(err).__name__,
            err.status,
            attempt + 1,
            self.max_retries,
            delay,
        )
        return delay

    def _retry_delay(self, err: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        return retry_delay(
            err, attempt, self.max_retries, self.retry_interval, self.max_retry_interval
        )

    def _guarded(
        self, deltas: Iterator[Delta], sdk_stream: Any, deadline: Deadline | None = None
    ) -> Iterator[Delta]:
        """Translate mid-stream SDK errors, hold the stream to its deadline (every delta moves
        the idle limit on; one arriving past the total ends it) and always release it."""
        try:
            with self._translating():
                token = _DEADLINE.set(deadline)  # some SDKs send the request on first read
                try:
                    first = next(deltas, None)
                finally:
                    _DEADLINE.reset(token)
                if first is None:
                    raise ResponseFormatError(_EMPTY_STREAM)
                if deadline is None:
                    yield first
                    yield from deltas
                    return
                clock, end = time.monotonic, deadline.end
                deadline.last = clock()
                yield first
                for delta in deltas:
                    deadline.last = now = clock()
                    if now >= end:
                        raise deadline.error()
                    yield delta
        except ProviderError as err:
            timeout = self._past_deadline(err, deadline)
            if timeout is err:
                raise
            raise timeout from err
        finally:
            close = getattr(sdk_stream, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass

    async def _aguarded(
        self,
        deltas: AsyncIterator[Delta],
        sdk_stream: Any,
        deadline: Deadline | None = None,
        cancel: bool = True,
    ) -> AsyncIterator[Delta]:
        """Async :meth:`_guarded`: each wait for the next delta is also cancelled at the
        deadline, which interrupts the SDK's read whatever its transport."""
        try:
            with self._translating():
                if deadline is None:
                    first = await anext(deltas, None)
                    if first is None:
                        raise ResponseFormatError(_EMPTY_STREAM)
                    yield first
                    async for delta in deltas:
                        yield delta
                    return
                clock, end = time.monotonic, deadline.end
                within = _within if cancel else _unbounded
                first = await within(deadline, anext(deltas, None))
                if first is None:
                    raise ResponseFormatError(_EMPTY_STREAM)
                deadline.last = clock()
                yield first
                while (delta := await within(deadline, anext(deltas, _END))) is not _END:
                    deadline.last = now = clock()
                    if now >= end:
                        raise deadline.error()
                    yield delta
        except ProviderError as err:
            timeout = self._past_deadline(err, deadline)
            if timeout is err:
                raise
            raise timeout from err
        finally:
            await aclose_quietly(sdk_stream)


async def aclose_quietly(stream: Any) -> None:
    """Close an SDK stream (async or sync) that is being let go: nobody is left to raise to."""
    close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if close is not None:
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception:
            pass


def retry_delay(
    err: ProviderError,
    attempt: int,
    max_retries: int,
    retry_interval: float,
    max_retry_interval: float,
    max_retry_after: float = MAX_RETRY_AFTER,
) -> float | None:
    """Seconds to wait after ``err`` (the ``attempt``-th failure, from 0) before trying again,
    or None to give up: not retryable, ``max_retries`` reached, or a Retry-After longer than
    ``max_retry_after``. Without Retry-After: ``retry_interval * 2**attempt`` capped at
    ``max_retry_interval``, with jitter. The one backoff rule of chat wrappers and TTS models."""
    if not err.retryable or attempt >= max_retries:
        return None
    retry_after = err.retry_after
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        return retry_after if retry_after <= max_retry_after else None
    backoff = min(retry_interval * (2**attempt), max_retry_interval)
    return backoff * (1 - 0.25 * random.random())  # jitter spreads concurrent retries


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    A value that is not a finite, non-negative number (``-1000``, ``nan``, ``inf``, garbage)
    or a date is ignored, as if the header were absent: the retry then backs off as usual.
    """
    if headers is None:
        return None
    seconds = _header_seconds(headers.get("retry-after-ms"))
    if seconds is not None:
        return seconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _header_seconds(value)
    if seconds is not None:
        return seconds
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(str(value))
        if when.tzinfo is None:  # "-0000": a UTC time of unknown origin
            when = when.replace(tzinfo=timezone.utc)
        return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _header_seconds(value: Any) -> float | None:
    """A finite, non-negative number of a header, else None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def transport_error(exc: BaseException) -> ProviderError | None:
    """A typed error for a raw httpx/httpx2/httpcore transport exception, else None.

    Several SDKs let their HTTP library's errors escape unwrapped (a dropped stream surfaces as
    ``RemoteProtocolError``); matching by module and class name covers both httpx generations
    without importing either.
    """
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
            continue
        if cls.__name__ == "TimeoutException":
            return ProviderTimeoutError(f"request timed out: {type(exc).__name__}: {exc}")
        if cls.__name__ in ("TransportError", "NetworkError"):
            return ProviderConnectionError(f"connection lost: {type(exc).__name__}: {exc}")
    return None


def wraps_urllib3_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` carries a urllib3 timeout: ``requests`` reports a read timeout inside a
    streamed body as a ``ConnectionError`` wrapping one."""
    return any(
        cls.__name__ == "TimeoutError" and cls.__module__.split(".")[0] == "urllib3"
        for arg in exc.args
        for cls in type(arg).__mro__
    )
