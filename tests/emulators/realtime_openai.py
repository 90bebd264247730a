"""A loopback emulator of OpenAI's Realtime API (GA event names), for the real ``openai`` SDK.

``AsyncOpenAI(base_url=emu.base_url)`` makes ``client.realtime.connect(model=m)`` open
``ws://127.0.0.1:P/v1/realtime?model=m`` here. Each connection is a :class:`WSSession` of
:class:`tests.emulators.ws.WebSocketServer`, and behaves as the service does:

* the handshake is refused with HTTP 401 unless ``Authorization: Bearer <api_key>``;
* ``session.created`` first; ``session.update`` -> ``session.updated`` (the merged session);
* ``conversation.item.create`` -> ``conversation.item.created`` (no response by itself);
* ``input_audio_buffer.append``: with ``server_vad``, loud PCM starts speech
  (``input_audio_buffer.speech_started``), a silent chunk after it stops it (``speech_stopped``,
  ``committed``, the item, its input transcription when the session asks for one) and a response
  follows; ``input_audio_buffer.commit`` does the same without the response;
* ``response.create`` -> the scripted response: ``response.created``, a message item whose
  transcript words and PCM audio chunks (a real 24 kHz tone) alternate as deltas, the done
  events and ``response.done`` with ``usage``; or, with ``tool_call`` set, a function call
  (arguments streamed in pieces, then ``.done``), and the response after a
  ``function_call_output`` item reads that output out; ``response.cancel`` during it stops the
  script with a ``cancelled`` ``response.done``;
* ``error_on[client_event_type]`` answers that client event with an ``error`` event instead.

``delay`` (seconds between deltas) leaves time for a cancel to arrive mid-response.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import math
from array import array
from typing import Any

from .ws import STOPPED, WebSocketServer, WSFault, WSSession

__all__ = ["RATE", "OpenAIRealtimeEmulator", "tone"]

RATE = 24000
_LOUD = 500  # peak amplitude above which a chunk is speech for the emulated VAD


@functools.lru_cache(maxsize=8)  # a benchmark asks for minutes of it, response after response
def tone(seconds: float, rate: int = RATE, freq: float = 440.0, amp: int = 8000) -> bytes:
    """A sine tone as mono PCM16 (little-endian)."""
    n = int(seconds * rate)
    return array("h", (int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
                 ).tobytes()  # fmt: skip


def _peak(pcm: bytes) -> int:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return max((abs(s) for s in samples), default=0)


class OpenAIRealtimeEmulator:
    """OpenAI's realtime websocket on loopback; see the module docstring for what it answers."""

    def __init__(self, *, api_key: str = "sk-emulator-key", tls: bool = False) -> None:
        self.api_key = api_key
        self.server = WebSocketServer(self._session, tls=tls, refuse=self._refusal)
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """The default script (what :meth:`clear` restores)."""
        #: The assistant's reply: one transcript delta per word, an audio chunk after each.
        self.transcript = "Hello there, how can I help?"
        self.audio_seconds = 0.3
        #: Audio deltas per response (at least one per word when there are more words).
        self.audio_chunks = 0
        self.input_transcript = "What is the weather in Paris?"
        self.usage = {"input_tokens": 21, "output_tokens": 13, "total_tokens": 34}
        #: ``{"name": ..., "arguments": "<json>"}``: the next response is this function call.
        self.tool_call: dict[str, str] | None = None
        self.error_on: dict[str, dict[str, Any]] = {}
        self.delay = 0.0

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> OpenAIRealtimeEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> OpenAIRealtimeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What ``AsyncOpenAI(base_url=)`` takes (the SDK adds ``/realtime?model=``)."""
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.port}/v1"

    @property
    def sessions(self) -> list[WSSession]:
        return self.server.sessions

    @property
    def errors(self) -> list[str]:
        return self.server.errors

    def events(self, kind: str | None = None, connection: int | None = None) -> list[Any]:
        """The client's events (parsed), of one type and one connection, or all."""
        out = []
        for message in self.server.received:
            if connection is None or message.connection == connection:
                event = message.json
                if kind is None or event.get("type") == kind:
                    out.append(event)
        return out

    def add_fault(self, fault: WSFault) -> None:
        self.server.add_fault(fault)

    def clear(self) -> None:
        self.server.clear()
        self.reset()

    # -- the protocol ------------------------------------------------------------------------------
    def _refusal(self, path: str, headers: Any) -> tuple[int, Any] | None:
        if headers.get("Authorization", "") == f"Bearer {self.api_key}":
            return None
        return 401, {"error": {"type": "invalid_request_error", "code": "invalid_api_key",
                               "message": "Incorrect API key provided."}}  # fmt: skip

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": f"event_{next(self._ids)}", **fields}

    def _session(self, ws: WSSession) -> None:
        state = _State(ws, self)
        model = ws.path.partition("model=")[2].partition("&")[0]
        state.config = {"id": f"sess_{ws.index}", "object": "realtime.session", "type": "realtime",
                        "model": model, "output_modalities": ["audio"], "instructions": "",
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": RATE},
                                            "turn_detection": {"type": "server_vad"},
                                            "transcription": None},
                                  "output": {"format": {"type": "audio/pcm", "rate": RATE},
                                             "voice": "alloy"}},
                        "tools": []}  # fmt: skip
        ws.send(self._event("session.created", session=state.config))
        while True:
            message = state.pending.pop(0) if state.pending else ws.recv_json()
            if message is STOPPED:
                return
            state.handle(message)


class _State:
    """One connection's session: its config, its audio buffer, the response being streamed."""

    def __init__(self, ws: WSSession, emu: OpenAIRealtimeEmulator) -> None:
        self.ws, self.emu = ws, emu
        self.config: dict[str, Any] = {}
        self.pending: list[Any] = []  # client events that arrived during a response
        self.buffer = bytearray()
        self.speaking: str | None = None  # the item id of the speech in progress
        self.tool_output: str | None = None  # the next reply reads out this function output
        self.audio_ms = 0
        self.items = itertools.count(1)
        self.responses = itertools.count(1)

    def send(self, kind: str, **fields: Any) -> None:
        self.ws.send(self.emu._event(kind, **fields))

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type", "")
        if kind in self.emu.error_on:
            error = {"type": "invalid_request_error", "code": None, "param": None,
                     "event_id": message.get("event_id"), **self.emu.error_on[kind]}  # fmt: skip
            self.send("error", error=error)
        elif kind == "session.update":
            self._merge(self.config, message.get("session", {}))
            self.send("session.updated", session=self.config)
        elif kind == "conversation.item.create":
            if message.get("item", {}).get("type") == "function_call_output":
                self.tool_output = str(message["item"].get("output", ""))
            item = {"id": f"item_c{next(self.items)}", "object": "realtime.item",
                    "status": "completed", **message.get("item", {})}  # fmt: skip
            self.send("conversation.item.created", previous_item_id=None, item=item)
        elif kind == "input_audio_buffer.append":
            self._append(base64.b64decode(message.get("audio", "")))
        elif kind == "input_audio_buffer.commit":
            self._commit(self.speaking or f"item_u{next(self.items)}")
        elif kind == "response.create":
            self._respond()
        elif kind == "response.cancel":
            error = {"type": "invalid_request_error", "code": "response_cancel_not_active",
                     "message": "Cancellation failed: no active response found"}  # fmt: skip
            self.send("error", error=error)

    @staticmethod
    def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                _State._merge(into[key], value)
            else:
                into[key] = value

    # -- input audio and the emulated server VAD ---------------------------------------------------
    def _vad(self) -> bool:
        detection = self.config.get("audio", {}).get("input", {}).get("turn_detection")
        return bool(detection) and detection.get("type") in ("server_vad", "semantic_vad")

    def _append(self, pcm: bytes) -> None:
        self.buffer += pcm
        self.audio_ms += len(pcm) * 1000 // (2 * RATE)
        if not self._vad():
            return
        loud = _peak(pcm) > _LOUD
        if loud and self.speaking is None:
            self.speaking = f"item_u{next(self.items)}"
            self.send("input_audio_buffer.speech_started", item_id=self.speaking,
                      audio_start_ms=self.audio_ms)  # fmt: skip
        elif not loud and self.speaking is not None:
            item_id, self.speaking = self.speaking, None
            self.send("input_audio_buffer.speech_stopped", item_id=item_id,
                      audio_end_ms=self.audio_ms)  # fmt: skip
            self._commit(item_id)
            detection = self.config["audio"]["input"]["turn_detection"]
            if detection.get("create_response", True):
                self._respond()

    def _commit(self, item_id: str) -> None:
        self.buffer.clear()
        self.send("input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        self.send("conversation.item.created", previous_item_id=None, item=item)
        if self.config.get("audio", {}).get("input", {}).get("transcription"):
            words = self.emu.input_transcript.split(" ")
            for i, word in enumerate(words):
                self.send("conversation.item.input_audio_transcription.delta", item_id=item_id,
                          content_index=0, delta=word if i == 0 else " " + word)  # fmt: skip
            usage = {"type": "tokens", "input_tokens": 7, "output_tokens": len(words),
                     "total_tokens": 7 + len(words)}  # fmt: skip
            self.send("conversation.item.input_audio_transcription.completed", item_id=item_id,
                      content_index=0, transcript=self.emu.input_transcript, usage=usage)

    # -- responses -------------------------------------------------------------------------------
    def _cancelled(self) -> bool:
        """Whether a ``response.cancel`` arrived (other events wait until the response ends)."""
        while True:
            try:
                message = self.ws.recv(timeout=self.emu.delay)
            except TimeoutError:
                return False
            if message is STOPPED:
                return False
            message = json.loads(message)
            if message.get("type") == "response.cancel":
                return True
            self.pending.append(message)

    def _respond(self) -> None:
        emu = self.emu
        rid = f"resp_{self.ws.index}_{next(self.responses)}"
        base = {"id": rid, "object": "realtime.response", "conversation_id": "conv_1",
                "output_modalities": ["audio"], "metadata": None}  # fmt: skip
        self.send("response.created", response={**base, "status": "in_progress", "output": []})
        item_id = f"item_a{next(self.items)}"
        at = {"response_id": rid, "item_id": item_id, "output_index": 0}
        if emu.tool_call is not None:
            call, emu.tool_call = emu.tool_call, None
            item = {"id": item_id, "object": "realtime.item", "type": "function_call",
                    "status": "in_progress", "name": call["name"], "call_id": f"call_{item_id}",
                    "arguments": ""}  # fmt: skip
            self.send("response.output_item.added", response_id=rid, output_index=0, item=item)
            args = call["arguments"]
            for i in range(0, len(args), 5):
                self.send("response.function_call_arguments.delta", **at,
                          call_id=item["call_id"], delta=args[i:i + 5])  # fmt: skip
            self.send("response.function_call_arguments.done", **at, call_id=item["call_id"],
                      name=call["name"], arguments=args)  # fmt: skip
            item = {**item, "status": "completed", "arguments": args}
            self.send("response.output_item.done", response_id=rid, output_index=0, item=item)
            self._done(base, "completed", [item])
            return
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}  # fmt: skip
        self.send("response.output_item.added", response_id=rid, output_index=0, item=item)
        part = {"type": "audio", "transcript": ""}
        self.send("response.content_part.added", **at, content_index=0, part=part)
        transcript, self.tool_output = (
            emu.transcript if self.tool_output is None else f"The tool says: {self.tool_output}",
            None)  # fmt: skip
        words = transcript.split(" ")
        pcm = tone(emu.audio_seconds)
        chunks = max(len(words), emu.audio_chunks)
        step = -(-len(pcm) // 2 // chunks) * 2
        pieces = [pcm[i:i + step] for i in range(0, len(pcm), step)]
        for i in range(max(len(words), len(pieces))):
            if emu.delay and self._cancelled():
                self._done(base, "cancelled", [], reason="client_cancelled")
                return
            if i < len(words):
                self.send("response.output_audio_transcript.delta", **at, content_index=0,
                          delta=words[i] if i == 0 else " " + words[i])  # fmt: skip
            if i < len(pieces):
                self.send("response.output_audio.delta", **at, content_index=0,
                          delta=base64.b64encode(pieces[i]).decode())  # fmt: skip
        self.send("response.output_audio.done", **at, content_index=0)
        self.send("response.output_audio_transcript.done", **at, content_index=0,
                  transcript=transcript)  # fmt: skip
        part = {"type": "audio", "transcript": transcript}
        self.send("response.content_part.done", **at, content_index=0, part=part)
        item = {**item, "status": "completed", "content": [part]}
        self.send("response.output_item.done", response_id=rid, output_index=0, item=item)
        self._done(base, "completed", [item])

    def _done(self, base: dict[str, Any], status: str, output: list[Any],
              reason: str | None = None) -> None:  # fmt: skip
        details = {"type": status, "reason": reason} if reason else None
        usage = self.emu.usage if status == "completed" else {
            "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}  # fmt: skip
        self.send("response.done", response={**base, "status": status, "status_details": details,
                                             "output": output, "usage": usage})  # fmt: skip
