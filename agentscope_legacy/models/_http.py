"""What every HTTP client a wrapper builds gets, once per client: deadlines and credentials.

* **Deadlines.** While a call runs, the base class keeps its :class:`~._retry.Deadline` in a
  context variable. The hooks installed here cap each request's timeouts (connect, read,
  write, pool) at the time the deadline leaves, and check the deadline after every block of
  the body read from the socket: a server that says nothing is stopped by the socket timeout,
  one that trickles a byte at a time (or sends SSE keep-alive comments) by the check. An
  expiry raises the client library's own read-timeout exception, so the SDK on top treats it
  as a timeout; the base class then reports the deadline.
* **Credentials across hosts.** A redirect to another origin (scheme, host or port) carries
  only the headers of :data:`CROSS_ORIGIN_HEADERS`; API keys in any header (``api-key``,
  ``X-Api-Key``, ``Authorization``, a vendor's own) stay with the configured server.

httpx and httpx2 clients (the SDKs of openai, anthropic, zhipuai, ollama, google-genai) get
event hooks (:func:`guard_httpx_client`); ``requests`` sessions (post_api, dashscope) are a
:class:`GuardedSession`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ._base import current_deadline

#: Headers forwarded to another origin by a redirect: none of them can carry a credential.
CROSS_ORIGIN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "user-agent",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: Any) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port made explicit."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def strip_credentials(headers: Any) -> None:
    """Delete from ``headers`` (a mutable mapping) every header not in the allow-list."""
    for name in [n for n in headers if str(n).lower() not in CROSS_ORIGIN_HEADERS]:
        del headers[name]


# -- httpx / httpx2 ---------------------------------------------------------------------------
def guard_httpx_client(client: Any, origin: Any) -> Any:
    """Install the deadline and cross-origin hooks on an httpx or httpx2 client (sync or
    async; its own library is used for its exception and stream types). ``origin``: the URL
    of the configured server; requests elsewhere (redirects) lose their credentials.
    Idempotent; returns ``client``."""
    if getattr(client, "_agentscope_guarded", False):
        return client
    # The library the client class comes from (an SDK may subclass httpx's Client).
    root = next(
        c.__module__.split(".")[0]
        for c in type(client).__mro__
        if c.__module__.split(".")[0] in ("httpx", "httpx2")
    )
    lib = importlib.import_module(root)
    home = origin_of(origin) if origin else None
    is_async = inspect.iscoroutinefunction(client.send)
    hooks = client.event_hooks
    if is_async:
        on_request, on_response = _async_hooks(lib, home)
    else:
        on_request, on_response = _sync_hooks(lib, home)
    hooks["request"] = [*hooks.get("request", []), on_request]
    hooks["response"] = [*hooks.get("response", []), on_response]
    client.event_hooks = hooks
    client._agentscope_guarded = True
    return client


def _before_send(request: Any, home: tuple[str, str, int | None] | None, lib: Any) -> Any:
    """Cap the request's timeouts at the deadline (past it, nothing is sent: an SDK's own
    resend cannot outlive the call); strip credentials off-origin. Returns the deadline."""
    if home is not None and origin_of(request.url) != home:
        strip_credentials(request.headers)
    deadline = current_deadline()
    if deadline is not None:
        left = deadline.remaining()
        if left <= 0:
            raise lib.ConnectTimeout("the call's deadline ran out", request=request)
        timeouts = request.extensions.get("timeout") or {}
        capped = {
            phase: left if value is None or value > left else value
            for phase, value in {"connect": None, "read": None, "write": None, "pool": None,
                                 **timeouts}.items()
        }  # fmt: skip
        request.extensions = {**request.extensions, "timeout": capped}
    return deadline


def _sync_hooks(lib: Any, home: Any) -> tuple[Any, Any]:
    class DeadlineStream(lib.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, deadline: Any, request: Any) -> None:
            self._inner, self._deadline, self._request = inner, deadline, request

        def __iter__(self) -> Iterator[bytes]:
            deadline = self._deadline
            for block in self._inner:
                if deadline.expired():
                    raise lib.ReadTimeout("the call's deadline ran out", request=self._request)
                yield block

        def close(self) -> None:
            self._inner.close()

    def on_request(request: Any) -> None:
        _before_send(request, home, lib)

    def on_response(response: Any) -> None:
        deadline = current_deadline()
        if deadline is not None:
            response.stream = DeadlineStream(response.stream, deadline, response.request)

    return on_request, on_response


def _async_hooks(lib: Any, home: Any) -> tuple[Any, Any]:
    class DeadlineStream(lib.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, deadline: Any, request: Any) -> None:
            self._inner, self._deadline, self._request = inner, deadline, request

        async def __aiter__(self) -> Any:
            deadline = self._deadline
            async for block in self._inner:
                if deadline.expired():
                    raise lib.ReadTimeout("the call's deadline ran out", request=self._request)
                yield block

        async def aclose(self) -> None:
            await self._inner.aclose()

    async def on_request(request: Any) -> None:
        _before_send(request, home, lib)

    async def on_response(response: Any) -> None:
        deadline = current_deadline()
        if deadline is not None:
            response.stream = DeadlineStream(response.stream, deadline, response.request)

    return on_request, on_response


# -- requests ---------------------------------------------------------------------------------
def guarded_session() -> Any:
    """A ``requests.Session`` holding calls to their deadline and credentials to their host."""
    import requests
    from requests.adapters import HTTPAdapter

    class DeadlineAdapter(HTTPAdapter):
        def send(self, request: Any, stream: bool = False, timeout: Any = None, **kw: Any) -> Any:
            deadline = current_deadline()
            if deadline is None:
                return super().send(request, stream=stream, timeout=timeout, **kw)
            left = deadline.remaining()
            if left <= 0:  # not sent: an SDK's own resend cannot outlive the call
                raise requests.exceptions.Timeout("the call's deadline ran out", request=request)
            if isinstance(timeout, tuple):
                timeout = tuple(left if t is None or t > left else t for t in timeout)
            else:
                timeout = left if timeout is None or timeout > left else timeout
            response = super().send(request, stream=stream, timeout=timeout, **kw)
            _check_reads(response.raw, deadline)
            return response

    class GuardedSession(requests.Session):
        def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
            super().rebuild_auth(prepared_request, response)
            if origin_of(response.request.url) != origin_of(prepared_request.url):
                strip_credentials(prepared_request.headers)

    session = GuardedSession()
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _check_reads(raw: Any, deadline: Any) -> None:
    """Make the reads of a urllib3 response body return what has arrived (``read1``) and
    check ``deadline`` after each: ``stream(amt)`` would otherwise block until ``amt`` bytes
    came, so a body trickled a byte at a time would never reach a check."""
    from urllib3.exceptions import ReadTimeoutError

    read1 = raw.read1

    def checked_read1(amt: int | None = None, decode_content: bool | None = None) -> bytes:
        block = read1(amt, decode_content=decode_content)
        if block and deadline.expired():
            raise ReadTimeoutError(None, None, "the call's deadline ran out")  # type: ignore[arg-type]
        return block

    def checked_stream(amt: int | None = 2**16, decode_content: bool | None = None) -> Any:
        while block := checked_read1(amt, decode_content):
            yield block

    raw.stream, raw.read1 = checked_stream, checked_read1


def iter_body(raw: Any) -> Iterator[bytes]:
    """The decoded blocks of a urllib3 response body as they arrive, chunked or not (a
    close-delimited SSE stream included), deadline-checked on a :func:`guarded_session`."""
    from requests import exceptions as rex
    from urllib3 import exceptions as uex

    try:  # failures as ``requests.iter_content`` reports them
        while block := raw.read1(2**16, decode_content=True):
            yield block
    except uex.ProtocolError as exc:
        raise rex.ChunkedEncodingError(exc) from exc
    except uex.DecodeError as exc:
        raise rex.ContentDecodingError(exc) from exc
    except uex.ReadTimeoutError as exc:
        raise rex.ConnectionError(exc) from exc
    except uex.SSLError as exc:
        raise rex.SSLError(exc) from exc
