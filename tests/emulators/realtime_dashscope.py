"""A loopback emulator of DashScope's Qwen-Omni realtime websocket, for the real ``dashscope``
SDK's ``OmniRealtimeConversation(url=emu.url)`` (the SDK appends ``?model=``).

Each connection is a :class:`WSSession` of a :class:`tests.emulators.ws.WebSocketServer`
(recorded: path, headers such as ``Authorization`` and ``x-dashscope-sdk-client``, every client
event), and behaves as the service does:

* the handshake is refused with HTTP 401 and DashScope's JSON error unless ``Authorization:
  Bearer <key>`` names one of ``keys``; with ``reject_in_session`` the handshake succeeds and
  the refusal is an ``error`` event (code ``InvalidApiKey``) before ``session.created``;
* ``session.created`` first; ``session.update`` -> ``session.updated`` (the merged session);
* ``input_audio_buffer.append`` (PCM16 at the session's input rate): with ``server_vad``, a loud
  chunk starts speech (``speech_started``), ``silence_ms`` of quiet after it stops it
  (``speech_stopped``), then the turn runs: ``committed``, the user item, its input
  transcription (``heard``) and the scripted response; ``input_audio_buffer.commit`` runs the
  turn without the response (an empty buffer is an ``error``);
* ``input_image_buffer.append`` is decoded (base64) and not answered;
  ``conversation.item.create`` -> ``conversation.item.created``;
* ``response.create`` -> ``response.created``, the item and content part, the words of
  ``reply`` as transcript deltas alternating with audio deltas (a real 24 kHz tone), the done
  events and ``response.done`` with ``usage``; text deltas only for a text-only session;
  ``response.cancel`` during it ends it with a ``cancelled`` ``response.done``; ``hold_after``
  audio deltas the next response waits (up to 5 s) for the client's next event, so a cancel
  lands mid-response deterministically;
* ``error_on[client_event_type]`` answers that client event with an ``error`` event instead;
  ``raw_on[client_event_type]`` sends that text frame (e.g. not JSON) before handling it.
"""

from __future__ import annotations

import base64
import itertools
import math
from array import array
from typing import Any

from .ws import STOPPED, WebSocketServer, WSFault, WSSession

__all__ = ["OUT_RATE", "OmniRealtimeEmulator", "peak", "tone"]

OUT_RATE = 24000
_LOUD = 500  # peak amplitude above which a chunk is speech for the emulated VAD


def tone(seconds: float, rate: int = OUT_RATE, freq: float = 440.0, amp: int = 8000) -> bytes:
    """A sine tone as mono PCM16 (little-endian)."""
    n = int(seconds * rate)
    return array("h", (int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
                 ).tobytes()  # fmt: skip


def peak(pcm: bytes) -> int:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return max((abs(s) for s in samples), default=0)


class OmniRealtimeEmulator:
    """The ``qwen3-omni-flash-realtime`` websocket (see the module doc for its behaviour)."""

    def __init__(self, *, keys: tuple[str, ...] = ()) -> None:
        self.keys = set(keys)
        self.server = WebSocketServer(self._session, refuse=self._refusal)
        self.reject_in_session = False
        self.reply = "Hello from the Qwen emulator"
        self.heard = "what is the weather like"
        self.audio_seconds = 0.05  # of tone per audio delta
        self.silence_ms = 100
        self.hold_after: int | None = None
        self.error_on: dict[str, dict[str, Any]] = {}
        self.raw_on: dict[str, str] = {}
        self.usage = {"total_tokens": 30, "input_tokens": 21, "output_tokens": 9}
        self._ids = itertools.count(1)

    # -- life cycle and what tests read ---------------------------------------------------------
    def start(self) -> OmniRealtimeEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> OmniRealtimeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url + "/api-ws/v1/realtime"

    @property
    def sessions(self) -> list[WSSession]:
        return self.server.sessions

    @property
    def errors(self) -> list[str]:
        return self.server.errors

    def events(self, kind: str | None = None, connection: int | None = None) -> list[Any]:
        """The client's events (parsed), of one type and one connection, or all."""
        return [
            m.json for m in self.server.received
            if (connection is None or m.connection == connection)
            and (kind is None or m.json.get("type") == kind)
        ]  # fmt: skip

    def add_fault(self, fault: WSFault) -> None:
        self.server.add_fault(fault)

    def clear(self) -> None:
        self.server.clear()
        self.reject_in_session = False
        self.hold_after = None
        self.error_on = {}
        self.raw_on = {}

    def _refusal(self, path: str, headers: Any) -> tuple[int, Any] | None:
        key = str(headers.get("Authorization", "")).removeprefix("Bearer ").strip()
        if key and (not self.keys or key in self.keys or self.reject_in_session):
            return None
        return 401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.",
                     "request_id": "req-emulated"}  # fmt: skip

    # -- the protocol -----------------------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"event_{next(self._ids)}", "type": kind, **fields}

    def _session(self, session: WSSession) -> None:
        _Conversation(self, session).run()


class _Conversation:
    """One connection's state: the session config, the audio buffer, the VAD."""

    def __init__(self, emu: OmniRealtimeEmulator, session: WSSession) -> None:
        self.emu, self.ws = emu, session
        # websocket-client does not always answer the close handshake promptly (seen here):
        # don't hold the server's shutdown websockets' default 10 s for it.
        session._connection.close_timeout = 0.5
        self.config: dict[str, Any] = {
            "id": f"sess_{session.index}", "object": "realtime.session",
            "model": session.path.partition("model=")[2], "modalities": ["text", "audio"],
            "voice": "Cherry", "input_audio_format": "pcm16", "output_audio_format": "pcm24",
            "input_audio_transcription": {"model": "gummy-realtime-v1"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5,
                               "silence_duration_ms": 800},
        }  # fmt: skip
        self.buffer = bytearray()  # uncommitted input audio
        self.audio_ms = 0  # of input audio appended so far
        self.speech_item: str | None = None  # the item being spoken (server VAD)
        self.quiet_ms = 0
        self.pending: list[dict[str, Any]] = []  # read during a response, handled after it

    def send(self, kind: str, **fields: Any) -> None:
        self.ws.send(self.emu._event(kind, **fields))

    def error(self, kind: str, code: str, message: str) -> None:
        self.send("error", error={"type": kind, "code": code, "message": message})

    def run(self) -> None:
        key = self.ws.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.emu.reject_in_session and self.emu.keys and key not in self.emu.keys:
            # Echoing the key, as some servers do: the client must scrub it.
            self.error("invalid_request_error", "InvalidApiKey",
                       f"Invalid API-key provided: {key}")
            self.ws._connection.close(4001, "InvalidApiKey")
            return
        self.send("session.created", session=dict(self.config))
        while True:
            event = self.pending.pop(0) if self.pending else self.ws.recv_json()
            if event is STOPPED:
                return
            self.handle(event)

    def handle(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        if kind in self.emu.raw_on:
            self.ws.send(self.emu.raw_on.pop(kind))
        if kind in self.emu.error_on:
            self.send("error", error=self.emu.error_on.pop(kind))
        elif kind == "session.update":
            self.config.update(event.get("session") or {})
            self.send("session.updated", session=dict(self.config))
        elif kind == "input_audio_buffer.append":
            self.append(base64.b64decode(event["audio"]))
        elif kind == "input_audio_buffer.commit":
            if not self.buffer:
                self.error("invalid_request_error", "input_audio_buffer_commit_empty",
                           "Error committing input audio buffer: the buffer is empty.")
            else:
                self.turn(f"item_{next(self.emu._ids)}", respond=False)
        elif kind == "input_image_buffer.append":
            base64.b64decode(event["image"], validate=True)
        elif kind == "conversation.item.create":
            item = {"id": f"item_{next(self.emu._ids)}", **(event.get("item") or {})}
            self.send("conversation.item.created", item=item)
        elif kind == "response.create":
            self.respond()
        elif kind == "response.cancel":
            self.error("invalid_request_error", "response_cancel_not_active",
                       "Cancellation failed: no active response found.")
        else:
            self.error("invalid_request_error", "invalid_value", f"unknown event type {kind}")

    # -- input audio and the emulated server VAD -------------------------------------------------
    def input_rate(self) -> int:
        fmt = ((self.config.get("audio") or {}).get("input") or {}).get("format") or {}
        return int(fmt.get("sample_rate") or 16000)

    def append(self, pcm: bytes) -> None:
        self.buffer += pcm
        ms = len(pcm) * 1000 // (2 * self.input_rate())
        start, self.audio_ms = self.audio_ms, self.audio_ms + ms
        if not self.config.get("turn_detection"):
            return
        loud = peak(pcm) > _LOUD
        if self.speech_item is None and loud:
            self.speech_item, self.quiet_ms = f"item_{next(self.emu._ids)}", 0
            self.send("input_audio_buffer.speech_started", audio_start_ms=start,
                      item_id=self.speech_item)  # fmt: skip
        elif self.speech_item is not None:
            self.quiet_ms = 0 if loud else self.quiet_ms + ms
            if self.quiet_ms >= self.emu.silence_ms:
                item, self.speech_item = self.speech_item, None
                self.send("input_audio_buffer.speech_stopped", audio_end_ms=self.audio_ms,
                          item_id=item)  # fmt: skip
                self.turn(item, respond=True)

    def turn(self, item_id: str, *, respond: bool) -> None:
        self.buffer.clear()
        self.send("input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
        self.send("conversation.item.created", item={
            "id": item_id, "object": "realtime.item", "type": "message", "status": "completed",
            "role": "user", "content": [{"type": "input_audio"}]})  # fmt: skip
        if self.config.get("input_audio_transcription") is not None:
            self.send("conversation.item.input_audio_transcription.completed",
                      item_id=item_id, content_index=0, transcript=self.emu.heard)  # fmt: skip
        if respond:
            self.respond()

    # -- the scripted response --------------------------------------------------------------------
    def respond(self) -> None:
        rid, iid = f"resp_{next(self.emu._ids)}", f"item_{next(self.emu._ids)}"
        audio = "audio" in (self.config.get("modalities") or [])
        text_kind = "response.audio_transcript" if audio else "response.text"
        ids = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        self.send("response.created", response={"id": rid, "object": "realtime.response",
                                                "status": "in_progress", "output": []})
        item = {"id": iid, "object": "realtime.item", "type": "message",
                "status": "in_progress", "role": "assistant", "content": []}  # fmt: skip
        self.send("response.output_item.added", response_id=rid, output_index=0, item=item)
        self.send("conversation.item.created", item=item)
        self.send("response.content_part.added", **ids, part={"type": "audio" if audio
                                                               else "text"})
        words = self.emu.reply.split(" ")
        chunk = base64.b64encode(tone(self.emu.audio_seconds)).decode("ascii")
        for i, word in enumerate(words):
            if self.cancelled(i):
                return self.done(rid, "cancelled")
            self.send(f"{text_kind}.delta", **ids, delta=word if i == 0 else f" {word}")
            if audio:
                self.send("response.audio.delta", **ids, delta=chunk)
        text = self.emu.reply
        self.send(f"{text_kind}.done", **ids, **({"transcript": text} if audio else {"text": text}))
        if audio:
            self.send("response.audio.done", **ids)
        self.send("response.content_part.done", **ids, part={"type": "audio", "text": text})
        self.send("response.output_item.done", response_id=rid, output_index=0,
                  item={**item, "status": "completed"})  # fmt: skip
        self.done(rid, "completed")

    def cancelled(self, deltas_sent: int) -> bool:
        """Whether the client cancelled; other events read meanwhile are handled later."""
        hold = self.emu.hold_after is not None and deltas_sent == self.emu.hold_after
        if hold:
            self.emu.hold_after = None  # once: the next response runs through
        while True:
            try:
                event = self.ws.recv_json(timeout=5 if hold else 0)
            except TimeoutError:
                return False
            if event is STOPPED:
                return False
            if event.get("type") == "response.cancel":
                return True
            self.pending.append(event)
            hold = False

    def done(self, rid: str, status: str) -> None:
        self.send("response.done", response={
            "id": rid, "object": "realtime.response", "status": status,
            "usage": dict(self.emu.usage)})  # fmt: skip
