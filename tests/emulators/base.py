"""A provider-neutral loopback HTTP server for driving real SDKs in tests.

Subclasses only implement :meth:`LoopbackServer.handle`, which maps a
:class:`RecordedRequest` to a reply object (:class:`JSONReply`,
:class:`RawReply` or :class:`StreamReply`).  Everything about the transport
lives here: request recording, ``Content-Length`` versus chunked replies,
keep-alive, connection counting and fault injection (:class:`Fault`).

The design follows what the real SDKs were verified to accept (see
``wire_protocols.md`` section 9): ``ThreadingHTTPServer`` on
``("127.0.0.1", 0)`` speaking HTTP/1.1, chunked transfer encoding for
streams, and a hard socket shutdown to simulate a dropped stream.
"""

from __future__ import annotations

import http
import itertools
import json
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Fault",
    "JSONReply",
    "LoopbackServer",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "StreamReply",
]

# Coalesce small stream events into HTTP chunks of about this size, so a
# 20,000-event stream costs a few hundred syscalls instead of 20,000.
STREAM_BATCH_BYTES = 16 * 1024

# What a ``malformed`` fault sends: valid HTTP, truncated JSON.
MALFORMED_BODY = b'{"id": "broken", "object": "chat.completion", "choices": [{'


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (``path`` includes the query)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class JSONReply:
    """A JSON document sent with ``Content-Length``."""

    body: Any
    status: int = 200
    headers: dict[str, str] | None = None


@dataclass
class RawReply:
    """Arbitrary bytes sent with ``Content-Length``."""

    body: bytes
    status: int = 200
    headers: dict[str, str] | None = None
    content_type: str = "application/json"


@dataclass
class StreamReply:
    """Events written with ``Transfer-Encoding: chunked``.

    Each item of ``events`` is a complete wire event (e.g. ``b"data: {...}\\n\\n"``);
    ``events`` may be a lazy generator.  With ``chunk_delay == 0`` consecutive
    events are coalesced into chunks of up to ``STREAM_BATCH_BYTES``; with a
    delay every event is its own chunk, flushed, followed by the sleep.
    """

    events: Iterable[bytes]
    content_type: str = "text/event-stream"
    status: int = 200
    headers: dict[str, str] | None = None
    chunk_delay: float = 0.0


Reply = JSONReply | RawReply | StreamReply


# A delay far past any timeout under test, even on a very slow machine (ended at teardown).
STALL = 30.0


@dataclass
class Fault:
    """A misbehaviour applied to the next matching request(s), FIFO.

    Precedence when several fields are set: ``delay`` always happens first;
    then ``status`` wins, then ``malformed``, then ``empty_body``; otherwise
    the normal reply is sent, cut short by ``drop_after`` or interrupted by
    ``stream_error`` if it is a stream.  ``headers`` are added to whatever is
    sent.  ``drop_after`` on a non-stream reply sends half the body and drops.
    ``delay`` is a :meth:`LoopbackServer.stall`: :meth:`LoopbackServer.clear` ends it, so
    ``delay=STALL`` outlasts any timeout under test without the test waiting for it.

    Slow and odd bodies (each runs until the reply ends, the client hangs up, or
    :meth:`LoopbackServer.clear`): ``trickle`` sends the body one byte every ``trickle``
    seconds; ``keepalive_after`` sends that many stream events, then the server's
    ``keepalive_event`` forever; ``hold_after_end`` sends every event but never ends the
    body; ``close_delimited`` sends the stream without chunked framing, ended by closing the
    connection. ``redirect`` answers ``307`` with that ``Location`` instead of replying.
    """

    status: int | None = None
    body: Any = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0
    malformed: bool = False
    empty_body: bool = False
    drop_after: int | None = None
    stream_error: dict[str, Any] | None = None
    trickle: float = 0.0
    keepalive_after: int | None = None
    hold_after_end: bool = False
    close_delimited: bool = False
    redirect: str | None = None


@dataclass
class _QueuedFault:
    fault: Fault
    path_prefix: str | None
    remaining: int


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent clients must not be refused
    daemon_threads = True
    # Idle keep-alive threads would make server_close() wait forever.
    block_on_close = False
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-reply on purpose (in-stream errors, timeouts).
        # A client refusing the test CA ends the TLS handshake: also the client's doing.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            return
        # Anything else (e.g. a failing stream generator) is an emulator bug.
        self.owner._record_error(traceback.format_exc())
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        if hasattr(self.request, "do_handshake"):  # TLS: see LoopbackServer.start
            self.request.settimeout(30)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        # Headers and body go out as separate writes; without NODELAY the client's delayed
        # ACK costs ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep test output clean."""

    def _dispatch(self) -> None:
        owner = self.server.owner
        req = self._read_request()
        owner._record(req)
        fault = owner._take_fault(req.path)
        if fault is None:
            self._send_reply(owner._safe_handle(req), {}, None)
            return
        if fault.delay and owner.stall(fault.delay):
            self.close_connection = True  # released: the test is over, nobody reads a reply
            return
        extra = dict(fault.headers)
        if fault.redirect is not None:
            self._send_full(307, "text/plain", b"", {**extra, "Location": fault.redirect}, False)
        elif fault.status is not None:
            known = fault.status in http.HTTPStatus._value2member_map_
            message = fault.message or (http.HTTPStatus(fault.status).phrase if known else "Error")
            body = fault.body if fault.body is not None else owner.error_body(fault.status, message)
            self._send_full(fault.status, "application/json", _dump(body), extra, drop=False)
        elif fault.malformed:
            self._send_full(200, "application/json", MALFORMED_BODY, extra, drop=False)
        elif fault.empty_body:
            self._send_full(200, "application/json", b"", extra, drop=False)
        else:
            self._send_reply(owner._safe_handle(req), extra, fault)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _read_request(self) -> RecordedRequest:
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(headers.get("content-length") or 0))
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        return RecordedRequest(self.command, self.path, headers, body, parsed)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send_reply(self, reply: Reply, extra: dict[str, str], fault: Fault | None) -> None:
        headers = {**(reply.headers or {}), **extra}
        if isinstance(reply, StreamReply):
            self._send_stream(reply, headers, fault)
            return
        drop = fault is not None and fault.drop_after is not None
        trickle = fault.trickle if fault is not None else 0.0
        if isinstance(reply, JSONReply):
            body, content_type = _dump(reply.body), "application/json"
        else:
            body, content_type = reply.body, reply.content_type
        if trickle:
            self._send_head(reply.status, content_type, headers)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._trickle(body, trickle)
            return
        self._send_full(reply.status, content_type, body, headers, drop)

    def _trickle(self, data: bytes, interval: float, chunked: bool = False) -> None:
        """One byte every ``interval`` seconds (each its own HTTP chunk if ``chunked``)."""
        for i in range(len(data)):
            byte = data[i : i + 1]
            if chunked:
                self._write_chunk(byte)
            else:
                self.wfile.write(byte)
            if self.server.owner.stall(interval):
                self._drop()  # released: the test is over
                return

    def _send_head(self, status: int, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)

    def _send_full(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str], drop: bool
    ) -> None:
        self._send_head(status, content_type, headers)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if drop:
            self.wfile.write(body[: len(body) // 2])
            self._drop()
        else:
            self.wfile.write(body)

    def _send_stream(
        self, reply: StreamReply, headers: dict[str, str], fault: Fault | None
    ) -> None:
        self._send_head(reply.status, reply.content_type, headers)
        raw = fault is not None and fault.close_delimited
        if raw:  # no framing: the body ends when the connection does
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        events: Iterator[bytes] = iter(reply.events)
        owner = self.server.owner
        if fault is not None and fault.trickle:
            self._trickle(b"".join(events), fault.trickle, chunked=not raw)
            return
        if raw:
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
                if reply.chunk_delay and owner.stall(reply.chunk_delay):
                    break
            self._drop()
            return
        if fault is not None and fault.keepalive_after is not None:
            self._write_events(itertools.islice(events, fault.keepalive_after), 0.0)
            while not owner.stall(owner.keepalive_interval):
                self._write_chunk(owner.keepalive_event)
            self._drop()
            return
        if fault is not None and fault.hold_after_end:
            self._write_events(events, reply.chunk_delay)
            owner.stall(STALL)
            self._drop()
            return
        if fault is not None and fault.stream_error is not None:
            self._write_events(itertools.islice(events, fault.drop_after or 1), reply.chunk_delay)
            self._write_events([self.server.owner.error_event(fault.stream_error)], 0.0)
        elif fault is not None and fault.drop_after is not None:
            self._write_events(itertools.islice(events, fault.drop_after), reply.chunk_delay)
            self._drop()
            return
        else:
            self._write_events(events, reply.chunk_delay)
        self.wfile.write(b"0\r\n\r\n")

    def _write_events(self, events: Iterable[bytes], delay: float) -> None:
        # A zero-length HTTP chunk would end the body, so empty events are skipped.
        if delay > 0:
            for event in events:
                if event:
                    self._write_chunk(event)
                    time.sleep(delay)
            return
        batch: list[bytes] = []
        size = 0
        for event in events:
            batch.append(event)
            size += len(event)
            if size >= STREAM_BATCH_BYTES:
                self._write_chunk(b"".join(batch))
                batch, size = [], 0
        if size:
            self._write_chunk(b"".join(batch))

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _drop(self) -> None:
        """Hang up without finishing the body, like a network failure."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


def _dump(body: Any) -> bytes:
    return json.dumps(body).encode()


class LoopbackServer:
    """Threaded HTTP/1.1 server on 127.0.0.1 with recording and fault injection.

    Subclasses override :meth:`handle` (and optionally :meth:`error_body` and
    :meth:`error_event` for their provider's error shapes).  Use as a context
    manager or call :meth:`start` / :meth:`stop`.
    """

    #: What a ``keepalive_after`` fault sends forever, every ``keepalive_interval`` seconds.
    keepalive_event = b": keep-alive\n\n"
    keepalive_interval = 0.05

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls  # serve https:// with the test CA of tests.emulators.tls
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_QueuedFault] = []
        self._errors: list[str] = []
        self._connections = 0
        self._open_sockets: set[socket.socket] = set()
        self._release = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind an ephemeral port and serve in a daemon thread (idempotent)."""
        if self._httpd is None:
            httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
            httpd.owner = self
            if self.tls:
                from .tls import server_context

                # The handshake runs in the connection's own thread (_Handler.setup), so a
                # client that never completes it blocks only itself, not accept().
                httpd.socket = server_context().wrap_socket(
                    httpd.socket, server_side=True, do_handshake_on_connect=False
                )
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and hang up idle keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        self.release_stalls()
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # -- inspection ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received since the last :meth:`clear`."""
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted since the last :meth:`clear`."""
        with self._lock:
            return self._connections

    @property
    def errors(self) -> list[str]:
        """Tracebacks of emulator bugs: exceptions from :meth:`handle` (answered
        with 500) or raised while writing a reply (e.g. by a stream generator)."""
        with self._lock:
            return list(self._errors)

    def clear(self) -> None:
        """Forget requests, pending faults, errors and the connection count; end stalls."""
        self.release_stalls()
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._errors.clear()
            self._connections = 0

    # -- faults ----------------------------------------------------------

    def add_fault(self, fault: Fault, path_prefix: str | None = None) -> None:
        """Queue ``fault`` for the next ``fault.times`` requests matching ``path_prefix``."""
        with self._lock:
            self._faults.append(_QueuedFault(fault, path_prefix, max(1, fault.times)))

    def stall(self, seconds: float) -> bool:
        """Wait ``seconds``, or until :meth:`release_stalls` (which :meth:`clear` and :meth:`stop`
        call): a test can stall a reply far past any timeout without waiting for it itself.
        True when released early."""
        with self._lock:
            release = self._release
        return release.wait(seconds)

    def release_stalls(self) -> None:
        """End every current :meth:`stall` now; later stalls wait again."""
        with self._lock:
            release, self._release = self._release, threading.Event()
        release.set()

    # -- hooks for subclasses --------------------------------------------

    def handle(self, req: RecordedRequest) -> Reply:
        """Build the normal reply for ``req``; the base server knows no routes."""
        return self.not_found(req)

    def not_found(self, req: RecordedRequest) -> Reply:
        return JSONReply(self.error_body(404, f"no route for {req.method} {req.path}"), status=404)

    def error_body(self, status: int, message: str) -> Any:
        """JSON body for an error reply; OpenAI's shape unless overridden."""
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        """Wire bytes of an in-stream error event; OpenAI's SSE shape unless overridden."""
        return b"data: %s\n\n" % _dump({"error": payload})

    # -- internals used by the handler -----------------------------------

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for queued in self._faults:
                if queued.path_prefix is None or path.startswith(queued.path_prefix):
                    queued.remaining -= 1
                    if queued.remaining <= 0:
                        self._faults.remove(queued)
                    return queued.fault
        return None

    def _safe_handle(self, req: RecordedRequest) -> Reply:
        try:
            return self.handle(req)
        except Exception as exc:  # a bug in the emulator, not the client
            tb = traceback.format_exc()
            self._record_error(tb)
            sys.stderr.write(f"{type(self).__name__}.handle failed:\n{tb}")
            return JSONReply(self.error_body(500, f"emulator error: {exc!r}"), status=500)

    def _record_error(self, tb: str) -> None:
        with self._lock:
            self._errors.append(tb)

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open_sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(sock)
