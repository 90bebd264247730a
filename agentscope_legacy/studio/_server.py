"""The built-in Studio: a FastAPI app that lists the runs of a save directory, shows one run
(transcript, live replies, usage, invocation records, audio) and takes the pushes of running
scripts (``/trpc/...``, this project's client and AgentScope 0.1.x alike).

::

    app = create_studio_app("./runs")   # served by ``agentscope-legacy studio``

Routes: ``GET /`` the page; ``GET /api/runs``, ``GET /api/runs/{id}``,
``GET /api/runs/{id}/audio/{file}``; ``GET /api/events`` (server-sent events: every push as it
arrives); ``POST /api/runs/{id}/input`` (the page's answer to a UserAgent); the write routes of
0.1.x: ``/trpc/registerRun``, ``/trpc/pushMessage``, ``/trpc/pushModelInvocation``,
``/trpc/requestUserInput`` and 0.1.0-0.1.4's ``/api/messages/push``. With python-socketio
installed, socket.io (namespace ``/python``, ``auth={"run_id": ...}``) carries the answers to
the scripts as 0.1.6 expects (event ``forwardUserInput``).

Bad pushes are answered, never raised: 400 for malformed JSON or fields, 413 over
``max_push_bytes``, 403 for a page of another origin on a write route.

The routes a running script hits per reply (the ``/trpc/...`` pushes) and the event stream
the page holds open are plain ASGI (:class:`_HotRoutes`), in front of FastAPI: FastAPI's
middleware, routing and response layers cost more than the push itself, and the Studio
shares the run's cores (``benchmarks/studio.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from loguru import logger

from .._secrets import redact
from .._web import PAGE_HEADERS, origin_allowed
from ._runs import (
    _RUN_ID,
    StudioPathError,
    audio_path,
    list_runs,
    message_view,
    read_invocations,
    read_run,
    read_usage,
)

__all__ = ["STATIC_DIR", "create_studio_app"]

STATIC_DIR = Path(__file__).parent / "static"
_MAX_MESSAGES, _MAX_INVOCATIONS, _MAX_LIVE_RUNS = 10_000, 10_000, 1_000
_AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
                ".flac": "audio/flac"}


class _Live:
    """What the scripts pushed, per run id, and the pages listening for it."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.subscribers: set[asyncio.Queue[str | None]] = set()

    def run(self, run_id: str) -> dict[str, Any]:
        live = self.runs.get(run_id)
        if live is None:
            if len(self.runs) >= _MAX_LIVE_RUNS:  # forget the oldest
                self.runs.pop(next(iter(self.runs)))
            live = self.runs[run_id] = {"run": {"id": run_id, "status": "running"},
                                        "messages": {}, "invocations": [], "inputs": {}}
        return live

    def broadcast(self, kind: str, run_id: str, data: Any) -> None:
        text = json.dumps({"type": kind, "runId": run_id, "data": data, "at": time.time()},
                          ensure_ascii=False, default=str)
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:  # a page that does not read: close it, it reconnects
                self.subscribers.discard(queue)
                _end(queue)


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise HTTPException(400, f"field {key!r} must be a non-empty string")
    return str(value)


def _run_id(body: dict[str, Any], key: str) -> str:
    run_id = _text(body, key)
    if not _RUN_ID.match(run_id):
        raise HTTPException(400, f"field {key!r} is not a run id")
    return run_id


def _usage_rows(invocations: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Usage per (config, model) from pushed invocation records."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in invocations:
        key = (str(record.get("configName", "")), str(record.get("modelName", "")))
        row = rows.setdefault(key, {"config_name": key[0], "model_name": key[1], "calls": 0,
                                    "failures": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                    "total_tokens": 0})
        usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
        row["calls"] += 1
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(name)
            row[name] += value if isinstance(value, int) else 0
    return [rows[k] for k in sorted(rows)]


def create_studio_app(save_dir: str | Path = "./runs", *, max_push_bytes: int = 1 << 20,
                      allowed_origins: Iterable[str] = ()) -> Any:
    """The Studio's ASGI app over ``save_dir`` (the FastAPI app, wrapped by socket.io when
    python-socketio is installed; ``app.state.live`` in either case)."""
    root = Path(save_dir).expanduser()
    extra_origins = {origin.rstrip("/").lower() for origin in allowed_origins}
    live = _Live()
    app = FastAPI(title="agentscope-legacy studio", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.live = live
    sio = _socketio_server()

    async def body_of(headers: Mapping[str, str], chunks: AsyncIterator[bytes]
                      ) -> dict[str, Any]:
        if not origin_allowed(headers, extra_origins):
            raise HTTPException(403, "origin not allowed")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_push_bytes):
            raise HTTPException(413, f"a push is limited to {max_push_bytes} bytes")
        raw = b""
        async for part in chunks:
            raw += part
            if len(raw) > max_push_bytes:
                raise HTTPException(413, f"a push is limited to {max_push_bytes} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        return body

    @app.exception_handler(StudioPathError)
    async def _bad_path(_request: Request, exc: StudioPathError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/runs")
    async def runs() -> list[dict[str, Any]]:
        found = {r["id"]: r for r in await asyncio.to_thread(list_runs, root)}
        for run_id, state in live.runs.items():
            found[run_id] = {**found.get(run_id, {"models": [], "tokens": 0, "calls": 0,
                                                  "cost": None}), **state["run"]}
            usage = _usage_rows(state["invocations"])
            if usage:
                found[run_id]["models"] = sorted({u["model_name"] for u in usage})
                found[run_id]["tokens"] = sum(u["total_tokens"] for u in usage)
        return sorted(found.values(), key=lambda r: (str(r.get("timestamp", "")), r["id"]),
                      reverse=True)

    async def saved(read: Callable[[Path, str], Any], run_id: str, empty: Any) -> Any:
        """What ``read`` finds of the run in the save directory; ``empty`` for a run known only
        from its pushes (no directory here); a StudioPathError (404) for neither."""
        try:
            return await asyncio.to_thread(read, root, run_id)
        except StudioPathError:
            if run_id not in live.runs:
                raise
            return empty

    @app.get("/api/runs/{run_id}")
    async def run(run_id: str) -> dict[str, Any]:
        found = await saved(read_run, run_id,
                            {"run": {}, "messages": [], "usage": [], "invocations": []})
        state = live.runs.get(run_id)
        if state is None:
            return {**found, "inputs": []}
        # Live: the pushed messages (replies still growing among them) after the saved ones.
        seen = {m["id"] for m in found["messages"]}
        messages = found["messages"] + [m for m in state["messages"].values()
                                        if m["id"] not in seen]
        return {"run": {**found["run"], **state["run"]}, "messages": messages,
                "usage": found["usage"] or _usage_rows(state["invocations"]),
                "invocations": found["invocations"] or state["invocations"],
                "inputs": list(state["inputs"].values())}

    @app.get("/api/runs/{run_id}/usage")
    async def usage(run_id: str) -> list[dict[str, Any]]:
        """The usage table alone (polled by the page after each invocation)."""
        state = live.runs.get(run_id)
        return (await saved(read_usage, run_id, [])
                or (_usage_rows(state["invocations"]) if state is not None else []))

    @app.get("/api/runs/{run_id}/invocations/{index}")
    async def invocation(run_id: str, index: int) -> dict[str, Any]:
        """One invocation record, whole (the page's events carry it without its arguments
        and response): a live run's pushed one, else the saved one."""
        state = live.runs.get(run_id)
        if state is not None and 0 <= index < len(state["invocations"]):
            return state["invocations"][index]
        records = await saved(read_invocations, run_id, [])
        if not 0 <= index < len(records):
            raise HTTPException(404, "no such invocation")
        return records[index]

    @app.get("/api/runs/{run_id}/audio/{name}")
    async def audio(run_id: str, name: str) -> FileResponse:
        path = audio_path(root, run_id, name)
        # Python's table says audio/x-wav for .wav; browsers and the run's own files say wav.
        return FileResponse(path, headers=PAGE_HEADERS,
                            media_type=_AUDIO_TYPES.get(path.suffix.lower()))

    # The write routes of the scripts: each takes the pushed JSON object (see _HotRoutes).
    def register_run(body: dict[str, Any]) -> None:
        run_id = _run_id(body, "id")
        info = {"id": run_id, "status": _text(body, "status", required=False) or "running"}
        for key in ("project", "name", "timestamp"):
            if isinstance(body.get(key), str):
                info[key] = body[key][:200]
        state = live.run(run_id)
        state["run"].update(info)
        live.broadcast("run", run_id, state["run"])

    def add_message(run_id: str, key: str, view: dict[str, Any], last: Any) -> None:
        state = live.run(run_id)
        messages = state["messages"]
        if key not in messages and len(messages) >= _MAX_MESSAGES:
            raise HTTPException(413, f"a run shows at most {_MAX_MESSAGES} messages")
        view = {**view, "id": key, "last": bool(last) if last is not None else None}
        messages[key] = view
        live.broadcast("message", run_id, view)

    def push_message(body: dict[str, Any]) -> None:
        run_id = _run_id(body, "runId")
        msg = body.get("msg")
        if not isinstance(msg, dict):
            raise HTTPException(400, "field 'msg' must be an object")
        key = str(msg.get("id") or _text(body, "replyId"))
        view = message_view(redact(msg))
        if not view["name"] and isinstance(body.get("name"), str):
            view["name"] = body["name"]
        if isinstance(body.get("spokenAt"), (int, float)):  # this project's client: latency
            view["spokenAt"] = float(body["spokenAt"])
        add_message(run_id, key, view, body.get("last"))

    def push_message_01(body: dict[str, Any]) -> None:  # 0.1.0-0.1.4
        run_id = _run_id(body, "run_id")
        view = message_view(redact({k: body.get(k) for k in
                                    ("id", "name", "role", "content", "url", "timestamp")}))
        add_message(run_id, _text(body, "id"), view, None)

    def push_invocation(body: dict[str, Any]) -> None:
        run_id = _run_id(body, "runId")
        state = live.run(run_id)
        if len(state["invocations"]) >= _MAX_INVOCATIONS:
            raise HTTPException(413, f"a run shows at most {_MAX_INVOCATIONS} invocations")
        record = redact({k: body.get(k) for k in ("id", "timestamp", "modelName", "modelType",
                                                  "configName", "arguments", "response",
                                                  "usage")})
        state["invocations"].append(record)
        # The page gets the record without its arguments and response (the prompt grows with
        # the conversation: whole records would make a run's events grow with its square);
        # it fetches them by index when the record is opened.
        live.broadcast("invocation", run_id, {
            **{k: v for k, v in record.items() if k not in ("arguments", "response")},
            "index": len(state["invocations"]) - 1})

    def request_user_input(body: dict[str, Any]) -> None:
        run_id = _run_id(body, "runId")
        request_id = _text(body, "requestId")
        state = live.run(run_id)
        if len(state["inputs"]) >= 100:
            raise HTTPException(429, "too many open input requests for this run")
        item = {"requestId": request_id, "agentId": _text(body, "agentId", required=False),
                "agentName": _text(body, "agentName", required=False),
                "hint": body.get("hint") if isinstance(body.get("hint"), str) else ""}
        state["inputs"][request_id] = item
        live.broadcast("input", run_id, item)

    @app.post("/api/runs/{run_id}/input")
    async def answer_input(run_id: str, request: Request) -> dict[str, Any]:
        body = await body_of(request.headers, request.stream())
        request_id = _text(body, "requestId")
        text = body.get("text")
        if not isinstance(text, str):
            raise HTTPException(400, "field 'text' must be a string")
        state = live.runs.get(run_id)
        if state is None or request_id not in state["inputs"]:
            raise HTTPException(404, "no such input request")
        if sio is None:
            raise HTTPException(501, "answering needs python-socketio on the Studio's side")
        if not sio.manager.rooms.get("/python", {}).get(run_id):
            raise HTTPException(409, "the run is not connected to the Studio")
        state["inputs"].pop(request_id)
        await sio.emit("forwardUserInput", (request_id, [{"type": "text", "text": text}], None),
                       to=run_id, namespace="/python")
        live.broadcast("input_done", run_id, {"requestId": request_id})
        return {"ok": True}

    hot = _HotRoutes(app, live, body_of, {
        "/trpc/registerRun": register_run, "/trpc/pushMessage": push_message,
        "/trpc/pushModelInvocation": push_invocation,
        "/trpc/requestUserInput": request_user_input, "/api/messages/push": push_message_01})
    if sio is None:
        return hot
    import socketio

    @sio.on("connect", namespace="/python")
    async def connect(sid: str, _environ: dict[str, Any], auth: Any = None) -> bool:
        run_id = auth.get("run_id") if isinstance(auth, dict) else None
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            return False  # refused: a script says which run it is
        await sio.enter_room(sid, run_id, namespace="/python")
        return True

    wrapped = socketio.ASGIApp(sio, other_asgi_app=hot)
    wrapped.state = app.state  # type: ignore[attr-defined]
    return wrapped


# "batch": this Studio also takes tRPC batches (see _HotRoutes._batch); this project's client
# reads it from registerRun's answer and then sends what goes together as one request.
_OK = b'{"ok":true,"batch":true}'
_MAX_BATCH = 64  # calls in one batch request
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff")]
_PING_S = 15.0


class _HotRoutes:
    """Plain ASGI in front of the FastAPI app for what is hit per reply: the scripts' POST
    pushes (``pushes``: path -> a function of the JSON object, raising HTTPException to
    refuse it) and the page's ``GET /api/events``; everything else goes to ``app``."""

    def __init__(self, app: Any, live: _Live,
                 body_of: Callable[[Mapping[str, str], AsyncIterator[bytes]],
                                   Awaitable[dict[str, Any]]],
                 pushes: dict[str, Callable[[dict[str, Any]], None]]) -> None:
        self.app, self.live, self.body_of, self.pushes = app, live, body_of, pushes
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path and path.startswith("/trpc/") and _is_batch(scope.get("query_string", b"")):
            await self._batch(path[len("/trpc/"):].split(","), scope, receive, send)
        elif path in self.pushes:
            await self._push(self.pushes[path], scope, receive, send)
        elif path == "/api/events" and scope["method"] == "GET":
            await self._events(receive, send)
        else:
            await self.app(scope, receive, send)

    async def _push(self, handle: Callable[[dict[str, Any]], None], scope: dict[str, Any],
                    receive: Any, send: Any) -> None:
        status, body = 200, _OK
        if scope["method"] != "POST":
            status, body = 405, b'{"detail":"Method Not Allowed"}'
        else:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope["headers"]}
            try:
                handle(await self.body_of(headers, _chunks(receive)))
            except HTTPException as exc:
                status, body = exc.status_code, json.dumps({"detail": exc.detail}).encode()
            except Exception:  # a push must never take the server down
                logger.exception("a push to {} failed", scope["path"])
                status, body = 500, b'{"detail":"Internal Server Error"}'
        await _answer(send, status, body)

    async def _batch(self, names: list[str], scope: dict[str, Any], receive: Any,
                     send: Any) -> None:
        """tRPC's batch: ``POST /trpc/a,b?batch=1`` with ``{"0": a's input, "1": b's}``; each
        call is handled as its own push would be, in order, and answered in a JSON array (a
        result or an error with its ``httpStatus``); the status is the calls' one if they
        agree, else 207, as tRPC answers."""
        if scope["method"] != "POST":
            return await _answer(send, 405, b'{"detail":"Method Not Allowed"}')
        if len(names) > _MAX_BATCH:
            return await _answer(send, 413, json.dumps(
                {"detail": f"a batch is limited to {_MAX_BATCH} calls"}).encode())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            inputs = await self.body_of(headers, _chunks(receive))
        except HTTPException as exc:
            return await _answer(send, exc.status_code, json.dumps({"detail": exc.detail}).encode())
        answers, codes = [], []
        for i, name in enumerate(names):
            code, detail = 200, ""
            try:
                handle = self.pushes.get("/trpc/" + name)
                if handle is None:
                    raise HTTPException(404, f"no procedure {name[:60]!r}")
                item = inputs.get(str(i))
                if not isinstance(item, dict):
                    raise HTTPException(400, f"input {i} must be a JSON object")
                handle(item)
            except HTTPException as exc:
                code, detail = exc.status_code, str(exc.detail)
            except Exception:  # a call must never take the server down
                logger.exception("a batched push to {} failed", name[:60])
                code, detail = 500, "Internal Server Error"
            codes.append(code)
            answers.append({"result": {"data": {"ok": True}}} if code == 200 else
                           {"error": {"message": detail, "data": {"httpStatus": code,
                                                                  "path": name[:60]}}})
        status = codes[0] if len(set(codes)) == 1 else 207
        await _answer(send, status, json.dumps(answers).encode())

    async def _events(self, receive: Any, send: Any) -> None:
        """Every broadcast as a server-sent event; what arrived together goes in one write."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=5000)
        self.live.subscribers.add(queue)
        tasks = [asyncio.ensure_future(_until_gone(receive, queue)),
                 asyncio.ensure_future(_ping(queue))]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE})
            await send({"type": "http.response.body", "body": b": connected\n\n",
                        "more_body": True})
            while True:
                item = await queue.get()  # an event, "" (a ping) or None (the end)
                frames, ended = [], item is None
                while not ended:
                    frames.append(f"data: {item}\n\n" if item else ": ping\n\n")
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                    ended = item is None
                if frames:
                    await send({"type": "http.response.body", "more_body": True,
                                "body": "".join(frames).encode("utf-8")})
                if ended:
                    break
            await send({"type": "http.response.body", "body": b""})
        except OSError:  # the page went away mid-write
            pass
        finally:
            self.live.subscribers.discard(queue)
            for task in tasks:
                task.cancel()


async def _answer(send: Any, status: int, body: bytes) -> None:
    """A whole JSON response."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _is_batch(query: bytes) -> bool:
    return b"batch=1" in query.split(b"&")


async def _chunks(receive: Any) -> AsyncIterator[bytes]:
    """A request's body as the ASGI server hands it over."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away: what came is all there is
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def _ping(queue: asyncio.Queue[str | None]) -> None:
    """A comment line on a quiet stream now and then: writing it finds a page that has gone."""
    while True:
        await asyncio.sleep(_PING_S)
        if queue.empty():
            queue.put_nowait("")


async def _until_gone(receive: Any, queue: asyncio.Queue[str | None]) -> None:
    """Wait for the page to disconnect, then end its event stream."""
    while (await receive())["type"] != "http.disconnect":
        pass
    _end(queue)


def _end(queue: asyncio.Queue[str | None]) -> None:
    """End an event stream now: what it has not sent yet is dropped, then its end mark."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


def _socketio_server() -> Any:
    try:
        import socketio
    except ImportError:
        return None
    # Same-origin pages and scripts (no Origin) only: socket.io's own default.
    return socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
