"""Endpoint pools: one ``config_name`` served by several deployments, with failover.

A config listing ``endpoints: [{base_url, api_key, weight, rpm, tpm}, ...]`` is built into an
:class:`EndpointPool`: one wrapper of the config's model_type per endpoint, each built once
(its own SDK client), behind the one template of :class:`~._base.ModelWrapperBase`.

One call picks an endpoint (``routing: weighted``, the default: a random pick by weight;
``least_busy``: fewest calls in flight per unit of weight), skipping those cooling down and
those whose client-side ``rpm``/``tpm`` window of the last 60 s is full. A retryable failure
(429, 5xx, timeout, refused or dropped connection) sends the same request to the next
endpoint; when every endpoint failed, the config's retry policy (``max_retries``, backoff,
Retry-After, ``deadline``) starts another round; the last round's failure is one
:class:`~agentscope_legacy.errors.AllEndpointsFailedError` naming each endpoint's last error.
Other errors (400, 401...) are raised at once: another endpoint would refuse them too.

``cooldown: {failures: 3, seconds: 30}``: an endpoint failing that many times in a row is
left out for that long (a 429's Retry-After also cools it for as long); when it comes back,
one more failure sends it out again. When every endpoint is cooling, they are tried anyway.

Streams fail over only before their first chunk: the chosen endpoint's first event is read
before the stream is handed over; a failure after it is the stream's error (text received so
far on ``partial_text``), as for any wrapper.

Usage: each call's row names the endpoint that served it (``endpoint``: the base_url with its
credentials masked; see ``monitor.py``), and :meth:`EndpointPool.endpoint_stats` counts calls,
failures and tokens per endpoint.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..errors import AllEndpointsFailedError, ProviderError, RateLimitError
from ._base import ModelWrapperBase, _usage_of
from ._retry import aclose_quietly
from .response import Delta, ModelResponse

DEFAULT_COOLDOWN = {"failures": 3, "seconds": 30.0}
WINDOW = 60.0  # seconds: rpm and tpm are per minute
_NONE = object()


class Endpoint:
    """One deployment of a pool: its wrapper, limits, and what it has done."""

    def __init__(self, wrapper: ModelWrapperBase, label: str, entry: dict[str, Any]) -> None:
        self.wrapper, self.label = wrapper, label
        self.weight = float(entry.get("weight", 1.0))
        self.rpm: int | None = entry.get("rpm")
        self.tpm: int | None = entry.get("tpm")
        self.in_flight = 0
        self.consecutive_failures = 0
        self.cooling_until = 0.0
        self.calls = self.failures = self.prompt_tokens = self.completion_tokens = 0
        self.last_error: str | None = None
        self._sent: deque[float] = deque()  # send times within the window (rpm)
        self._tokens: deque[tuple[float, int]] = deque()  # (end time, tokens) (tpm)

    def wait_for_slot(self, now: float) -> float:
        """Seconds until its rpm/tpm window lets one more request go (0: now)."""
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        while self._tokens and self._tokens[0][0] <= now - WINDOW:
            self._tokens.popleft()
        wait = 0.0
        if self.rpm is not None and len(self._sent) >= self.rpm:
            wait = self._sent[len(self._sent) - self.rpm] + WINDOW - now
        if self.tpm is not None and sum(t for _, t in self._tokens) >= self.tpm:
            # The oldest calls leave the window first; wait until enough have left.
            total, needed = 0, sum(t for _, t in self._tokens) - self.tpm + 1
            for ended, tokens in self._tokens:
                total += tokens
                if total >= needed:
                    wait = max(wait, ended + WINDOW - now)
                    break
        return max(wait, 0.0)

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "endpoint": self.label,
            "weight": self.weight,
            "calls": self.calls,
            "failures": self.failures,
            "in_flight": self.in_flight,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cooling_for": max(self.cooling_until - now, 0.0),
            "last_error": self.last_error,
        }


class _PooledStream:
    """A stream opened on one endpoint, its first event already read (failover is over)."""

    def __init__(self, endpoint: Endpoint, sdk_stream: Any, deltas: Any, first: Any,
                 release: Callable[[Endpoint], None]) -> None:
        self.endpoint, self.sdk_stream, self.deltas = endpoint, sdk_stream, deltas
        self.first = first
        self._release: Callable[[Endpoint], None] | None = release

    def _released(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self.endpoint)

    def close(self) -> None:
        try:
            for part in (self.deltas, self.sdk_stream):
                close = getattr(part, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # the stream is being released: nobody to raise to
                        pass
        finally:
            self._released()

    async def aclose(self) -> None:
        try:
            for part in (self.deltas, self.sdk_stream):
                await aclose_quietly(part)
        finally:
            self._released()


class EndpointPool(ModelWrapperBase):
    """Several endpoints of one config behind one wrapper; see the module docstring.

    Everything but the call (``format``, the request, a wrapper's own attributes) is the first
    endpoint's wrapper's: the endpoints differ only in base_url, key and limits.
    """

    #: Set on each endpoint's wrapper (what the monitor reads); the pool itself has none.
    pool_endpoint: str | None = None

    def __init__(
        self,
        endpoints: list[Endpoint],
        routing: str = "weighted",
        cooldown: dict[str, Any] | None = None,
    ) -> None:
        first = endpoints[0].wrapper
        self._endpoints = endpoints
        self.routing = routing
        limits = {**DEFAULT_COOLDOWN, **(cooldown or {})}
        self.cooldown_failures = int(limits["failures"])
        self.cooldown_seconds = float(limits["seconds"])
        self._lock = threading.Lock()
        self._served: dict[int, Endpoint] = {}  # id(request) -> the endpoint last sent it
        # The shared settings, as the first endpoint's wrapper parsed them.
        for name in ("config_name", "model_name", "stream", "generate_args", "max_retries",
                     "retry_interval", "max_retry_interval", "timeout", "budget", "deadline",
                     "api_key_source"):
            setattr(self, name, getattr(first, name, None))
        for name in ("model_type", "provider", "can_stream", "legacy_arg_names",
                     "generate_args_keys", "generate_args_hint", "api_key_env"):
            setattr(self, name, getattr(type(first), name))

    def __getattr__(self, name: str) -> Any:
        # Only reached for what the pool does not define: the first wrapper's attribute.
        endpoints = self.__dict__.get("_endpoints")
        if not endpoints or name.startswith("__"):
            raise AttributeError(name)
        return getattr(endpoints[0].wrapper, name)

    @property
    def endpoints(self) -> list[str]:
        """The endpoints' labels (base_url, credentials masked), in config order."""
        return [e.label for e in self._endpoints]

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: calls served, failures, tokens, calls in flight, cooldown left."""
        with self._lock:
            return [e.stats() for e in self._endpoints]

    def __repr__(self) -> str:
        return (
            f"EndpointPool(config_name={self.config_name!r}, model_type={self.model_type!r}, "
            f"endpoints={self.endpoints!r}, routing={self.routing!r})"
        )

    # -- what the first wrapper does for all ---------------------------------------------------
    def _build_request(self, *args: Any, stream: bool, **kwargs: Any) -> dict[str, Any]:
        return self._endpoints[0].wrapper._build_request(*args, stream=stream, **kwargs)

    def format(self, *args: Any, multi_agent_mode: bool | None = None) -> Any:
        return self._endpoints[0].wrapper.format(*args, multi_agent_mode=multi_agent_mode)

    def _cancellable(self, hook: str) -> bool:
        return self._endpoints[0].wrapper._cancellable(hook)

    # -- routing -------------------------------------------------------------------------------
    def _order(self, now: float) -> list[Endpoint]:
        """Endpoints in the order to try them: ready ones by the routing rule, then the
        cooling ones (soonest back first)."""
        ready = [e for e in self._endpoints if e.cooling_until <= now]
        cooling = sorted(
            (e for e in self._endpoints if e.cooling_until > now), key=lambda e: e.cooling_until
        )
        if self.routing == "least_busy":
            ready.sort(key=lambda e: (e.in_flight / e.weight, -e.weight, random.random()))
        else:  # a weighted random order (Efraimidis-Spirakis keys)
            ready.sort(key=lambda e: random.random() ** (1.0 / e.weight), reverse=True)
        return ready + cooling

    def _take(self, tried: set[int]) -> tuple[Endpoint | None, float | None]:
        """The next endpoint not tried yet whose window has room (counted as sent), else the
        wait until one has room (``None``: every endpoint was tried)."""
        with self._lock:
            now = time.monotonic()
            soonest: float | None = None
            for endpoint in self._order(now):
                if id(endpoint) in tried:
                    continue
                wait = endpoint.wait_for_slot(now)
                if wait <= 0:
                    endpoint._sent.append(now)
                    endpoint.in_flight += 1
                    return endpoint, None
                soonest = wait if soonest is None else min(soonest, wait)
            return None, soonest

    def _release(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.in_flight -= 1

    def _succeeded(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.consecutive_failures = 0

    def _failed(self, endpoint: Endpoint, err: ProviderError) -> None:
        with self._lock:
            endpoint.failures += 1
            endpoint.last_error = f"{type(err).__name__}: {err}"[:300]
            if not err.retryable:
                return
            endpoint.consecutive_failures += 1
            now = time.monotonic()
            if endpoint.consecutive_failures >= self.cooldown_failures:
                endpoint.cooling_until = max(endpoint.cooling_until, now + self.cooldown_seconds)
                # Back after the cooldown on probation: one more failure cools it again.
                endpoint.consecutive_failures = self.cooldown_failures - 1
            if isinstance(err, RateLimitError) and err.retry_after:
                endpoint.cooling_until = max(endpoint.cooling_until, now + err.retry_after)

    def _limited(self, wait: float, tried: set[int]) -> dict[str, ProviderError]:
        """Client-side rate-limit errors of the endpoints not tried (their windows are full)."""
        return {
            e.label: RateLimitError(
                f"client-side limit (rpm={e.rpm}, tpm={e.tpm}) reached; "
                f"room again in {e.wait_for_slot(time.monotonic()):.2f} s",
                retry_after=wait,
            )
            for e in self._endpoints
            if id(e) not in tried
        }

    def _give_up(self, errors: dict[str, ProviderError]) -> AllEndpointsFailedError:
        err = AllEndpointsFailedError(errors)
        self._fill_context(err)
        return err

    def _attempt_failed(self, endpoint: Endpoint, err: ProviderError) -> None:
        """Count the failure; re-raise what another endpoint cannot fix."""
        self._failed(endpoint, err)
        deadline = _deadline_now()
        if not err.retryable or (deadline is not None and deadline.expired()):
            raise err

    def _next(self, request: dict[str, Any], tried: set[int],
              errors: dict[str, ProviderError]) -> tuple[Endpoint | None, float]:
        """The endpoint to send ``request`` to next, else the wait for a rate-limit window;
        AllEndpointsFailedError when none is left (or the wait would pass the deadline)."""
        endpoint, wait = self._take(tried)
        if endpoint is not None:
            tried.add(id(endpoint))
            self._served[id(request)] = endpoint
            return endpoint, 0.0
        if wait is None:
            raise self._give_up(errors)
        if not _can_wait(wait):
            raise self._give_up({**errors, **self._limited(wait, tried)})
        return None, wait

    def _done(self, endpoint: Endpoint, result: Any) -> Any:
        self._succeeded(endpoint)
        if not isinstance(result, _PooledStream):
            self._release(endpoint)  # a stream releases its endpoint when it ends
        return result

    def _serve(self, request: dict[str, Any], attempt: Callable[[Endpoint], Any]) -> Any:
        """``attempt(endpoint)`` on one endpoint after another until one succeeds."""
        errors: dict[str, ProviderError] = {}
        tried: set[int] = set()
        while True:
            endpoint, wait = self._next(request, tried, errors)
            if endpoint is None:
                time.sleep(wait)
                continue
            try:
                result = attempt(endpoint)
            except ProviderError as err:
                self._release(endpoint)
                self._attempt_failed(endpoint, err)
                errors[endpoint.label] = err
                continue
            except BaseException:
                self._release(endpoint)
                raise
            return self._done(endpoint, result)

    async def _aserve(self, request: dict[str, Any], attempt: Callable[[Endpoint], Any]) -> Any:
        """The async :meth:`_serve`."""
        errors: dict[str, ProviderError] = {}
        tried: set[int] = set()
        while True:
            endpoint, wait = self._next(request, tried, errors)
            if endpoint is None:
                await asyncio.sleep(wait)
                continue
            try:
                result = await attempt(endpoint)
            except ProviderError as err:
                self._release(endpoint)
                self._attempt_failed(endpoint, err)
                errors[endpoint.label] = err
                continue
            except BaseException:
                self._release(endpoint)
                raise
            return self._done(endpoint, result)

    # -- the provider hooks, over the endpoints --------------------------------------------------
    def _call(self, request: dict[str, Any]) -> ModelResponse:
        def attempt(endpoint: Endpoint) -> ModelResponse:
            with endpoint.wrapper._translating():
                return endpoint.wrapper._call(request)

        return self._serve(request, attempt)

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        async def attempt(endpoint: Endpoint) -> ModelResponse:
            with endpoint.wrapper._translating():
                return await endpoint.wrapper._acall(request)

        return await self._aserve(request, attempt)

    def _open_stream(self, request: dict[str, Any]) -> _PooledStream:
        def attempt(endpoint: Endpoint) -> _PooledStream:
            wrapper = endpoint.wrapper
            sdk_stream = deltas = None
            try:
                with wrapper._translating():
                    sdk_stream = wrapper._open_stream(request)
                    deltas = wrapper._iter_deltas(sdk_stream)
                    first = next(deltas, _NONE)  # failover stops once this has arrived
            except BaseException:
                _PooledStream(endpoint, sdk_stream, deltas, None, lambda e: None).close()
                raise
            return _PooledStream(endpoint, sdk_stream, deltas, first, self._release)

        return self._serve(request, attempt)

    def _iter_deltas(self, sdk_stream: _PooledStream) -> Iterator[Delta]:
        with sdk_stream.endpoint.wrapper._translating():
            if sdk_stream.first is not _NONE:
                yield sdk_stream.first
            yield from sdk_stream.deltas

    async def _aopen_stream(self, request: dict[str, Any]) -> _PooledStream:
        async def attempt(endpoint: Endpoint) -> _PooledStream:
            wrapper = endpoint.wrapper
            sdk_stream = deltas = None
            try:
                with wrapper._translating():
                    sdk_stream = await wrapper._aopen_stream(request)
                    deltas = wrapper._aiter_deltas(sdk_stream)
                    first = await anext(deltas, _NONE)
            except BaseException:
                await _PooledStream(endpoint, sdk_stream, deltas, None, lambda e: None).aclose()
                raise
            return _PooledStream(endpoint, sdk_stream, deltas, first, self._release)

        return await self._aserve(request, attempt)

    async def _aiter_deltas(self, sdk_stream: _PooledStream) -> AsyncIterator[Delta]:
        with sdk_stream.endpoint.wrapper._translating():
            if sdk_stream.first is not _NONE:
                yield sdk_stream.first
            async for delta in sdk_stream.deltas:
                yield delta

    def _record(
        self,
        request: dict[str, Any],
        response: ModelResponse | None,
        error: BaseException | None,
        stream: bool,
        started: float | None = None,
    ) -> None:
        from .._runtime import get_runtime

        endpoint = self._served.pop(id(request), None)
        usage = _usage_of(response, started)
        if endpoint is not None and error is None:
            with self._lock:
                endpoint.calls += 1
                endpoint.prompt_tokens += usage.prompt_tokens
                endpoint.completion_tokens += usage.completion_tokens
                if endpoint.tpm is not None:
                    endpoint._tokens.append((time.monotonic(), usage.total_tokens))
        # Recorded as the endpoint's wrapper (its row names the endpoint); the pool itself when
        # no endpoint was sent the request.
        wrapper = endpoint.wrapper if endpoint is not None else self
        get_runtime().monitor.record(wrapper, request, response, usage, error, stream)


def _deadline_now() -> Any:
    from ._retry import current_deadline

    return current_deadline()


def _can_wait(wait: float) -> bool:
    """Whether waiting ``wait`` seconds for a rate-limit window stays within the deadline."""
    deadline = _deadline_now()
    return deadline is None or wait < deadline.time_left()
