"""The voice backend: a FastAPI app serving the page and the reference's websocket route.

::

    app = create_app(lambda: LocalRealtimeModel(), agent_name="Friday", sys_prompt="...")
    uvicorn.run(app, **uvicorn_options(host="127.0.0.1", port=8000))

``GET /`` is the page (``static/``: plain HTML and JS); ``/ws/{user_id}/{session_id}`` is one
browser session. The page sends ``client_session_create``; the backend then builds a model
with ``model_factory`` (one per session) and a :class:`RealtimeAgent` over it (its
``config.instructions``, when given, replace the served ``sys_prompt`` for that session),
forwards every ClientEvent to ``agent.handle_input`` and every ServerEvent to the page as JSON.

What the page does wrong is answered, never raised: a malformed event (unknown type, missing
field, bad audio) or one too large gets an ``agent_error`` and the session goes on; a failing
provider reaches the page as the agent's ``agent_error``. Close codes:

* 1008: the page's Origin is not allowed (only same-origin and loopback pages, unless
  ``allowed_origins`` lists others).
* 1009: a message over ``max_message_bytes`` (from uvicorn, which then frees the session;
  :func:`uvicorn_options` sets its limit; a server without one gets the ``agent_error``).
* 1011: an unexpected error in the backend (logged, the session freed, others go on).
* 1013: ``max_sessions`` sessions are open already.
* 4408: no message either way for ``idle_timeout`` seconds.
* 4409: this ``user_id``/``session_id`` is open already: the second is refused, the first
  keeps going (a page picks a fresh session id per load).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from loguru import logger

from .._secrets import scrub
from .._web import PAGE_HEADERS, origin_allowed, uvicorn_options
from ._agent import RealtimeAgent
from ._base import RealtimeModelBase
from ._events import ClientEvents, RealtimeEventError, ServerEvents

__all__ = ["STATIC_DIR", "create_app", "uvicorn_options"]

#: The page's files, served at ``/`` and ``/static/``.
STATIC_DIR = Path(__file__).parent / "static"

CLOSE_ORIGIN, CLOSE_TOO_BIG, CLOSE_ERROR, CLOSE_FULL = 1008, 1009, 1011, 1013
CLOSE_IDLE, CLOSE_DUPLICATE = 4408, 4409

def create_app(
    model_factory: Callable[[], RealtimeModelBase],
    *,
    agent_name: str,
    sys_prompt: str,
    max_sessions: int = 8,
    max_message_bytes: int = 1 << 20,
    idle_timeout: float = 300.0,
    allowed_origins: Iterable[str] = (),
) -> FastAPI:
    """The FastAPI app of the voice page; ``model_factory()`` makes one model per session.

    ``allowed_origins``: extra page origins (``"https://example.org"``) that may open a
    session, beside the server's own origin and loopback ones.
    """
    if max_sessions < 1 or max_message_bytes < 1024 or idle_timeout <= 0:
        raise ValueError("max_sessions >= 1, max_message_bytes >= 1024 and idle_timeout > 0")
    if not agent_name.strip():
        raise ValueError("agent_name must not be empty")
    app = FastAPI(title="agentscope-legacy voice", docs_url=None, redoc_url=None,
                  openapi_url=None)
    sessions: dict[tuple[str, str], _Session] = {}
    extra_origins = {origin.rstrip("/").lower() for origin in allowed_origins}
    app.state.sessions = sessions  # for tests and a status page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.websocket("/ws/{user_id}/{session_id}")
    async def websocket_endpoint(websocket: WebSocket, user_id: str, session_id: str) -> None:
        await websocket.accept()
        key = (user_id, session_id)
        if not origin_allowed(websocket.headers, extra_origins):
            await websocket.close(CLOSE_ORIGIN, "origin not allowed")
            return
        if key in sessions:
            await websocket.close(CLOSE_DUPLICATE, "this session id is open already")
            return
        if len(sessions) >= max_sessions:
            await websocket.close(CLOSE_FULL, "too many sessions; try again later")
            return
        session = sessions[key] = _Session(websocket, session_id, model_factory, agent_name,
                                           sys_prompt, max_message_bytes, idle_timeout)
        try:
            await session.run()
        finally:
            sessions.pop(key, None)

    return app


class _Session:
    """One browser session: its socket, its agent (after ``client_session_create``)."""

    def __init__(self, websocket: Any, session_id: str, model_factory: Callable[[], Any],
                 agent_name: str, sys_prompt: str, max_bytes: int, idle_timeout: float) -> None:
        self.ws, self.session_id = websocket, session_id
        self.model_factory = model_factory
        self.agent_name, self.sys_prompt = agent_name, sys_prompt
        self.max_bytes, self.idle_timeout = max_bytes, idle_timeout
        self.agent: Any = None
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.last_activity = time.monotonic()
        self.closed = False

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop(), name=f"voice-send-{self.session_id}")
        code, reason = 1000, ""
        try:
            code, reason = await self._receive_loop()
        except Exception as exc:  # a bug: log it, free the session, keep serving the others
            logger.error("voice session {} failed: {}", self.session_id,
                         scrub(f"{type(exc).__name__}: {exc}"))
            code, reason = CLOSE_ERROR, "internal error"
        finally:
            await self._stop_agent()
            await self._drain(sender)
            if not self.closed:
                with contextlib.suppress(Exception):
                    await self.ws.close(code, reason)

    # -- page -> agent ---------------------------------------------------------------------
    async def _receive_loop(self) -> tuple[int, str]:
        while True:
            remaining = self.last_activity + self.idle_timeout - time.monotonic()
            if remaining <= 0:
                return CLOSE_IDLE, f"idle for {self.idle_timeout:g} s"
            try:
                message = await asyncio.wait_for(self.ws.receive(), remaining)
            except asyncio.TimeoutError:
                continue  # the deadline may have moved with an outgoing event
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return 1000, ""
            self.last_activity = time.monotonic()
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
            if size > self.max_bytes:
                self._error("MessageTooLarge", "1009",
                            f"a message of {size} bytes is over the limit of {self.max_bytes}")
                continue
            try:
                event = ClientEvents.from_json(data)
            except RealtimeEventError as exc:
                self._error("RealtimeEventError", "invalid_event", str(exc))
                continue
            if not await self._handle(event):
                return 1000, "session ended"

    async def _handle(self, event: Any) -> bool:
        """Act on one client event; False when the page ended the session."""
        if isinstance(event, ClientEvents.ClientSessionCreateEvent):
            await self._create(event.config)
        elif isinstance(event, ClientEvents.ClientSessionEndEvent):
            await self._stop_agent()
            self._put(ServerEvents.ServerSessionEndedEvent(session_id=self.session_id,
                                                           reason="ended by the client"))
            return False
        elif self.agent is None:
            self._error("RealtimeSessionError", "no_session",
                        f"send client_session_create before {event.type}")
        else:
            if hasattr(event, "session_id"):
                event.session_id = self.session_id  # the route's session, whatever was sent
            try:
                await self.agent.handle_input(event)
            except Exception as exc:  # typed errors of the model; the session goes on
                self._error(type(exc).__name__, str(getattr(exc, "status", None) or "error"),
                            str(exc))
        return True

    async def _create(self, config: dict[str, Any]) -> None:
        if self.agent is not None:
            self._error("RealtimeSessionError", "session_exists",
                        "client_session_create: this session has an agent already")
            return
        instructions = config.get("instructions")
        sys_prompt = instructions if isinstance(instructions, str) and instructions.strip() \
            else self.sys_prompt
        try:
            agent = RealtimeAgent(name=self.agent_name, sys_prompt=sys_prompt,
                                  model=self.model_factory())
            self._put(ServerEvents.ServerSessionCreatedEvent(session_id=self.session_id))
            await agent.start(self.queue)
        except Exception as exc:  # ConfigError, AuthenticationError, ProviderConnectionError..
            self._error(type(exc).__name__, str(getattr(exc, "status", None) or "error"),
                        f"cannot start the agent: {exc}")
            return
        self.agent = agent

    async def _stop_agent(self) -> None:
        agent, self.agent = self.agent, None
        if agent is not None:
            try:
                await asyncio.wait_for(agent.stop(), 10)
            except Exception as exc:
                logger.warning("voice session {}: stopping the agent: {}", self.session_id,
                               scrub(f"{type(exc).__name__}: {exc}"))

    # -- agent -> page -----------------------------------------------------------------------
    def _put(self, event: Any) -> None:
        self.queue.put_nowait(event)

    def _error(self, error_type: str, code: str, message: str) -> None:
        agent = self.agent
        self._put(ServerEvents.AgentErrorEvent(
            agent_id=getattr(agent, "id", "") or "", agent_name=self.agent_name,
            error_type=error_type, code=code, message=message))

    async def _send_loop(self) -> None:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            if getattr(event, "type", "") == "agent_error":
                # Provider errors are scrubbed where they are made; once more, at the door.
                event = event.model_copy(update={"message": scrub(str(event.message))})
            text = event.model_dump_json()
            try:
                await self.ws.send_text(text)
            except Exception:  # the page is gone: the receive loop sees the disconnect
                self.closed = True
                return
            self.last_activity = time.monotonic()

    async def _drain(self, sender: asyncio.Task[None]) -> None:
        """Let the sender deliver what is queued (the session's last events), then stop it."""
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(sender, 5)
        except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
            sender.cancel()
