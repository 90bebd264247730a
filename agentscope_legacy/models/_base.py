"""``ModelWrapperBase``: the shared work of every wrapper, done once.

A provider module implements only:

* ``config_schema``: JSON Schema properties of its own config fields (validated at load time);
* ``_build_request(*args, **kwargs) -> dict``: the SDK request, a pure function of its inputs;
* ``_call(request) -> ModelResponse``: one non-streamed SDK call, parsed;
* ``_open_stream(request)`` and ``_iter_deltas(sdk_stream) -> Iterator[Delta]`` if it streams;
* ``_translate_error(exc) -> ProviderError | None``: SDK exceptions to typed errors.

The base merges ``generate_args`` with call kwargs, resolves ``stream``, retries transient
failures with exponential backoff honouring Retry-After, and records usage and invocations.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from loguru import logger

from .._secrets import register_secret, scrub, scrub_exception
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConfigIssue,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
)
from ..monitor import BUDGET_SCHEMA, Budget
from .response import Delta, ModelResponse, Usage

T = TypeVar("T")

# Config fields every wrapper accepts, validated by the loader before any client exists.
_TIMEOUT = {"type": "number", "exclusiveMinimum": 0}
COMMON_PROPERTIES: dict[str, Any] = {
    "config_name": {"type": "string", "minLength": 1},
    "model_type": {"type": "string", "minLength": 1},
    "model_name": {"type": "string", "minLength": 1},
    "stream": {"type": "boolean"},
    "generate_args": {"type": "object"},
    "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
    "retry_interval": {"type": "number", "minimum": 0},
    "max_retry_interval": {"type": "number", "minimum": 0},
    "timeout": {
        "oneOf": [
            _TIMEOUT,
            {
                "type": "object",
                "properties": {"connect": _TIMEOUT, "read": _TIMEOUT},
                "additionalProperties": False,
            },
        ]
    },
    "replace": {"type": "boolean"},
    "budget": BUDGET_SCHEMA,
    "deadline": {
        "oneOf": [
            _TIMEOUT,
            {
                "type": "object",
                "properties": {
                    "total": {**_TIMEOUT, "type": ["number", "null"]},
                    "stream_idle": {**_TIMEOUT, "type": ["number", "null"]},
                    "stream_total": {**_TIMEOUT, "type": ["number", "null"]},
                },
                "additionalProperties": False,
            },
        ]
    },
}
#: What bounds a call when the config says nothing (``deadline``, seconds; see
#: docs/reliability.md, "Deadlines"): a non-streamed call ends within ``total`` (retries and
#: their waits included); a stream fails when no event came for ``stream_idle`` (the first one
#: included), and has no total limit unless ``stream_total`` is set.
DEFAULT_DEADLINE: dict[str, float | None] = {
    "total": 600.0,
    "stream_idle": 300.0,
    "stream_total": None,
}
# How Python says a call's arguments do not fit the callee's signature.
_ARGUMENT_ERROR = re.compile(
    r"unexpected keyword argument '([^']+)'"
    r"|got multiple values for (?:keyword )?argument '([^']+)'"
    r"|missing \d+ required (?:keyword-only |positional )?arguments?: '([^']+)'"
)
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


class ModelWrapperBase:
    """Base class of all model wrappers; see the module docstring for what subclasses add."""

    model_type: ClassVar[str]
    #: Provider name carried by errors and usage rows.
    provider: ClassVar[str] = "custom"
    #: ``{"properties": {...}, "required": [...]}`` for the wrapper's own fields. ``None``
    #: derives a permissive schema from ``__init__``'s parameters (for users' own wrappers).
    config_schema: ClassVar[dict[str, Any] | None] = None
    #: Whether ``_open_stream``/``_iter_deltas`` are implemented.
    can_stream: ClassVar[bool] = False
    #: Environment variable holding the API key, for wrappers that need one.
    api_key_env: ClassVar[str | None] = None
    #: Where the key in use came from ("the config field `api_key`", "the environment variable
    #: OPENAI_API_KEY"), named by authentication errors; set by ``_resolve_api_key``.
    api_key_source: str | None = None
    #: The keys ``generate_args`` may hold (the provider call's own parameters), checked by the
    #: loader with a did-you-mean; ``None``: not known, not checked (the call decides).
    generate_args_keys: ClassVar[frozenset[str] | None] = None
    #: Said after an unknown ``generate_args`` key, e.g. where other parameters go.
    generate_args_hint: ClassVar[str] = ""

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        stream: bool = False,
        generate_args: dict[str, Any] | None = None,
        max_retries: int = 2,
        retry_interval: float = 1.0,
        max_retry_interval: float = 30.0,
        timeout: float | dict[str, float] | None = None,
        budget: dict[str, Any] | None = None,
        deadline: float | dict[str, float | None] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise ConfigError(ConfigIssue(f"unknown fields: {unknown}", config_name=config_name))
        #: This config's limits on calls, tokens and cost (checked before every call).
        self.budget = Budget.parse(budget, config_name)
        self.config_name = config_name
        self.model_name = model_name if model_name is not None else config_name
        self.stream = stream
        self.generate_args = dict(generate_args or {})
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        self.timeout = timeout
        limits = dict(DEFAULT_DEADLINE)
        if isinstance(deadline, dict):
            limits.update(deadline)
        elif deadline is not None:  # one number: the total of any call, streamed or not
            limits["total"] = limits["stream_total"] = float(deadline)
        #: ``{"total", "stream_idle", "stream_total"}``: seconds, ``None`` for no limit.
        self.deadline = limits

    # -- the template ------------------------------------------------------------------------
    def __call__(self, *args: Any, stream: bool | None = None, **kwargs: Any) -> ModelResponse:
        """Call the model. ``stream`` overrides the config; other kwargs override generate_args.

        ``structured_model`` (a pydantic model class or a JSON Schema dict) asks a chat model
        for validated structured output, put on ``parsed`` (see ``agentscope_legacy.model``).
        """
        if "structured_model" in kwargs:
            from ._structured import structured_call

            return structured_call(self, *args, stream=stream, **kwargs)
        use_stream, request = self._prepare(args, stream, kwargs)
        started = time.perf_counter()
        deadline = self._new_deadline(use_stream)
        try:
            if use_stream:
                sdk_stream = self._with_retries(lambda: self._open_stream(request), deadline)
            else:
                response = self._with_retries(lambda: self._call(request), deadline)
        except (ProviderError, KeyboardInterrupt) as err:
            # A call that never produced a response is still a call: record it.
            self._record(request, None, err, use_stream, started)
            raise
        if use_stream:
            return ModelResponse(
                stream=self._guarded(self._iter_deltas(sdk_stream), sdk_stream, deadline),
                on_finish=lambda res, err: self._record(request, res, err, True),
                started_at=started,
            )
        return self._completed(request, response, started)

    async def acall(self, *args: Any, stream: bool | None = None, **kwargs: Any) -> ModelResponse:
        """The async twin of ``__call__``: same request, retries and records.

        A streamed reply is consumed with ``async for ... in response.astream`` (or ``adeltas``)
        and ``await response.get_text()``. Providers with an async SDK client implement
        ``_acall``/``_aopen_stream``/``_aiter_deltas``; others run their sync hooks in a thread.
        """
        if "structured_model" in kwargs:
            from ._structured import astructured_call

            return await astructured_call(self, *args, stream=stream, **kwargs)
        use_stream, request = self._prepare(args, stream, kwargs)
        started = time.perf_counter()
        deadline = self._new_deadline(use_stream)
        try:
            if use_stream:
                sdk_stream = await self._awith_retries(
                    lambda: self._aopen_stream(request),
                    deadline,
                    self._cancellable("_aopen_stream"),
                )
            else:
                response = await self._awith_retries(
                    lambda: self._acall(request), deadline, self._cancellable("_acall")
                )
        except (ProviderError, KeyboardInterrupt, asyncio.CancelledError) as err:
            self._record(request, None, err, use_stream, started)
            raise
        if use_stream:
            return ModelResponse(
                astream=self._aguarded(
                    self._aiter_deltas(sdk_stream),
                    sdk_stream,
                    deadline,
                    cancel=self._cancellable("_aiter_deltas"),
                ),
                on_finish=lambda res, err: self._record(request, res, err, True),
                started_at=started,
            )
        return self._completed(request, response, started)

    def _cancellable(self, hook: str) -> bool:
        """Whether the async ``hook`` is the provider's own (an async SDK: cancelling it at
        the deadline interrupts its read), not the default running the sync hook in a thread
        (cancelling would leave the thread reading; its HTTP client's deadline hooks, which
        see the deadline in the thread's copied context, end that read instead)."""
        return getattr(type(self), hook) is not getattr(ModelWrapperBase, hook)

    def _prepare(
        self, args: tuple[Any, ...], stream: bool | None, kwargs: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        use_stream = self.stream if stream is None else bool(stream)
        if use_stream and not self.can_stream:
            raise ValueError(f"model_type '{self.model_type}' does not support streaming")
        request = self._build_request(*args, stream=use_stream, **{**self.generate_args, **kwargs})
        self._check_budget()  # last: a request that cannot be built is not a call
        return use_stream, request

    def _check_budget(self) -> None:
        """QuotaExceededError if this config's or the run's budget is used up."""
        from .._runtime import get_runtime

        get_runtime().monitor.check_budget(self)

    def _completed(
        self, request: dict[str, Any], response: ModelResponse, started: float
    ) -> ModelResponse:
        if response.usage is None:
            response.usage = Usage()
        response.usage.latency = time.perf_counter() - started
        self._record(request, response, None, False)
        return response

    # -- provider hooks ----------------------------------------------------------------------
    def _build_request(self, *args: Any, stream: bool, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _build_request")

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        raise NotImplementedError(f"{type(self).__name__} must implement _call")

    def _open_stream(self, request: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    # Async hooks. The defaults run the sync hooks in a worker thread, so every wrapper has a
    # correct async path; providers with an async SDK client override them.
    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        return await asyncio.to_thread(self._call, request)

    async def _aopen_stream(self, request: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self._open_stream, request)

    async def _aiter_deltas(self, sdk_stream: Any) -> AsyncIterator[Delta]:
        deltas = self._iter_deltas(sdk_stream)
        end = object()
        try:
            while (delta := await asyncio.to_thread(next, deltas, end)) is not end:
                yield delta
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        """Map an SDK exception to a typed error; ``None`` leaves it untouched."""
        return None

    def format(self, *args: Any, multi_agent_mode: bool | None = None) -> Any:
        """Turn ``Msg`` objects into this provider's prompt."""
        raise NotImplementedError(f"{type(self).__name__} does not format messages")

    # -- shared machinery --------------------------------------------------------------------
    @contextmanager
    def _translating(self) -> Iterator[None]:
        """Re-raise SDK exceptions as typed ProviderErrors carrying this wrapper's context."""
        try:
            yield
        except ProviderError as err:
            self._fill_context(err)
            scrub_exception(err)  # its message and body too, not only its chain
            raise
        except Exception as exc:
            err = self._translate_error(exc)
            if err is None and isinstance(exc, TypeError):
                err = self._argument_error(exc)
            if err is None:
                raise
            self._fill_context(err)
            scrub_exception(exc)  # printed as the cause in a traceback
            scrub_exception(err)  # message, body: the server's text, which may echo the key
            raise err from exc

    def _argument_error(self, exc: TypeError) -> ProviderError | None:
        """The SDK refused an argument (``unexpected keyword argument 'max_token'``): a
        BadRequestError naming it and where it came from, never a bare TypeError."""
        match = _ARGUMENT_ERROR.search(str(exc))
        if match is None:
            return None
        key = next(group for group in match.groups() if group)
        where = f"generate_args.{key}" if key in self.generate_args else key
        return BadRequestError(
            f"{self.model_type} does not take the argument '{where}' "
            f"(from generate_args or the call's keyword arguments): {exc}"
        )

    def _fill_context(self, err: ProviderError) -> None:
        err.provider = err.provider or self.provider
        err.model = err.model or self.model_name
        err.config_name = err.config_name or self.config_name
        if isinstance(err, AuthenticationError) and not hasattr(err, "key_source"):
            # Say which key was refused (never the key itself): the first thing to check.
            err.key_source = self.api_key_source  # type: ignore[attr-defined]
            where = (
                f"API key from {self.api_key_source}"
                if self.api_key_source
                else "no API key was configured"
            )
            err.message = f"{err.message} ({where})"
            err.args = (scrub(err.message),)

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
        if not err.retryable or attempt >= self.max_retries:
            return None
        retry_after = err.retry_after
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return retry_after if retry_after <= MAX_RETRY_AFTER else None
        backoff = min(self.retry_interval * (2**attempt), self.max_retry_interval)
        return backoff * (1 - 0.25 * random.random())  # jitter spreads concurrent retries

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
            close = getattr(sdk_stream, "aclose", None) or getattr(sdk_stream, "close", None)
            if close is not None:
                try:
                    result = close()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    pass

    def _record(
        self,
        request: dict[str, Any],
        response: ModelResponse | None,
        error: BaseException | None,
        stream: bool,
        started: float | None = None,
    ) -> None:
        from .._runtime import get_runtime

        usage = response.usage if response is not None and response.usage else Usage()
        if response is None and started is not None:
            usage.latency = time.perf_counter() - started
        get_runtime().monitor.record(self, request, response, usage, error, stream)

    # -- helpers for provider modules --------------------------------------------------------
    def _resolve_api_key(
        self, api_key: str | None, *, required: bool = True, envs: tuple[str, ...] | None = None
    ) -> str | None:
        """The key from the config, else from the first set variable of ``envs`` (default:
        ``api_key_env``); registered for scrubbing, its source kept in ``api_key_source``."""
        import os

        names = envs if envs is not None else ((self.api_key_env,) if self.api_key_env else ())
        key, source = api_key, "the config field `api_key`"
        if not key:
            name = next((n for n in names if os.environ.get(n)), None)
            key = os.environ[name] if name else None
            source = f"the environment variable {name}"
        self.api_key_source = source if key else None
        if not key and required:
            env = f" or the {' or '.join(names)} environment variable" if names else ""
            raise ConfigError(
                ConfigIssue(
                    f"no API key: set `api_key` in the config{env}",
                    config_name=self.config_name,
                    field="api_key",
                )
            )
        register_secret(key)
        return key

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(config_name={self.config_name!r}, "
            f"model_name={self.model_name!r}, stream={self.stream})"
        )

    # -- config schema -----------------------------------------------------------------------
    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The full JSON Schema of this wrapper's config (common fields + its own)."""
        own, common = cls.config_schema, COMMON_PROPERTIES
        if own is None:
            own, common = _schema_from_signature(cls)
        properties = {**common, **own.get("properties", {})}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": ["config_name", "model_type", *own.get("required", [])],
            "additionalProperties": own.get("additionalProperties", False),
        }
        return schema


def _schema_from_signature(cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """A schema accepting the keyword parameters of ``cls.__init__`` (any type), and the
    common properties that constructor takes."""
    import inspect

    if cls.__init__ is ModelWrapperBase.__init__:
        # The base constructor takes exactly the common fields (it rejects other kwargs).
        return {"properties": {}}, COMMON_PROPERTIES
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        # A wrapper taking **kwargs accepts anything; its constructor decides.
        return {"properties": {}, "additionalProperties": True}, COMMON_PROPERTIES
    names = [p.name for p in params if p.name != "self" and p.kind is not p.VAR_POSITIONAL]
    # A common field the constructor does not take is unknown (else: TypeError at build time);
    # the manager itself consumes model_type and replace.
    common = {k: COMMON_PROPERTIES[k] for k in ("config_name", "model_type", "replace")}
    return {"properties": {n: {} for n in names}}, common


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
