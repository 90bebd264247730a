"""The Studio client: what ``init(studio_url=...)`` sets up, 0.1.x's contract.

It registers the run (``/trpc/registerRun``), pushes every spoken message and stream chunk
(``/trpc/pushMessage``, one reply id per response so that chunks replace each other), every
model invocation (``/trpc/pushModelInvocation``, redacted as every saved record is) and takes
UserAgent turns from the Studio (``/trpc/requestUserInput``, the answer comes back as the
socket.io event ``forwardUserInput`` on namespace ``/python``, as 0.1.6 does).

Pushing never blocks the run: the speaking thread only stores the newest text of a reply
(chunks of one reply coalesce) or appends to a bounded queue; one background thread posts,
retrying with backoff. A Studio that is down or goes away gives one warning and the run goes
on (its files are written as always); only a UserAgent turn, which needs the Studio, raises
:class:`StudioError`.
"""

from __future__ import annotations

import atexit
import json
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from .._secrets import redact, redact_urls, scrub
from ..errors import AgentScopeError, ConfigError, ConfigIssue
from ._http import connect, read_response, request_bytes

__all__ = ["StudioClient", "StudioError", "check_url"]


class StudioError(AgentScopeError, RuntimeError):
    """The Studio cannot do what the run needs of it (a UserAgent's input)."""


def check_url(url: Any) -> str:
    """``url`` without a trailing slash; a ConfigError unless it is an http(s) URL."""
    if isinstance(url, str):
        parts = urlsplit(url.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            return url.strip().rstrip("/")
    raise ConfigError(ConfigIssue(f"not an http(s) URL: {redact_urls(str(url))!r:.100}",
                                  field="studio_url"))


class StudioClient:
    """Pushes one run's messages and invocations to a Studio from a background thread.

    ``max_pending`` bounds the queue (further pushes are dropped and counted, never waited
    for); ``interval`` spaces a growing reply's updates (they coalesce meanwhile).
    """

    def __init__(self, url: str, run: dict[str, Any], *, max_pending: int = 1000,
                 interval: float = 0.02, retries: int = 3, backoff: float = 0.1,
                 timeout: float = 5.0) -> None:
        self.url = check_url(url)
        self._host = urlsplit(self.url).netloc.rsplit("@", 1)[-1]
        self.run = dict(run)
        self.run_id = str(run["id"])
        self.max_pending, self.interval = max_pending, interval
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.dropped = 0
        self._conn: Any = None  # one keep-alive connection, the worker's
        self._prefix = ""
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Any]] = deque()  # (route, payload or a reply's key)
        self._latest: dict[str, tuple[Any, ...]] = {}  # reply id -> its newest chunk
        self._sent: dict[str, tuple[Any, ...]] = {}  # reply id -> the chunk last sent
        self._heads: dict[str, tuple[Any, ...]] = {}  # reply id -> name, role, url, timestamp
        self._busy = False
        self._closed = False
        self._down_until = 0.0
        self._warned = False
        self._sio: Any = None
        self._answers: dict[str, queue.Queue[Any]] = {}
        self._enqueue("/trpc/registerRun", {**self.run, "status": "running"})
        self._thread = threading.Thread(target=self._work, name="studio-client", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the run's side: never blocks --------------------------------------------------------
    def _message_body(self, key: str, item: tuple[Any, ...]) -> dict[str, Any]:
        name, role, url, timestamp = self._heads[key]
        content, count, last, spoken = item
        if count >= 0:  # the first ``count`` pieces of a growing list
            content = "".join(content[:count])
        return {"runId": self.run_id, "replyId": key, "name": name, "role": role,
                "last": last, "spokenAt": spoken,
                "msg": {"id": key, "name": name, "role": role, "content": content,
                        "url": url, "timestamp": timestamp}}

    def _enqueue(self, route: str, item: Any) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self.max_pending:
                self.dropped += 1
                return
            self._queue.append((route, item))
            self._cond.notify()

    def on_speak(self, msg: Any, last: bool) -> None:
        """A ``logging.speak_listeners`` entry: one printed message or stream chunk."""
        # This runs for every chunk on the run's thread: a known reply costs one small tuple
        # and one dict store (atomic; no lock), its fixed fields were kept at its first chunk.
        # A reply spoken piece by piece keeps its list of pieces and their count: the worker
        # joins them (the text is not re-built here for every piece).
        parts = getattr(msg, "parts", None)
        payload = (msg.content, -1, last, time.time()) if parts is None else \
            (parts, len(parts), last, time.time())
        key = msg.id
        if key in self._latest:
            self._latest[key] = payload
            return
        self._heads[key] = (msg.name, msg.role, msg.url, msg.timestamp)
        self._latest[key] = payload
        self._enqueue("/trpc/pushMessage", key)

    def push_invocation(self, build: Callable[[], dict[str, Any]]) -> None:
        """One model call as 0.1.x's ``pushModelInvocation`` body; ``build()`` makes the
        record (``invocations.jsonl``'s fields, ``arguments`` and ``response`` redacted as
        that file's are) in the worker, off the run's thread."""

        def body() -> dict[str, Any]:
            record = build()
            # Not redacted a second time: walking a long request again was most of the
            # worker's CPU per reply (time the run's thread waits for the GIL).
            small = redact({key: record.get(key) for key in
                            ("timestamp", "model_name", "model_type", "config_name", "usage")})
            return _Redacted({
                "id": uuid.uuid4().hex, "runId": self.run_id,
                "timestamp": small["timestamp"], "modelName": small["model_name"],
                "modelType": small["model_type"], "configName": small["config_name"],
                "arguments": record.get("arguments"), "response": record.get("response"),
                "usage": small["usage"]})

        self._enqueue("/trpc/pushModelInvocation", body)

    # -- the background thread ---------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                route, item = self._queue.popleft()
                self._busy = True
            try:
                if isinstance(item, str):
                    self._reply(item)
                elif time.monotonic() >= self._down_until:
                    self._post(route, item() if callable(item) else item)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _reply(self, key: str) -> None:
        """Send a reply's newest chunk if it changed; poll it again until its last chunk."""
        payload = self._latest.get(key)
        if payload is None:
            return
        if payload is not self._sent.get(key) and time.monotonic() >= self._down_until:
            self._post("/trpc/pushMessage", self._message_body(key, payload))
        if payload[2] or self._closed:  # last (nothing follows for this id), or closing
            if self._latest.get(key) is payload or self._closed:
                self._latest.pop(key, None)
                self._sent.pop(key, None)
                self._heads.pop(key, None)
                return
        self._sent[key] = payload
        time.sleep(self.interval)  # the next chunks coalesce meanwhile
        with self._cond:
            self._queue.append(("/trpc/pushMessage", key))

    def _send(self, route: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        """POST JSON on the keep-alive connection, the request in one write (``_http``: the
        run's thread waits for the GIL at each of the worker's system calls)."""
        if self._conn is None:
            self._conn = connect(self.url, self.timeout)
            self._prefix = urlsplit(self.url).path
        if not isinstance(payload, _Redacted):
            payload = redact(payload)
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        try:
            self._conn.sendall(request_bytes(self._host, self._prefix + route, body))
            status, text, keep = read_response(self._conn)
        except Exception:
            self._drop()
            raise
        if not keep:
            self._drop()
        return status, text

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, route: str, payload: dict[str, Any]) -> bool:
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                status, text = self._send(route, payload)
                if status < 500 and status != 429:
                    if status >= 400:  # ours is wrong: say so, once
                        self._warn(f"the Studio refused a push to {route}: {status} "
                                   f"{text[:200].decode('utf-8', 'replace')}")
                    return status < 400
                error = RuntimeError(f"HTTP {status}")
            except Exception as exc:  # connection refused, reset, timeout
                error = exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        # Down: skip pushes for a while, then try again (a Studio may come back).
        self._down_until = time.monotonic() + 5.0
        self._warn(f"the Studio at {self.url} is not reachable ({type(error).__name__}); the "
                   "run goes on without it")
        return False

    def _warn(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("{}", scrub(text))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything spoken and queued so far was sent (or given up); False on
        timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                pending = self._busy or any(not isinstance(item, str)
                                            for _, item in self._queue)
            pending = pending or any(p is not self._sent.get(k)
                                     for k, p in list(self._latest.items()))
            if not pending:
                return True
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.005)

    def close(self, status: str = "finished", timeout: float = 3.0) -> None:
        """Send what is queued and the run's final status, then stop (bounded by ``timeout``)."""
        if self._closed:
            return
        self._enqueue("/trpc/registerRun", {**self.run, "status": status})
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._conn is not None and not self._thread.is_alive():
            self._conn.close()
        if self._sio is not None:
            try:
                self._sio.disconnect()
            except Exception:  # noqa: S110  (closing: nothing left to tell)
                pass
        atexit.unregister(self.close)

    # -- UserAgent input ---------------------------------------------------------------------
    def request_input(self, agent: Any, hint: str = "", timeout: float | None = None) -> str:
        """Ask the Studio's page for an agent's turn and wait for the text typed there."""
        import requests

        sio = self._socket()
        self.flush(2.0)  # the conversation so far reaches the page before the question
        request_id = uuid.uuid4().hex
        answers: queue.Queue[Any] = queue.Queue(1)
        self._answers[request_id] = answers
        name = str(getattr(agent, "name", "") or "User")
        body = {"requestId": request_id, "runId": self.run_id,
                "agentId": str(getattr(agent, "id", "") or name), "agentName": name,
                "hint": hint, "structuredInput": None}
        try:
            for attempt in range(self.retries + 1):
                try:
                    response = requests.post(self.url + "/trpc/requestUserInput", json=body,
                                             timeout=self.timeout)
                    response.raise_for_status()
                    break
                except Exception as exc:
                    if attempt == self.retries:
                        raise StudioError(f"UserAgent '{name}': the Studio at {self.url} did "
                                          f"not take the input request ({exc})") from None
                    time.sleep(self.backoff * 2**attempt)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    blocks = answers.get(timeout=1.0)
                    break
                except queue.Empty:
                    if not sio.connected:
                        raise StudioError(f"UserAgent '{name}': the connection to the Studio "
                                          f"at {self.url} was lost") from None
                    if deadline is not None and time.monotonic() > deadline:
                        raise StudioError(f"UserAgent '{name}': no input from the Studio "
                                          f"within {timeout:g} s") from None
        finally:
            self._answers.pop(request_id, None)
        return "\n".join(str(b.get("text", "")) for b in blocks or []
                         if isinstance(b, dict) and b.get("type", "text") == "text")

    def _socket(self) -> Any:
        """The socket.io connection that carries the answers (opened on the first turn)."""
        if self._sio is not None and self._sio.connected:
            return self._sio
        try:
            import socketio
        except ImportError:
            raise StudioError("input from the Studio needs python-socketio: pip install "
                              "\"agentscope-legacy[studio]\"") from None
        sio = socketio.Client(reconnection=True, reconnection_attempts=3)

        def forward(request_id: Any, blocks: Any = None, _structured: Any = None) -> None:
            answers = self._answers.get(str(request_id))
            if answers is not None:
                answers.put(blocks if isinstance(blocks, list) else [])

        sio.on("forwardUserInput", forward, namespace="/python")
        try:
            sio.connect(self.url, namespaces=["/python"], auth={"run_id": self.run_id},
                        wait_timeout=self.timeout)
        except Exception as exc:
            raise StudioError(f"cannot connect to the Studio at {self.url} for input "
                              f"({type(exc).__name__}: {exc})") from None
        self._sio = sio
        return sio


class _Redacted(dict):
    """A push body already redacted where it needs to be."""
