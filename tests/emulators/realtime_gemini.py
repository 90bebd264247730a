"""A loopback emulator of Gemini Live (``BidiGenerateContent``), for tests with ``google-genai``.

The SDK forces ``wss`` when it has an API key, so the server is TLS (the test CA of
:mod:`tests.emulators.tls`): a client takes ``base_url=emulator.base_url`` and
``http_options={"async_client_args": {"ssl": tls.client_context()}}``. The protocol, as the
SDK speaks it (``google/genai/live.py``):

* the path ``/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent``,
  the key in the ``x-goog-api-key`` header; the first client frame ``{"setup": {...}}``, answered
  ``{"setupComplete": {}}``. A key other than ``api_key`` is closed with 1007 and Gemini's
  reason (``API key not valid...``), as the service does;
* a turn is started by ``clientContent`` with ``turnComplete`` (the text of its last user part,
  or none: "answer now"), by ``realtimeInput.text``, or by speech in ``realtimeInput.audio``
  (PCM16 16 kHz): loud audio followed by a silent chunk or ``audioStreamEnd`` (a tiny VAD).
  Speech is answered with ``inputTranscription`` (:data:`HEARD`), and with ``voiceActivity``
  ACTIVITY_START/ACTIVITY_END when :attr:`voice_activity` is set (Gemini sends them to
  allowlisted projects only);
* a reply is ``serverContent.modelTurn`` parts with ``inlineData`` audio (a real 24 kHz tone,
  base64) interleaved with ``outputTranscription`` words, then ``generationComplete``, then
  ``turnComplete`` with ``usageMetadata``. Frames go out :attr:`frame_interval` apart, and speech
  or a new turn arriving meanwhile interrupts the reply (``serverContent.interrupted``, no
  ``turnComplete``);
* a turn whose text names a declared function (``get_weather``...) is answered with a
  ``toolCall`` instead; the ``toolResponse`` then gets a reply that quotes its output;
* a turn whose text contains ``go away`` is answered with ``goAway``, one whose text contains
  ``garbage`` with a frame that is not JSON.

Faults are :class:`tests.emulators.ws.WSFault` (drop, close with a code, stall), counted in
frames sent (``setupComplete`` is frame 0).
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from typing import Any

from .base import JSONReply, LoopbackServer, RecordedRequest
from .ws import STOPPED, WebSocketServer, WSFault, WSSession

__all__ = ["GeminiLiveEmulator", "HEARD", "LIVE_PATH", "RefusingGateway", "proto_json", "tone"]

LIVE_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
#: What the emulator "hears" in any speech (its input transcription, in two chunks).
HEARD = ("What is", " the time?")
BAD_KEY_REASON = "API key not valid. Please pass a valid API key."
OUT_RATE = 24000
_LOUD = 500  # mean absolute sample value above which a chunk of input is speech


def tone(ms: int, rate: int = OUT_RATE, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    """``ms`` of a sine tone as PCM16 mono little-endian."""
    n = rate * ms // 1000
    return struct.pack(
        f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    )


def proto_json(value: Any, _verbatim: bool = False) -> Any:
    """``value`` with every field name in camelCase, as the service's proto JSON parser reads
    a frame (it takes ``client_content`` and ``clientContent`` alike, and the SDK sends both
    kinds); free-form JSON (a function's schema, args or response) is kept verbatim."""
    if isinstance(value, list):
        return [proto_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        head, *rest = key.split("_")
        name = head + "".join(w[:1].upper() + w[1:] for w in rest)
        out[name] = item if name in _FREE_FORM else proto_json(item)
    return out


_FREE_FORM = {"parametersJsonSchema", "responseJsonSchema", "parameters", "args", "response"}


def _bytes(data: str) -> bytes:
    # Proto JSON bytes: standard or URL-safe base64 (the SDK sends URL-safe).
    return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)


def _loud(pcm: bytes) -> bool:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    return bool(samples) and sum(map(abs, samples)) / len(samples) > _LOUD


class GeminiLiveEmulator:
    """Gemini Live on ``wss://127.0.0.1:<port>``; every connection is a :class:`WSSession`.

    ``reply``: the words of every model reply (one audio chunk and one transcription frame per
    word). ``usage``: its ``usageMetadata``.
    """

    def __init__(self, *, api_key: str = "test-gemini-key", version: str | None = None) -> None:
        self.api_key = api_key
        #: The API version the path must name (None: any ``v...``, the SDK's default varies).
        self.path = re.compile(
            re.escape(LIVE_PATH).replace(
                re.escape("{version}"), re.escape(version) if version else r"v\w+"
            )
        )
        self.reply: tuple[str, ...] = ("It", " is", " noon.")
        self.usage = {"promptTokenCount": 12, "responseTokenCount": 7, "totalTokenCount": 19}
        self.frame_interval = 0.01
        self.voice_activity = False
        self.server = WebSocketServer(self._session, tls=True)

    # -- life cycle and what tests read -------------------------------------------------------
    def start(self) -> GeminiLiveEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GeminiLiveEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        # http://: the SDK turns the scheme into wss itself (the server is TLS).
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def sessions(self) -> list[WSSession]:
        return self.server.sessions

    @property
    def errors(self) -> list[str]:
        return self.server.errors

    def frames(self, connection: int | None = None) -> list[dict[str, Any]]:
        """The client's frames (parsed, field names as :func:`proto_json` reads them), of one
        connection or all."""
        return [proto_json(m.json) for m in self.server.received
                if connection is None or m.connection == connection]  # fmt: skip

    def add_fault(self, fault: WSFault) -> None:
        self.server.add_fault(fault)

    # -- the protocol ----------------------------------------------------------------------------
    def _session(self, session: WSSession) -> None:
        setup = session.recv_json()
        if setup is STOPPED:
            return
        if not self.path.fullmatch(session.path) or "setup" not in setup:
            session._connection.close(1007, "Request contains an invalid argument.")
            return
        key = session.headers.get("x-goog-api-key", "")
        if key != self.api_key:
            # With the key it got, as some servers echo it: the client must scrub it.
            session._connection.close(1007, f"{BAD_KEY_REASON} [{key[:60]}]")
            return
        _Conversation(self, session, proto_json(setup["setup"])).run()


class RefusingGateway(LoopbackServer):
    """An HTTPS server that refuses the websocket upgrade with ``status``, as a gateway in
    front of the service does (Gemini itself accepts it and closes with a code)."""

    def __init__(self, status: int = 403) -> None:
        super().__init__(tls=True)
        self.status = status

    def handle(self, req: RecordedRequest) -> JSONReply:
        return JSONReply({"error": {"code": self.status, "message": "refused"}}, self.status)


class _Conversation:
    """One connection after its setup: reads frames, plays scripted turns."""

    def __init__(self, emulator: GeminiLiveEmulator, session: WSSession, setup: dict) -> None:
        self.emulator, self.session, self.setup = emulator, session, setup
        self.functions = {
            f["name"]
            for tool in setup.get("tools") or []
            for f in tool.get("functionDeclarations") or []
        }
        self.vad_signals = emulator.voice_activity
        self.pending: list[dict[str, Any]] = []  # the frames of the reply being played
        self.speaking = False  # loud input audio seen, its end not yet
        self.calls = 0

    def run(self) -> None:
        self.session.send({"setupComplete": {}})
        while True:
            try:
                frame = self.session.recv(timeout=self.emulator.frame_interval
                                          if self.pending else None)  # fmt: skip
            except TimeoutError:
                self.session.send(self.pending.pop(0))
                continue
            if frame is STOPPED:
                return
            self._handle(proto_json(json.loads(frame)))

    def _handle(self, frame: dict[str, Any]) -> None:
        if "clientContent" in frame:
            content = frame["clientContent"]
            if content.get("turnComplete"):
                texts = [p.get("text", "") for turn in content.get("turns") or []
                         for p in turn.get("parts") or []]  # fmt: skip
                self._turn(texts[-1] if texts else "")
        elif "realtimeInput" in frame:
            item = frame["realtimeInput"]
            if "text" in item:
                self._turn(item["text"])
            elif "audio" in item:
                self._audio(_bytes(item["audio"]["data"]))
            elif item.get("audioStreamEnd") and self.speaking:
                self._end_of_speech()
        elif "toolResponse" in frame:
            outputs = [
                str((r.get("response") or {}).get("output", ""))
                for r in frame["toolResponse"].get("functionResponses") or []
            ]
            self._play(("The answer:", *(f" {o}" for o in outputs)))

    def _audio(self, pcm: bytes) -> None:
        if _loud(pcm):
            if not self.speaking:
                self.speaking = True
                if self.vad_signals:
                    self.session.send({"voiceActivity": {"type": "ACTIVITY_START"}})
                self._interrupt()  # barge-in
        elif self.speaking:
            self._end_of_speech()

    def _interrupt(self) -> None:
        if self.pending:  # the reply being played is dropped
            self.pending.clear()
            self.session.send({"serverContent": {"interrupted": True}})

    def _end_of_speech(self) -> None:
        self.speaking = False
        if self.vad_signals:
            self.session.send({"voiceActivity": {"type": "ACTIVITY_END"}})
        for i, text in enumerate(HEARD):
            transcription = {"text": text, **({"finished": True} if i == len(HEARD) - 1 else {})}
            self.session.send({"serverContent": {"inputTranscription": transcription}})
        self._turn("".join(HEARD))

    def _turn(self, text: str) -> None:
        self._interrupt()  # new client content interrupts the reply being played
        called = next((name for name in sorted(self.functions) if name in text), None)
        if "go away" in text:
            self.session.send({"goAway": {"timeLeft": "5s"}})
        elif "garbage" in text:
            self.session.send("}{ not json")
        elif called:
            self.calls += 1
            call = {"id": f"function-call-{self.calls}", "name": called, "args": {"city": "Paris"}}
            self.session.send({"toolCall": {"functionCalls": [call]}})
        else:
            self._play(self.emulator.reply)

    def _play(self, words: tuple[str, ...]) -> None:
        frames: list[dict[str, Any]] = []
        for word in words:
            audio = {"mimeType": f"audio/pcm;rate={OUT_RATE}",
                     "data": base64.b64encode(tone(20 * len(word))).decode()}  # fmt: skip
            frames.append({"serverContent": {"modelTurn": {"parts": [{"inlineData": audio}]}}})
            frames.append({"serverContent": {"outputTranscription": {"text": word}}})
        frames.append({"serverContent": {"generationComplete": True}})
        frames.append({"serverContent": {"turnComplete": True},
                       "usageMetadata": self.emulator.usage})  # fmt: skip
        self.pending.extend(frames)
