"""``ModelWrapperBase``: the shared work of every wrapper, done once.

A provider module implements only:

* ``config_schema``: JSON Schema properties of its own config fields (validated at load time);
* ``_build_request(*args, **kwargs) -> dict``: the SDK request, a pure function of its inputs;
* ``_call(request) -> ModelResponse``: one non-streamed SDK call, parsed;
* ``_open_stream(request)`` and ``_iter_deltas(sdk_stream) -> Iterator[Delta]`` if it streams;
* ``_translate_error(exc) -> ProviderError | None``: SDK exceptions to typed errors.

The base merges ``generate_args`` with call kwargs, resolves ``stream``, retries transient
failures with exponential backoff honouring Retry-After, and records usage and invocations.
The retry loops, deadlines and stream guards are in ``_retry`` (mixed in, re-exported here).
What remains is one file over ~400 lines on purpose: the call template, its provider hooks
and the config schema are the one class every wrapper subclasses, read together.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from .._secrets import register_secret, scrub, scrub_exception
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConfigIssue,
    ProviderError,
)
from ..monitor import BUDGET_SCHEMA, Budget
from ._retry import DEFAULT_DEADLINE as DEFAULT_DEADLINE
from ._retry import MAX_RETRY_AFTER as MAX_RETRY_AFTER
from ._retry import Deadline as Deadline
from ._retry import RetryMixin
from ._retry import current_deadline as current_deadline
from ._retry import parse_retry_after as parse_retry_after
from ._retry import transport_error as transport_error
from ._retry import wraps_urllib3_timeout as wraps_urllib3_timeout
from .response import Delta, ModelResponse, Usage

# Config fields every wrapper accepts, validated by the loader before any client exists.
_TIMEOUT = {"type": "number", "exclusiveMinimum": 0}
#: An endpoint pool (``_pool.py``): several deployments behind one config_name.
ENDPOINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": {"type": "string", "minLength": 1},
        "api_key": {"type": ["string", "null"]},
        "weight": {"type": "number", "exclusiveMinimum": 0},
        "rpm": {"type": "integer", "minimum": 1},
        "tpm": {"type": "integer", "minimum": 1},
    },
    "required": ["base_url"],
    "additionalProperties": False,
}
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
    "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT_SCHEMA},
    "routing": {"enum": ["weighted", "least_busy"]},
    "cooldown": {
        "type": "object",
        "properties": {
            "failures": {"type": "integer", "minimum": 1},
            "seconds": {"type": "number", "minimum": 0},
        },
        "additionalProperties": False,
    },
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
# How Python says a call's arguments do not fit the callee's signature.
_ARGUMENT_ERROR = re.compile(
    r"unexpected keyword argument '([^']+)'"
    r"|got multiple values for (?:keyword )?argument '([^']+)'"
    r"|missing \d+ required (?:keyword-only |positional )?arguments?: '([^']+)'"
)


#: Consulted before every call once set (``agentscope_legacy.replay``): ``(wrapper, request,
#: stream, is_async) -> ModelResponse | None``; a response answers the call, ``None`` lets
#: it go to the model. One slot, as the runtime it belongs to is one per process.
_interceptor: Callable[..., ModelResponse | None] | None = None


def set_interceptor(
    interceptor: Callable[..., ModelResponse | None] | None,
) -> Callable[..., ModelResponse | None] | None:
    """Install ``interceptor`` (``None`` removes it); returns the one it replaces."""
    global _interceptor
    previous, _interceptor = _interceptor, interceptor
    return previous


def _close_quietly(close: Callable[[], Any]) -> None:
    """Close a delta generator once its thread is out of it (a stream cancelled midway)."""
    try:
        close()
    except Exception:  # the reader has gone: nobody to raise to
        pass


class ModelWrapperBase(RetryMixin):
    """Base class of all model wrappers; see the module docstring for what subclasses add."""

    model_type: ClassVar[str]
    #: Provider name carried by errors and usage rows.
    provider: ClassVar[str] = "custom"
    #: ``{"properties": {...}, "required": [...]}`` for the wrapper's own fields. ``None``
    #: derives a permissive schema from ``__init__``'s parameters (for users' own wrappers).
    config_schema: ClassVar[dict[str, Any] | None] = None
    #: 0.x's keyword names of the input, accepted beside this wrapper's: ``{old: new}``.
    legacy_arg_names: ClassVar[dict[str, str]] = {}
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
        if hasattr(generate_args, "for_wrapper"):  # GenerateOptions (agentscope_legacy.model)
            generate_args = generate_args.for_wrapper(self)
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
        if _interceptor is not None:
            answered = _interceptor(self, request, use_stream, False)
            if answered is not None:
                return answered
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
        if _interceptor is not None:
            answered = _interceptor(self, request, use_stream, True)
            if answered is not None:
                return answered
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
        for old, new in self.legacy_arg_names.items():
            if old in kwargs:  # 0.x's keyword for the input (``ollama_embedding(prompt=...)``)
                if args or new in kwargs:
                    raise TypeError(f"give the input once: {new}= or 0.x's {old}=")
                kwargs[new] = kwargs.pop(old)
        use_stream = self.stream if stream is None else bool(stream)
        if use_stream and not self.can_stream:
            raise ValueError(f"model_type '{self.model_type}' does not support streaming")
        options = kwargs.pop("options", None)
        if hasattr(options, "for_wrapper"):  # GenerateOptions: the common names, translated
            kwargs = {**options.for_wrapper(self), **kwargs}
        elif options is not None:
            kwargs["options"] = options  # a provider's own `options` (Ollama's)
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
        loop = asyncio.get_running_loop()
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                # As asyncio.to_thread (the thread sees this context: the deadline hooks read
                # it), but shielded: a cancelled reader must not close the generator while the
                # thread is still inside next() ("generator already executing").
                step = loop.run_in_executor(None, contextvars.copy_context().run, next, deltas, end)
                delta = await asyncio.shield(step)
                if delta is end:
                    return
                yield delta
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                if step is not None and not step.done():
                    step.add_done_callback(lambda _: _close_quietly(close))
                else:
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

    def _record(
        self,
        request: dict[str, Any],
        response: ModelResponse | None,
        error: BaseException | None,
        stream: bool,
        started: float | None = None,
    ) -> None:
        from .._runtime import get_runtime

        usage = _usage_of(response, started)
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


def _usage_of(response: ModelResponse | None, started: float | None) -> Usage:
    """The usage row of a call: the response's, or for a failed call its latency alone."""
    usage = response.usage if response is not None and response.usage else Usage()
    if response is None and started is not None:
        usage.latency = time.perf_counter() - started
    return usage
