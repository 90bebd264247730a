"""The Studio client: what ``init(studio_url=...)`` sets up, 0.1.x's contract.

It registers the run (``/trpc/registerRun``), pushes every spoken message and stream chunk
(``/trpc/pushMessage``, one reply id per response so that chunks replace each other), every
model invocation (``/trpc/pushModelInvocation``, redacted as every saved record is) and takes
UserAgent turns from the Studio (``/trpc/requestUserInput``, the answer comes back as the
socket.io event ``forwardUserInput`` on namespace ``/python``, as 0.1.6 does).

Pushing never blocks the run: the speaking thread only stores the newest text of a reply
(chunks of one reply coalesce) or appends to a bounded queue; one background thread posts,
retrying with backoff. What goes together (a reply's end and its invocation) is one tRPC batch
request (``/trpc/pushMessage,pushModelInvocation?batch=1``) where registerRun's answer says
the Studio takes batches (the built-in one does); else each push is a request of its own, as
0.1.x sends them. A Studio that is down or goes away gives one warning and the run goes
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
        self._batch = False  # whether the Studio takes tRPC batches (registerRun says)
        self._cond = threading.Condition()
        # [route, payload or its builder, when it is due]: an invocation waits for the next
        # push that goes anyway (a reply's tick or last chunk) or ``interval``, whichever
        # comes first, so that the end of a reply is one write, not two.
        self._queue: deque[list[Any]] = deque()
        self._replies: dict[str, _Reply] = {}  # reply id -> what the run has spoken of it
        self._pieces: set[str] = set()  # ids of replies spoken piece by piece (log_deltas)
        self._busy = False
        self._closed = False
        self._final: dict[str, Any] | None = None  # the run's last registerRun, sent last
        self._down_until = 0.0
        self._warned = False
        self._sio: Any = None
        self._answers: dict[str, queue.Queue[Any]] = {}
        self._enqueue("/trpc/registerRun", {**self.run, "status": "running"}, now=True)
        self._thread = threading.Thread(target=self._work, name="studio-client", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the run's side: never blocks --------------------------------------------------------
    def _enqueue(self, route: str, item: Any, now: bool = False) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self.max_pending:
                self.dropped += 1
                return
            self._queue.append([route, item, 0.0 if now else time.monotonic() + self.interval])
            if now or not self._replies:  # else the worker wakes for a reply's tick anyway
                self._cond.notify()

    def on_speak(self, msg: Any, last: bool) -> None:
        """A ``logging.speak_listeners`` entry: one printed message or stream chunk.

        This runs for every chunk on the run's thread, so a chunk of a known reply costs a
        lookup and a store: nothing is copied, scrubbed or sent here. The worker reads the
        reply's newest text when it sends (a ``log_deltas`` reply's pieces only grow, so the
        worker counts them itself), which is how chunks of one reply coalesce."""
        key = msg.id
        if not last and key in self._pieces:
            return
        reply = self._replies.get(key)
        if reply is not None:
            if reply.parts is None:
                reply.content = msg.content  # the Msg is reused: keep its text of now
            if last:
                reply.last = True  # after the text: the worker reads ``last`` first
                with self._cond:
                    self._cond.notify()  # the last chunk goes out now, not at the next tick
            return
        parts = getattr(msg, "parts", None)
        reply = _Reply(msg, parts, last, self.interval)
        with self._cond:  # a reply's first chunk: once per reply
            if self._closed:
                return
            if len(self._replies) + len(self._queue) >= self.max_pending:
                self.dropped += 1
                return
            self._replies[key] = reply
            if parts is not None and not last:
                self._pieces.add(key)
            self._cond.notify()

    # log_deltas calls it for a reply's first piece and its end only: the worker counts parts.
    on_speak.speak_pieces = False  # type: ignore[attr-defined]

    def push_invocation(self, build: Callable[[], dict[str, Any]]) -> None:
        """One model call as 0.1.x's ``pushModelInvocation`` body; ``build()`` makes the
        record (``invocations.jsonl``'s fields, ``arguments`` and ``response`` redacted as
        that file's are) in the worker, off the run's thread."""

        def body() -> dict[str, Any]:
            record = build()
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
                while True:
                    batch, wait = self._take()
                    if batch or (self._closed and not self._replies and not self._queue):
                        break
                    self._cond.wait(wait)
                self._busy = bool(batch)
            if not batch:
                break
            try:
                if time.monotonic() >= self._down_until:
                    self._post_all(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        final, self._final = self._final, None
        if final is not None and time.monotonic() >= self._down_until:
            self._post_all([("/trpc/registerRun", final)])

    def _take(self) -> tuple[list[tuple[str, Any]], float | None]:
        """What goes now, and how long to wait for the next push when nothing does; called
        holding the lock. Once anything is due (a queued push, a reply's tick, a last chunk),
        every queued push goes with it, then every due reply's newest text."""
        now = time.monotonic()
        closing = self._closed
        dues = [due for _, _, due in self._queue]
        dues += [0.0 if reply.last else reply.due for reply in self._replies.values()]
        if not dues:
            return [], None
        if not closing and min(dues) > now:
            return [], min(dues) - now
        batch = [(route, item) for route, item, _ in self._queue]
        self._queue.clear()
        for key, reply in list(self._replies.items()):
            last = reply.last  # before the text (the run writes the text first)
            if not (last or closing) and reply.due > now:
                continue
            body = self._message_body(reply, last or closing)
            if body is not None:
                batch.append(("/trpc/pushMessage", body))
            if last or closing:
                del self._replies[key]
                self._pieces.discard(key)
            else:
                reply.due = now + self.interval  # the next chunks coalesce meanwhile
        return batch, None

    def _message_body(self, reply: _Reply, last: bool) -> _Redacted | None:
        """The reply's newest text as a ``pushMessage`` body (scrubbed as it is sent); None
        when nothing changed since the last push."""
        if reply.parts is not None:
            count = len(reply.parts)
            if count == reply.sent and not last:
                return None
            reply.sent = count
            text: Any = "".join(reply.parts[:count])
        else:
            text = reply.content
            if text is reply.sent and not last:
                return None
            reply.sent = text
        if not isinstance(text, str):  # content blocks, a dict: secret-named fields masked
            text = redact(text)  # (known keys in any text: the whole body is scrubbed)
        name, role, url, timestamp = reply.head
        return _Redacted({"runId": self.run_id, "replyId": reply.key, "name": name,
                          "role": role, "last": last,
                          "msg": {"id": reply.key, "name": name, "role": role,
                                  "content": text, "url": url, "timestamp": timestamp}})

    def _post_all(self, batch: list[tuple[str, Any]]) -> None:
        """Send a batch pipelined: every request in one write, then their answers in order;
        retried with backoff from the first unanswered one."""
        items = []
        for route, item in batch:
            try:
                items.append((route, item() if callable(item) else item))
            except Exception as exc:  # a record that cannot be built: that push only
                self._warn(f"a push to {route} could not be built ({type(exc).__name__})")
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                items = self._send(items)
                if not items:
                    return
                error = RuntimeError("HTTP 5xx")
            except Exception as exc:  # connection refused, reset, timeout
                error = exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        # Down: skip pushes for a while, then try again (a Studio may come back).
        self._down_until = time.monotonic() + 5.0
        self._warn(f"the Studio at {self.url} is not reachable ({type(error).__name__}); the "
                   "run goes on without it")

    def _send(self, items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """POST the items on the keep-alive connection, all in one write (those that go
        together as one tRPC batch request where the Studio takes batches); returns the
        items to send again: those answered 5xx or 429, then every one left unanswered."""
        if self._conn is None:
            self._conn = connect(self.url, self.timeout)
            self._prefix = urlsplit(self.url).path
        requests = self._requests(items)
        again: list[tuple[str, Any]] = []
        answered = 0
        buffer = bytearray()
        try:
            self._conn.sendall(b"".join(data for data, _ in requests))
            for _, group in requests:
                status, text, keep = read_response(self._conn, buffer=buffer)
                codes = [status] if len(group) == 1 else _batch_codes(status, text, len(group))
                for (route, payload), code in zip(group, codes, strict=True):
                    if code >= 500 or code == 429:
                        again.append((route, payload))
                    elif code >= 400:  # ours is wrong: say so, once
                        self._warn(f"the Studio refused a push to {route}: {code} "
                                   f"{text[:200].decode('utf-8', 'replace')}")
                    elif route == "/trpc/registerRun" and len(group) == 1:
                        self._batch = _takes_batches(text)  # its own answer, not a batch's
                answered += 1
                if not keep:
                    break
        except Exception:
            self._drop()
            if not answered:
                raise
        left = [item for _, group in requests[answered:] for item in group]
        if again or left:
            self._drop()
        return again + left

    def _requests(self, items: list[tuple[str, Any]]) -> list[tuple[bytes, list[Any]]]:
        """Each item's POST, or, where the Studio takes batches, one per run of up to
        ``_BATCH_ITEMS`` tRPC items (about ``_BATCH_BYTES``) with its items."""
        bodies = []
        for _, payload in items:
            if not isinstance(payload, _Redacted):
                payload = redact(payload)
            # One pass over exactly what is sent: no known key leaves, whatever built it.
            bodies.append(scrub(json.dumps(payload, ensure_ascii=False, default=str))
                          .encode("utf-8"))
        requests: list[tuple[bytes, list[Any]]] = []
        group: list[int] = []

        def close_group() -> None:
            if len(group) == 1:
                (i,) = group
                requests.append((request_bytes(self._host, self._prefix + items[i][0],
                                               bodies[i]), [items[i]]))
            elif group:
                names = ",".join(items[i][0][len("/trpc/"):] for i in group)
                body = b"{" + b",".join(b'"%d":' % n + bodies[i]
                                        for n, i in enumerate(group)) + b"}"
                requests.append((request_bytes(self._host,
                                               f"{self._prefix}/trpc/{names}?batch=1", body),
                                 [items[i] for i in group]))
            group.clear()

        size = 0
        for i, (route, _) in enumerate(items):
            if not (self._batch and route.startswith("/trpc/")):
                close_group()
                group.append(i)
                close_group()
                continue
            if group and (len(group) >= _BATCH_ITEMS or size + len(bodies[i]) > _BATCH_BYTES):
                close_group()
                size = 0
            group.append(i)
            size += len(bodies[i])
        close_group()
        return requests

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
                pending = self._busy or bool(self._queue) or any(
                    r.changed() for r in self._replies.values())
                if pending:  # what is spoken and queued so far goes now
                    for item in self._queue:
                        item[2] = 0.0
                    for reply in self._replies.values():
                        reply.due = 0.0
                    self._cond.notify_all()
            if not pending:
                return True
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.005)

    def close(self, status: str = "finished", timeout: float = 3.0) -> None:
        """Send what is queued and the run's final status, then stop (bounded by ``timeout``)."""
        if self._closed:
            return
        with self._cond:
            self._final = {**self.run, "status": status}
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


_BATCH_ITEMS = 32
_BATCH_BYTES = 256 << 10  # well under the built-in Studio's 1 MiB per request


def _takes_batches(text: bytes) -> bool:
    """Whether a registerRun answer says the Studio takes tRPC batches (the built-in one
    does; AgentScope's answers with tRPC's result and is sent one push per request)."""
    try:
        answer = json.loads(text)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("batch") is True


def _batch_codes(status: int, text: bytes, count: int) -> list[int]:
    """Each call's status in a tRPC batch answer (an array of results and errors); the
    request's status for all of them when the answer is not that array."""
    try:
        answers = json.loads(text)
    except ValueError:
        answers = None
    if not isinstance(answers, list) or len(answers) != count:
        return [status if status >= 400 else 502] * count
    codes = []
    for answer in answers:
        error = answer.get("error") if isinstance(answer, dict) else {"data": None}
        if error is None:
            codes.append(200)
            continue
        data = error.get("data") if isinstance(error, dict) else None
        code = data.get("httpStatus") if isinstance(data, dict) else None
        codes.append(code if isinstance(code, int) else 500)
    return codes


class _Redacted(dict):
    """A push body already redacted where it needs to be."""


class _Reply:
    """One reply as the run speaks it: its fixed fields, its newest text (``parts``, which
    only grows, or ``content``), whether its last chunk came, and what was pushed of it."""

    __slots__ = ("content", "due", "head", "key", "last", "parts", "sent")

    def __init__(self, msg: Any, parts: list[str] | None, last: bool, interval: float) -> None:
        self.key = msg.id
        self.head = (msg.name, msg.role, msg.url, msg.timestamp)
        self.parts = parts
        self.content = None if parts is not None else msg.content
        self.last = last
        self.due = time.monotonic() + interval  # a short reply is pushed once, whole
        self.sent: Any = -1 if parts is not None else _UNSENT

    def changed(self) -> bool:
        if self.parts is not None:
            return len(self.parts) != self.sent
        return self.content is not self.sent


_UNSENT = object()
