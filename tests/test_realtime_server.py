"""The voice backend (``realtime._server``) on the wire: a real uvicorn on 127.0.0.1, a
``websockets`` client as the page, RealtimeAgent over a small fake model (below) or over the
real OpenAIRealtimeModel and its loopback emulator; and ``voice serve`` as a process.

Every test also checks that nothing escaped the server (uvicorn logged no error).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from agentscope_legacy.errors import AuthenticationError  # noqa: E402
from agentscope_legacy.realtime import ModelEvents, RealtimeModelBase  # noqa: E402
from agentscope_legacy.realtime._server import create_app, uvicorn_options  # noqa: E402

KEY = "sk-voice-server-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0


# -- a fake realtime model ----------------------------------------------------------------------
def tone(seconds: float, rate: int = 16000, amp: int = 8000, freq: float = 440.0) -> bytes:
    n = int(seconds * rate)
    return array("h", (int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
                 ).tobytes()  # fmt: skip


def _rms(pcm: bytes) -> float:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


class EchoRealtimeModel(RealtimeModelBase):
    """A fake provider behind the real base class: its "socket" is a queue of event lists.

    Text (or ``create_response``) is answered with ``reply``: transcript and 24 kHz audio
    deltas in ``chunks`` steps ``delay`` apart. Audio goes through an energy VAD: loud input
    starts a turn, ``quiet_ms`` of quiet ends it with an input transcription
    (``heard <seconds> s``) and an answer. ``drop_after``: the socket drops after that many
    audio deltas; ``fail_connect``: the handshake is refused (with the key in the message).
    """

    model_type = "echo_realtime"
    provider = "echo"
    input_sample_rate = 16000
    output_sample_rate = 24000
    instances: list[EchoRealtimeModel] = []

    def __init__(self, *, api_key: str | None = KEY, reply: str = "Hello there, I am Echo.",
                 chunks: int = 4, delay: float = 0.01, drop_after: int | None = None,
                 fail_connect: bool = False, quiet_ms: int = 300) -> None:
        super().__init__("echo-1", api_key=api_key, response_timeout=5)
        self.reply, self.chunks, self.delay = reply, chunks, delay
        self.drop_after, self.fail_connect, self.quiet_ms = drop_after, fail_connect, quiet_ms
        self.instructions = ""
        self.texts: list[str] = []
        self.audio_chunks: list[int] = []  # bytes of each audio chunk received
        self.cancels = 0
        self.closed = False
        self._raw: asyncio.Queue[Any] | None = None
        self._answer: asyncio.Task[None] | None = None
        self._turn = 0
        self._speech_ms = self._quiet = 0.0
        self._speaking = False
        EchoRealtimeModel.instances.append(self)

    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        if self.fail_connect:
            raise self._error(AuthenticationError, f"invalid key {self._api_key}", status=401)
        self.instructions = instructions
        self._raw = asyncio.Queue()
        self._raw.put_nowait([ModelEvents.ModelSessionCreatedEvent(session_id=self.session_id)])

    async def _close(self) -> None:
        self.closed = True
        if self._answer is not None:
            self._answer.cancel()
        if self._raw is not None:
            self._raw.put_nowait(None)

    async def _receive(self) -> Any:
        assert self._raw is not None
        while (item := await self._raw.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _parse(self, raw: Any) -> list[Any]:
        return raw

    def _push(self, *events: Any) -> None:
        assert self._raw is not None
        self._raw.put_nowait(list(events))

    async def _send_text(self, text: str) -> None:
        self.texts.append(text)
        self._start_answer()

    async def _create_response(self) -> None:
        self._start_answer()

    async def _commit_audio(self) -> None:
        self._end_turn()

    async def _cancel_response(self) -> None:
        self.cancels += 1
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()

    async def _send_audio(self, pcm: bytes) -> None:
        self.audio_chunks.append(len(pcm))
        ms = len(pcm) / 2 / self.input_sample_rate * 1000
        loud = _rms(pcm) > 300
        if loud and not self._speaking:
            self._speaking, self._speech_ms, self._quiet = True, 0.0, 0.0
            self._turn += 1
            self._push(ModelEvents.ModelInputStartedEvent(item_id=f"in-{self._turn}"))
        if self._speaking:
            self._speech_ms += ms
            self._quiet = 0.0 if loud else self._quiet + ms
            if self._quiet >= self.quiet_ms:
                self._end_turn()

    def _end_turn(self) -> None:
        self._speaking = False
        item = f"in-{self._turn}"
        heard = f"heard {(self._speech_ms - self._quiet) / 1000:.1f} s"
        self._push(ModelEvents.ModelInputDoneEvent(item_id=item),
                   ModelEvents.ModelInputTranscriptionDeltaEvent(item_id=item, delta=heard),
                   ModelEvents.ModelInputTranscriptionDoneEvent(item_id=item, transcript=heard))
        self._start_answer()

    def _start_answer(self) -> None:
        if self._answer is None or self._answer.done():
            self._answer = asyncio.create_task(self._speak())

    async def _speak(self) -> None:
        rid = f"resp-{len(self.texts)}-{self._turn}-{time.monotonic_ns()}"
        ev = ModelEvents
        self._push(ev.ModelResponseCreatedEvent(response_id=rid))
        words = self.reply.split(" ")
        per = max(1, math.ceil(len(words) / self.chunks))
        audio = base64.b64encode(tone(0.1, 24000)).decode()
        sent = 0
        try:
            for i in range(self.chunks):
                piece = " ".join(words[i * per:(i + 1) * per])
                self._push(
                    ev.ModelResponseAudioTranscriptDeltaEvent(
                        response_id=rid, item_id="out", delta=(" " if i and piece else "") + piece),
                    ev.ModelResponseAudioDeltaEvent(
                        response_id=rid, item_id="out", delta=audio,
                        format={"encoding": "pcm16", "sample_rate": 24000}))
                sent += 1
                if self.drop_after is not None and sent >= self.drop_after:
                    assert self._raw is not None
                    self._raw.put_nowait(ConnectionResetError("the provider went away"))
                    return
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self._push(ev.ModelResponseDoneEvent(response_id=rid,
                                                 metadata={"status": "cancelled"}))
            return
        self._push(ev.ModelResponseAudioDoneEvent(response_id=rid, item_id="out"),
                   ev.ModelResponseAudioTranscriptDoneEvent(response_id=rid, item_id="out",
                                                            transcript=self.reply),
                   ev.ModelResponseDoneEvent(response_id=rid))


# -- a real uvicorn on 127.0.0.1 ------------------------------------------------------------------
class Served:
    """``create_app(...)`` under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any, ws_max_size: int | None = None) -> None:
        self.app = app
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        options = uvicorn_options("127.0.0.1", self.port)
        if ws_max_size is not None:
            options["ws_max_size"] = ws_max_size
        options["log_config"] = None  # uvicorn's own config would drop nothing_escapes' handler
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, user: str = "u1", session: str = "s1") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{user}/{session}"

    @property
    def sessions(self) -> dict:
        return self.app.state.sessions

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def nothing_escapes() -> Iterator[None]:
    """uvicorn logs an exception that escapes the app ("Exception in ASGI application")."""
    handler = _Errors()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    EchoRealtimeModel.instances.clear()
    yield
    logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[Served] = []

    def start(factory: Any = EchoRealtimeModel, ws_max_size: int | None = None,
              **options: Any) -> Served:
        options.setdefault("agent_name", "Friday")
        options.setdefault("sys_prompt", "You are Friday.")
        served = Served(create_app(factory, **options), ws_max_size)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def recv(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def until(ws: Any, kind: str, seen: list | None = None) -> dict[str, Any]:
    """Receive events until one of ``kind`` (every event received is added to ``seen``)."""
    while True:
        event = await recv(ws)
        if seen is not None:
            seen.append(event)
        if event["type"] == kind:
            return event


def page(url: str, **kw: Any) -> Any:
    """A client as the page is one: it reads everything (the test stops reading after the event
    it waits for, so the queue must not fill and stall the closing handshake)."""
    return connect(url, max_size=None, max_queue=None, open_timeout=TIMEOUT, **kw)


async def open_session(url: str, **kw: Any) -> Any:
    ws = await page(url, **kw)
    await ws.send(json.dumps({"type": "client_session_create", "config": {"user_name": "U"}}))
    seen: list = []
    ready = await until(ws, "agent_ready", seen)
    assert [e["type"] for e in seen][0] == "server_session_created"
    assert ready["agent_name"] == "Friday" and ready["agent_id"]
    return ws


async def closed_with(ws: Any) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def text_event(text: str) -> str:
    return json.dumps({"type": "client_text_append", "session_id": "s1", "text": text})


# -- the page ---------------------------------------------------------------------------------
def test_page_and_static_files_are_served_without_any_key(serve):
    served = serve()
    with urllib.request.urlopen(served.url + "/", timeout=TIMEOUT) as resp:
        page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
        csp = resp.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "default-src 'self'" in csp
    assert 'id="mic"' in page and 'id="interrupt"' in page and "/static/app.js" in page
    for name in ("app.js", "capture-worklet.js", "style.css"):
        with urllib.request.urlopen(f"{served.url}/static/{name}", timeout=TIMEOUT) as resp:
            body = resp.read().decode()
            assert KEY not in body and "api_key" not in body
    assert KEY not in page and "api_key" not in page


# -- a conversation ---------------------------------------------------------------------------
def test_text_in_transcript_and_audio_out_in_order_and_no_key_in_any_event(serve):
    served = serve()

    async def go() -> list[dict[str, Any]]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(text_event("Hi!"))
            seen: list = []
            await until(ws, "agent_response_done", seen)
            return seen

    seen = run(go())
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "agent_response_created" and kinds[-1] == "agent_response_done"
    assert kinds.index("agent_response_audio_transcript_done") > kinds.index(
        "agent_response_audio_delta")
    deltas = [e for e in seen if e["type"] == "agent_response_audio_delta"]
    assert len(deltas) == 4 and all(d["format"]["sample_rate"] == 24000 for d in deltas)
    assert len(base64.b64decode(deltas[0]["delta"])) == 4800  # 0.1 s of PCM16 at 24 kHz
    words = "".join(e["delta"] for e in seen if e["type"] ==
                    "agent_response_audio_transcript_delta")
    assert words == "Hello there, I am Echo."
    assert all(e["agent_name"] == "Friday" for e in seen)
    (model,) = EchoRealtimeModel.instances
    assert model.texts == ["Hi!"] and model.instructions.startswith("You are Friday.")
    assert KEY not in json.dumps(seen)


def test_audio_turn_from_the_page_format(serve):
    """PCM16 at 16 kHz in 32 ms chunks, as the page sends it: VAD, transcript, an answer."""
    served = serve()
    pcm = tone(0.64) + bytes(int(0.64 * 16000) * 2)

    async def go() -> list[dict[str, Any]]:
        async with await open_session(served.ws_url()) as ws:
            for i in range(0, len(pcm), 1024):
                await ws.send(json.dumps({
                    "type": "client_audio_append", "session_id": "s1",
                    "audio": base64.b64encode(pcm[i:i + 1024]).decode(),
                    "format": {"encoding": "pcm16", "sample_rate": 16000}}))
            seen: list = []
            await until(ws, "agent_response_done", seen)
            return seen

    seen = run(go())
    kinds = [e["type"] for e in seen]
    order = ["agent_input_started", "agent_input_done", "agent_input_transcription_done",
             "agent_response_created", "agent_response_done"]
    assert [k for k in kinds if k in order] == order
    done = next(e for e in seen if e["type"] == "agent_input_transcription_done")
    assert done["transcript"] == "heard 0.6 s"


def test_response_cancel_from_the_page_stops_the_answer(serve):
    served = serve(lambda: EchoRealtimeModel(chunks=200, delay=0.02))

    async def go() -> dict[str, Any]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(text_event("Talk a lot."))
            await until(ws, "agent_response_audio_delta")
            await ws.send(json.dumps({"type": "client_response_cancel"}))
            return await until(ws, "agent_response_done")

    done = run(go())
    assert done["metadata"] == {"status": "cancelled"}
    assert EchoRealtimeModel.instances[0].cancels == 1


def test_session_end_from_the_page_stops_the_agent_and_frees_the_session(serve):
    served = serve()

    async def go() -> tuple[dict[str, Any], int]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(json.dumps({"type": "client_session_end"}))
            ended = await until(ws, "server_session_ended")
            return ended, await closed_with(ws)

    ended, code = run(go())
    assert ended["session_id"] == "s1" and code == 1000
    wait_for(lambda: not served.sessions, "the session was not freed")
    assert EchoRealtimeModel.instances[0].closed


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, says", [
    ("not json", "JSON"),
    ('["a list"]', "JSON object"),
    ('{"type": "client_dance"}', "unknown client event type 'client_dance'"),
    ('{"type": "client_text_append"}', "text"),
    ('{"type": "client_audio_append", "audio": "AAAAAA==", "format": {"encoding": "mulaw"}}',
     "encoding"),
    ('{"type": "client_audio_append", "audio": "AAAA"}', "odd length"),
    ('{"type": "client_audio_append", "audio": "%%%"}', "base64"),
])
def test_malformed_events_get_an_agent_error_and_the_session_goes_on(serve, bad, says):
    served = serve()

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(bad)
            error = await until(ws, "agent_error")
            await ws.send(text_event("still there?"))
            return error, await until(ws, "agent_response_done")

    error, done = run(go())
    assert error["error_type"] == "RealtimeEventError" and says in error["message"]
    assert error["agent_name"] == "Friday" and done["type"] == "agent_response_done"


def test_events_before_the_session_is_created_get_an_agent_error(serve):
    served = serve()

    async def go() -> dict[str, Any]:
        async with page(served.ws_url()) as ws:
            await ws.send(text_event("hello?"))
            return await until(ws, "agent_error")

    error = run(go())
    assert "client_session_create" in error["message"]
    assert EchoRealtimeModel.instances == []


def test_a_10_mb_frame_is_closed_with_1009_and_the_session_freed(serve):
    served = serve()  # uvicorn_options: ws_max_size = max_message_bytes (1 MiB)

    async def go() -> int:
        async with await open_session(served.ws_url()) as ws:
            await ws.send("x" * (10 << 20))
            return await closed_with(ws)

    assert run(go()) == 1009
    wait_for(lambda: not served.sessions, "the session was not freed")
    wait_for(lambda: EchoRealtimeModel.instances[0].closed, "the model was not disconnected")
    run(_still_serves(served))


def test_an_oversized_message_under_a_laxer_server_gets_an_agent_error(serve):
    served = serve(max_message_bytes=64 << 10, ws_max_size=16 << 20)

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(json.dumps({"type": "client_text_append", "text": "y" * (1 << 20)}))
            error = await until(ws, "agent_error")
            await ws.send(text_event("small"))
            return error, await until(ws, "agent_response_done")

    error, _ = run(go())
    assert error["code"] == "1009" and "over the limit of 65536" in error["message"]
    assert EchoRealtimeModel.instances[0].texts == ["small"]


async def _still_serves(served: Served, session: str = "again") -> None:
    async with await open_session(served.ws_url(session=session)) as ws:
        await ws.send(text_event("ok?"))
        await until(ws, "agent_response_created")


# -- limits -------------------------------------------------------------------------------------
def test_max_sessions_refuses_with_1013_until_one_is_freed(serve):
    served = serve(max_sessions=1)

    async def go() -> int:
        async with await open_session(served.ws_url(session="a")):
            async with page(served.ws_url(session="b")) as second:
                return await closed_with(second)

    assert run(go()) == 1013
    wait_for(lambda: not served.sessions, "the first session was not freed")
    run(_still_serves(served, "c"))


def test_a_second_session_with_the_same_id_is_refused_and_the_first_goes_on(serve):
    served = serve()

    async def go() -> tuple[int, dict[str, Any]]:
        async with await open_session(served.ws_url()) as first:
            async with page(served.ws_url()) as second:
                code = await closed_with(second)
            await first.send(text_event("me again"))
            return code, await until(first, "agent_response_done")

    code, done = run(go())
    assert code == 4409 and done["type"] == "agent_response_done"
    assert len(EchoRealtimeModel.instances) == 1


def test_an_idle_session_is_closed_with_4408_and_freed(serve):
    served = serve(idle_timeout=0.3)

    async def go() -> int:
        async with await open_session(served.ws_url()) as ws:
            return await closed_with(ws)

    assert run(go()) == 4408
    wait_for(lambda: not served.sessions, "the session was not freed")
    assert EchoRealtimeModel.instances[0].closed


@pytest.mark.parametrize("origin, allowed", [
    (None, True),  # a script, not a page
    ("http://127.0.0.1:{port}", True),  # the page itself
    ("http://localhost:5173", True),  # a loopback page
    ("http://[::1]:8080", True),
    ("https://voice.example.org", True),  # allowed_origins
    ("http://evil.example", False),
    ("http://127.0.0.1.evil.example", False),
    ("null", False),  # a sandboxed iframe or a file: page
])
def test_origin_check(serve, origin, allowed):
    served = serve(allowed_origins=["https://voice.example.org"])
    headers = {} if origin is None else {"Origin": origin.format(port=served.port)}

    async def go() -> int | None:
        async with page(served.ws_url(), additional_headers=headers) as ws:
            if not allowed:
                return await closed_with(ws)
            await ws.send(text_event("before create"))
            await until(ws, "agent_error")
            return None

    assert run(go()) == (None if allowed else 1008)


# -- faults -------------------------------------------------------------------------------------
def test_a_client_that_disconnects_mid_answer_stops_the_agent_and_frees_the_session(serve):
    served = serve(lambda: EchoRealtimeModel(chunks=500, delay=0.02))

    async def go() -> None:
        ws = await open_session(served.ws_url())
        await ws.send(text_event("Tell me a long story."))
        await until(ws, "agent_response_audio_delta")
        ws.transport.abort()  # no close frame: the tab was killed

    run(go())
    wait_for(lambda: not served.sessions, "the session was not freed")
    wait_for(lambda: EchoRealtimeModel.instances[0].closed, "the model was not disconnected")
    run(_still_serves(served))


def test_a_provider_that_drops_mid_answer_reaches_the_page_as_agent_error(serve):
    served = serve(lambda: EchoRealtimeModel(drop_after=2))

    async def go() -> tuple[list, dict[str, Any]]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(text_event("Hi!"))
            seen: list = []
            await until(ws, "agent_error", seen)
            await ws.send(text_event("are you there?"))  # the model's session has ended
            return seen, await until(ws, "agent_error")

    seen, after = run(go())
    error = seen[-1]
    assert error["error_type"] == "ProviderConnectionError" and "went away" in error["message"]
    assert [e["type"] for e in seen].count("agent_response_audio_delta") == 2
    assert after["error_type"] and KEY not in json.dumps([*seen, after])
    run(_still_serves(served))


def test_a_provider_that_refuses_the_key_is_an_agent_error_without_the_key(serve):
    served = serve(lambda: EchoRealtimeModel(fail_connect=True))

    async def go() -> dict[str, Any]:
        async with page(served.ws_url()) as ws:
            await ws.send(json.dumps({"type": "client_session_create"}))
            error = await until(ws, "agent_error")
            await ws.send(text_event("hello?"))  # no agent: told to create one
            again = await until(ws, "agent_error")
            assert "client_session_create" in again["message"]
            return error

    error = run(go())
    assert error["error_type"] == "AuthenticationError" and error["code"] == "401"
    assert KEY not in json.dumps(error) and "cannot start the agent" in error["message"]


def test_a_model_factory_that_fails_is_an_agent_error_and_the_server_goes_on(serve):
    calls = []

    def factory() -> EchoRealtimeModel:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no model today")
        return EchoRealtimeModel()

    served = serve(factory)

    async def go() -> dict[str, Any]:
        async with page(served.ws_url()) as ws:
            await ws.send(json.dumps({"type": "client_session_create"}))
            error = await until(ws, "agent_error")
            await ws.send(json.dumps({"type": "client_session_create"}))  # try again: works
            await until(ws, "agent_ready")
            return error

    error = run(go())
    assert error["error_type"] == "RuntimeError" and "no model today" in error["message"]


def test_create_app_checks_its_limits():
    for bad in ({"max_sessions": 0}, {"max_message_bytes": 10}, {"idle_timeout": 0},
                {"agent_name": " "}):
        options = {"agent_name": "A", "sys_prompt": "", **bad}
        with pytest.raises(ValueError):
            create_app(EchoRealtimeModel, **options)


# -- the real OpenAI model behind the backend ---------------------------------------------------
@pytest.fixture
def openai_emulator() -> Iterator[Any]:
    pytest.importorskip("openai")
    from tests.emulators.realtime_openai import OpenAIRealtimeEmulator

    with OpenAIRealtimeEmulator(api_key=KEY) as emu:
        yield emu


def _openai_model(emu: Any) -> Any:
    from agentscope_legacy.realtime import OpenAIRealtimeModel

    return OpenAIRealtimeModel(api_key=KEY, base_url=emu.base_url, connect_timeout=5,
                               response_timeout=5)


def test_openai_realtime_through_the_backend_and_its_socket_dropping(serve, openai_emulator):
    from tests.emulators.ws import WSFault

    served = serve(lambda: _openai_model(openai_emulator))

    async def go() -> tuple[list, list]:
        async with await open_session(served.ws_url()) as ws:
            await ws.send(text_event("Hi!"))
            first: list = []
            await until(ws, "agent_response_done", first)
            openai_emulator.add_fault(WSFault(after=3, drop=True))
        async with await open_session(served.ws_url(session="s2")) as ws:
            await ws.send(text_event("Hi again!"))
            second: list = []
            await until(ws, "agent_error", second)
            return first, second

    first, second = run(go())
    kinds = [e["type"] for e in first]
    assert {"agent_response_audio_delta", "agent_response_audio_transcript_delta"} <= set(kinds)
    assert second[-1]["error_type"] == "ProviderConnectionError"
    assert KEY not in json.dumps(first + second)


# -- voice serve ----------------------------------------------------------------------------------
def _serve_process(config: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "agentscope_legacy.cli", "voice", "serve", "-m", str(config),
         "-c", "rt", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_voice_serve_prints_the_url_and_serves_a_session(tmp_path, openai_emulator):
    config = tmp_path / "rt.yaml"
    config.write_text(f"""
- config_name: rt
  model_type: openai_realtime
  api_key: ${{RT_SERVE_KEY}}
  base_url: {openai_emulator.base_url}
  agent_name: Friday
  sys_prompt: You are Friday.
""")
    os.environ["RT_SERVE_KEY"] = KEY
    try:
        proc = _serve_process(config)
    finally:
        del os.environ["RT_SERVE_KEY"]
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/"), line
        ws_url = line.replace("http://", "ws://") + "ws/u1/s1"
        with urllib.request.urlopen(line, timeout=TIMEOUT) as resp:
            assert KEY not in resp.read().decode()

        async def go() -> list:
            async with await open_session(ws_url) as ws:
                await ws.send(text_event("Hi!"))
                seen: list = []
                await until(ws, "agent_response_done", seen)
                return seen

        seen = run(go())
        assert "agent_response_audio_delta" in [e["type"] for e in seen]
    finally:
        err = _stop(proc)
    assert KEY not in err and "warning" not in err


def test_voice_serve_warns_off_loopback_and_reports_bad_configs(tmp_path):
    config = tmp_path / "rt.yaml"
    config.write_text("- config_name: rt\n  model_type: openai_realtime\n  api_key: k\n")
    proc = _serve_process(config, "--host", "0.0.0.0")
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("http://0.0.0.0:")
    finally:
        err = _stop(proc)
    assert "warning: --host 0.0.0.0" in err
    missing = subprocess.run(
        [sys.executable, "-m", "agentscope_legacy.cli", "voice", "serve", "-m", str(config),
         "-c", "nope"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert missing.returncode == 1 and "no realtime config named 'nope'" in missing.stderr
    config.write_text("- config_name: rt\n  model_type: openai_realtime\n"
                      "  api_key: ${RT_NOT_SET_KEY}\n")
    unset = subprocess.run(
        [sys.executable, "-m", "agentscope_legacy.cli", "voice", "serve", "-m", str(config),
         "-c", "rt"], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RT_NOT_SET_KEY"})
    assert unset.returncode == 1 and "RT_NOT_SET_KEY is not set" in unset.stderr
