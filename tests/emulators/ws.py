"""A loopback websocket server for driving real SDK websocket clients in tests (plain or TLS).

The websocket side of the emulator kit, with the same habits as :mod:`tests.emulators.base`:
``127.0.0.1`` on a free port, everything received recorded, faults scripted. A protocol is a
*session function* ``(session) -> None`` that reads with ``session.recv()`` and answers with
``session.send(...)``; the server runs one per connection, in its own thread. Faults apply
to what the session sends: drop the connection after N messages, close with a code, or stall.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .tls import server_context

__all__ = ["RecordedMessage", "WSFault", "WSSession", "WebSocketServer"]

STOPPED = object()  # what WSSession.recv returns once the client has gone


@dataclass(frozen=True)
class RecordedMessage:
    """One message from a client: ``connection`` counts from 0, ``data`` is str or bytes."""

    connection: int
    data: str | bytes

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class WSFault:
    """What goes wrong on the next connection: after ``after`` messages sent by the session,
    ``drop`` the TCP connection (no close frame), or ``close`` with ``close_code``, or ``stall``
    (send nothing more until the server stops)."""

    after: int = 0
    drop: bool = False
    close_code: int | None = None
    close_reason: str = ""
    stall: bool = False


@dataclass
class WSSession:
    """One client connection as the session function sees it."""

    index: int
    path: str
    headers: dict[str, str]
    _connection: Any = field(repr=False)
    _server: WebSocketServer = field(repr=False)
    _fault: WSFault | None = field(default=None, repr=False)
    sent: int = 0

    def recv(self, timeout: float | None = None) -> Any:
        """The next message (str or bytes), or STOPPED once the client closed."""
        from websockets.exceptions import ConnectionClosed

        try:
            data = self._connection.recv(timeout=timeout)
        except ConnectionClosed:
            return STOPPED
        self._server._record(RecordedMessage(self.index, data))
        return data

    def recv_json(self, timeout: float | None = None) -> Any:
        data = self.recv(timeout)
        return STOPPED if data is STOPPED else json.loads(data)

    def send(self, message: Any) -> None:
        """Send ``message`` (a dict or list is sent as JSON text); faults fire here."""
        fault = self._fault
        if fault is not None and self.sent >= fault.after:
            self._fire(fault)
        if isinstance(message, (dict, list)):
            message = json.dumps(message)
        self._connection.send(message)
        self.sent += 1

    def _fire(self, fault: WSFault) -> None:
        self._fault = None
        if fault.stall:
            self._server._stopping.wait()
        elif fault.drop:
            # No close frame: the client sees a dropped link. A TCP shutdown, not close():
            # closing the fd under the connection's reader thread would let the next accept()
            # reuse its number. socket.socket's own shutdown, because SSLSocket.shutdown also
            # drops the TLS state that the reader thread is still using.
            import socket

            socket.socket.shutdown(self._connection.socket, socket.SHUT_RDWR)
        else:
            self._connection.close(fault.close_code or 1011, fault.close_reason)
        raise _SessionEnded


class _SessionEnded(Exception):
    pass


class WebSocketServer:
    """Runs ``session_fn`` for every connection; ``tls=True`` serves ``wss://`` with the test CA
    of :mod:`tests.emulators.tls` (clients trust ``tls.client_context()``).

    ``refuse(path, headers)``, called before the handshake, returns ``(status, json_body)`` to
    refuse the upgrade with that HTTP answer (a bad key: 401), or None to accept it.
    """

    def __init__(
        self,
        session_fn: Callable[[WSSession], None],
        *,
        tls: bool = False,
        refuse: Callable[[str, Any], tuple[int, Any] | None] | None = None,
    ) -> None:
        self.session_fn = session_fn
        self.tls = tls
        self.refuse = refuse
        self._lock = threading.Lock()
        self._received: list[RecordedMessage] = []
        self._handshakes: list[WSSession] = []
        self._faults: list[WSFault] = []
        self._errors: list[str] = []
        self._stopping = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> WebSocketServer:
        from websockets.sync.server import serve

        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request if self.refuse else None,
            ssl=server_context() if self.tls else None,
            compression=None,
            max_size=None,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> WebSocketServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[RecordedMessage]:
        with self._lock:
            return list(self._received)

    @property
    def sessions(self) -> list[WSSession]:
        """Every connection so far: its path, its handshake headers, what it was sent."""
        with self._lock:
            return list(self._handshakes)

    @property
    def errors(self) -> list[str]:
        """Exceptions raised by session functions (a test should assert this is empty)."""
        with self._lock:
            return list(self._errors)

    def add_fault(self, fault: WSFault) -> None:
        """Apply ``fault`` to the next connection."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._handshakes.clear()
            self._faults.clear()
            self._errors.clear()

    # -- internals -------------------------------------------------------------------------------
    def _process_request(self, connection: Any, request: Any) -> Any:
        assert self.refuse is not None
        refusal = self.refuse(request.path, request.headers)
        if refusal is None:
            return None
        status, body = refusal
        response = connection.respond(status, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    def _record(self, message: RecordedMessage) -> None:
        with self._lock:
            self._received.append(message)

    def _handle(self, connection: Any) -> None:
        import traceback

        request = connection.request
        with self._lock:
            session = WSSession(
                index=len(self._handshakes),
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.raw_items()},
                _connection=connection,
                _server=self,
                _fault=self._faults.pop(0) if self._faults else None,
            )
            self._handshakes.append(session)
        try:
            self.session_fn(session)
        except _SessionEnded:
            pass
        except Exception as exc:
            from websockets.exceptions import ConnectionClosed

            if not isinstance(exc, ConnectionClosed):  # the client leaving is not an error
                with self._lock:
                    self._errors.append(traceback.format_exc())
