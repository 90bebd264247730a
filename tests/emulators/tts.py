"""Loopback emulators of the text-to-speech APIs, for tests with the real SDKs.

* :class:`OpenAISpeechEmulator`: ``POST /v1/audio/speech`` (``openai`` SDK). The reply is the
  scripted audio as raw bytes, sent chunked (``audio/pcm`` for ``response_format: pcm``).
* :class:`DashScopeTTSEmulator`: ``POST .../services/aigc/multimodal-generation/generation``
  (``dashscope.MultiModalConversation``, ``qwen3-tts-flash``). Not streamed: JSON whose
  ``output.audio`` has a ``url`` (served by ``GET /files/tts-<n>.wav`` as a 24 kHz WAV) and an
  empty ``data``. Streamed (``X-DashScope-SSE: enable``): one SSE event per scripted chunk with
  ``output.audio.data`` = base64 PCM16, the last with ``finish_reason: stop`` and the ``url``.
* :class:`GeminiTTSEmulator`: ``POST /v1/models/<m>:generateContent`` (google-genai), audio as
  ``inlineData`` (``audio/L16;codec=pcm;rate=24000``); ``:streamGenerateContent?alt=sse`` sends
  one chunk per event.
* :class:`QwenTTSRealtimeEmulator`: the ``qwen3-tts-flash-realtime`` websocket (``dashscope``'s
  ``QwenTtsRealtime``) on :class:`tests.emulators.ws.WebSocketServer`: ``session.created``, then
  ``session.updated`` for ``session.update``, a ``response.audio.delta`` per chunk of the audio
  of each ``input_text_buffer.append``, and at ``session.finish`` (or ``input_text_buffer.commit``)
  ``response.audio.done``/``response.done`` (then ``session.finished`` and a close).
  ``reject_key`` and ``error_on_append`` script ``error`` events.

Audio is scripted with ``set_audio(pcm, chunks=n)`` (the same PCM for every request) or
``set_audio_fn(fn)`` (``fn(text) -> pcm``); by default it is :func:`tone_for`, deterministic PCM
derived from the text. ``malformed_audio=True`` makes the next reply's audio not base64.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
import struct
import threading
import wave
from collections.abc import Callable, Iterator
from typing import Any

from .base import JSONReply, LoopbackServer, RawReply, RecordedRequest, Reply, StreamReply
from .gemini import google_status
from .ws import STOPPED, WebSocketServer, WSFault, WSSession

__all__ = [
    "DashScopeTTSEmulator",
    "GeminiTTSEmulator",
    "MALFORMED_AUDIO",
    "OpenAISpeechEmulator",
    "QwenTTSRealtimeEmulator",
    "split_pcm",
    "tone_for",
    "wav_bytes",
]

RATE = 24000
MALFORMED_AUDIO = "%%% not base64 %%%"
TTS_PATH = "/services/aigc/multimodal-generation/generation"
_WAV_RE = re.compile(r"^/files/tts-(\d+)\.wav$")
_DASHSCOPE_CODES = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    403: "AccessDenied",
    404: "ModelNotFound",
    429: "Throttling.RateQuota",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def tone_for(text: str) -> bytes:
    """Deterministic PCM16 (little-endian, even length) for ``text``: 40 samples per character."""
    samples = max(1, 40 * len(text))
    digest = b""
    for counter in itertools.count():
        if len(digest) >= 2 * samples:
            break
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
    return digest[: 2 * samples]


def split_pcm(pcm: bytes, chunks: int) -> list[bytes]:
    """``pcm`` in ``chunks`` pieces of whole samples (fewer if it is short); never empty."""
    samples = len(pcm) // 2
    chunks = max(1, min(chunks, samples or 1))
    step = -(-samples // chunks)
    return [pcm[i : i + 2 * step] for i in range(0, len(pcm), 2 * step)] or [pcm]


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """``pcm`` (mono PCM16) as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _AudioScript:
    """What every TTS emulator shares: the scripted audio and the one-shot malformed flag."""

    def __init__(self) -> None:
        self._audio_lock = threading.Lock()
        self._audio_fn: Callable[[str], bytes] = tone_for
        self._chunks = 3
        self._malformed = False
        #: Seconds between two streamed chunks (HTTP emulators; 0: sent at once, coalesced).
        self.chunk_delay = 0.0

    def set_audio(self, pcm: bytes, chunks: int = 3) -> None:
        """Answer every request with ``pcm`` (streamed in ``chunks`` pieces)."""
        with self._audio_lock:
            self._audio_fn, self._chunks = (lambda _text: pcm), chunks

    def set_audio_fn(self, fn: Callable[[str], bytes], chunks: int = 3) -> None:
        with self._audio_lock:
            self._audio_fn, self._chunks = fn, chunks

    def set_malformed_audio(self) -> None:
        """The next reply's audio (one stream chunk, or the whole audio) is not base64."""
        with self._audio_lock:
            self._malformed = True

    def reset_audio(self) -> None:
        with self._audio_lock:
            self._audio_fn, self._chunks, self._malformed = tone_for, 3, False
            self.chunk_delay = 0.0

    def _audio(self, text: str) -> tuple[list[bytes], bool]:
        """The chunks for ``text`` and whether this reply is the malformed one."""
        with self._audio_lock:
            fn, chunks, malformed = self._audio_fn, self._chunks, self._malformed
            self._malformed = False
        return split_pcm(fn(text), chunks), malformed


# -- OpenAI -------------------------------------------------------------------------------------


class OpenAISpeechEmulator(_AudioScript, LoopbackServer):
    """``POST /v1/audio/speech``: the audio as raw chunked bytes (OpenAI error bodies)."""

    def __init__(self, *, tls: bool = False) -> None:
        _AudioScript.__init__(self)
        LoopbackServer.__init__(self, tls=tls)

    def clear(self) -> None:
        super().clear()
        self.reset_audio()

    def error_body(self, status: int, message: str) -> Any:
        body = super().error_body(status, message)
        if status == 401:
            body["error"]["code"] = "invalid_api_key"
        elif status == 429:
            body["error"].update(type="requests", code="rate_limit_exceeded")
        return body

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method != "POST" or path not in ("/v1/audio/speech", "/audio/speech"):
            return self.not_found(req)
        if not req.headers.get("authorization", "").removeprefix("Bearer ").strip():
            return JSONReply(self.error_body(401, "You didn't provide an API key."), status=401)
        body = req.json if isinstance(req.json, dict) else {}
        for name in ("model", "input", "voice"):
            if not isinstance(body.get(name), str) or not body[name]:
                return JSONReply(self.error_body(400, f"'{name}' is required"), status=400)
        fmt = body.get("response_format", "mp3")
        chunks, _ = self._audio(body["input"])
        content_type = "audio/pcm" if fmt == "pcm" else f"audio/{fmt}"
        return StreamReply(iter(chunks), content_type=content_type, chunk_delay=self.chunk_delay)


# -- DashScope HTTP -----------------------------------------------------------------------------


class DashScopeTTSEmulator(_AudioScript, LoopbackServer):
    """qwen3-tts-flash over DashScope's HTTP API; ``api_base`` is the ``base_address``."""

    def __init__(self, *, tls: bool = False) -> None:
        _AudioScript.__init__(self)
        LoopbackServer.__init__(self, tls=tls)
        self._ids = itertools.count(1)
        self._files: dict[int, bytes] = {}
        #: Not streamed: send the WAV as base64 ``data`` (and no ``url``) instead.
        self.whole_as_data = False

    @property
    def api_base(self) -> str:
        return self.base_url + "/api/v1"

    def clear(self) -> None:
        super().clear()
        self.reset_audio()
        self._files.clear()
        self.whole_as_data = False

    def error_body(self, status: int, message: str) -> Any:
        code = _DASHSCOPE_CODES.get(status, "InternalError" if status >= 500 else "BadRequest")
        return {"code": code, "message": message, "request_id": f"req-{next(self._ids)}"}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        body = {
            "code": payload.get("code", "InternalError"),
            "message": payload.get("message", "error"),
            "request_id": payload.get("request_id", "req-error"),
        }
        status = payload.get("status", 500)
        data = json.dumps(body).encode()
        return b"id:error\nevent:error\n:HTTP_STATUS/%d\ndata:%s\n\n" % (status, data)

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        match = _WAV_RE.match(path)
        if req.method == "GET" and match:
            data = self._files.get(int(match.group(1)))
            if data is None:
                return JSONReply(self.error_body(404, "no such file"), status=404)
            return RawReply(data, content_type="audio/wav")
        if req.method != "POST" or not path.endswith(TTS_PATH):
            return JSONReply(self.error_body(404, f"no route for {req.path}"), status=404)
        if not req.headers.get("authorization", "").removeprefix("Bearer ").strip():
            return JSONReply(self.error_body(401, "Invalid API-key provided."), status=401)
        body = req.json if isinstance(req.json, dict) else {}
        inp = body.get("input") or {}
        if not isinstance(body.get("model"), str) or not isinstance(inp.get("text"), str):
            return JSONReply(self.error_body(400, "model and input.text are required"), 400)
        chunks, malformed = self._audio(inp["text"])
        rid = f"req-{next(self._ids)}"
        file_id = next(self._ids)
        self._files[file_id] = wav_bytes(b"".join(chunks))
        url = f"{self.base_url}/files/tts-{file_id}.wav"
        characters = len(inp["text"])
        usage = {"characters": characters, "input_tokens": characters, "output_tokens": 0}
        final_audio = {"url": url, "data": "", "id": f"audio-{file_id}", "expires_at": 1}
        if req.headers.get("x-dashscope-sse", "").lower() != "enable":
            if malformed:
                final_audio = {**final_audio, "url": "", "data": MALFORMED_AUDIO}
            elif self.whole_as_data:
                final_audio = {**final_audio, "url": "", "data": _b64(self._files[file_id])}
            output = {"finish_reason": "stop", "audio": final_audio}
            return JSONReply({"output": output, "usage": usage, "request_id": rid})
        events = self._events(chunks, malformed, final_audio, usage, rid)
        return StreamReply(events, chunk_delay=self.chunk_delay)

    @staticmethod
    def _events(
        chunks: list[bytes], malformed: bool, final: dict[str, Any], usage: Any, rid: str
    ) -> Iterator[bytes]:
        n = 0
        for n, chunk in enumerate(chunks, start=1):
            data = MALFORMED_AUDIO if malformed and n == 1 else _b64(chunk)
            audio = {"data": data, "id": final["id"], "expires_at": 1, "url": ""}
            body = {"output": {"finish_reason": "null", "audio": audio}, "usage": usage}
            yield _dashscope_event(n, {**body, "request_id": rid})
        body = {"output": {"finish_reason": "stop", "audio": final}, "usage": usage}
        yield _dashscope_event(n + 1, {**body, "request_id": rid})


def _dashscope_event(index: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:%s\n\n" % (index, data)


# -- Gemini -------------------------------------------------------------------------------------


class GeminiTTSEmulator(_AudioScript, LoopbackServer):
    """Gemini TTS: ``generateContent`` / ``streamGenerateContent`` answering ``inlineData``."""

    mime_type = f"audio/L16;codec=pcm;rate={RATE}"

    def __init__(self, *, tls: bool = False) -> None:
        _AudioScript.__init__(self)
        LoopbackServer.__init__(self, tls=tls)

    def clear(self) -> None:
        super().clear()
        self.reset_audio()

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message, "status": google_status(status)}}

    def error_event(self, payload: dict[str, Any]) -> bytes:
        code = int(payload.get("code") or 500)
        error = {"code": code, "message": payload.get("message", "internal error")}
        error["status"] = payload.get("status") or google_status(code)
        return b"data: %s\n\n" % json.dumps({"error": error}).encode()

    def handle(self, req: RecordedRequest) -> Reply:
        path = req.path.split("?", 1)[0]
        match = re.match(
            r"^/v1(?:beta)?/models/([^:/]+):(generateContent|streamGenerateContent)$", path
        )
        if req.method != "POST" or not match:
            return self.not_found(req)
        if not req.headers.get("x-goog-api-key"):
            return JSONReply(self.error_body(401, "API key not valid."), status=401)
        body = req.json if isinstance(req.json, dict) else {}
        texts = [
            part.get("text", "")
            for content in body.get("contents") or []
            for part in content.get("parts") or []
        ]
        if not texts:
            return JSONReply(self.error_body(400, "contents is required"), status=400)
        chunks, malformed = self._audio("".join(texts))
        model = match.group(1)
        usage = {"promptTokenCount": len(texts[0]), "totalTokenCount": len(texts[0])}
        if match.group(2) == "generateContent":
            data = MALFORMED_AUDIO if malformed else _b64(b"".join(chunks))
            return JSONReply(self._response(model, data, usage, True))
        events = (
            b"data: %s\n\n"
            % json.dumps(
                self._response(
                    model,
                    MALFORMED_AUDIO if malformed and i == 0 else _b64(chunk),
                    usage,
                    i == len(chunks) - 1,
                )
            ).encode()
            for i, chunk in enumerate(chunks)
        )
        return StreamReply(events, chunk_delay=self.chunk_delay)

    def _response(self, model: str, data: str, usage: Any, last: bool) -> dict[str, Any]:
        part = {"inlineData": {"mimeType": self.mime_type, "data": data}}
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}


# -- DashScope realtime (websocket) -------------------------------------------------------------


class QwenTTSRealtimeEmulator(_AudioScript):
    """The qwen3-tts-flash-realtime websocket; ``url`` is what ``QwenTtsRealtime(url=)`` takes
    (the SDK appends ``?model=``). Every connection is a :class:`WSSession` of ``server``.

    ``reject_key``: a key answered with an ``error`` event and a close (as a 401 would be).
    """

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__()
        self.server = WebSocketServer(self._session, tls=tls)
        self.reject_key: str | None = None
        #: ``{"code", "message"}``: answer the next ``input_text_buffer.append`` with this
        #: ``error`` event instead of audio (the connection stays open).
        self.error_on_append: dict[str, Any] | None = None
        self._ids = itertools.count(1)

    def start(self) -> QwenTTSRealtimeEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> QwenTTSRealtimeEmulator:
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

    def events(self, connection: int | None = None) -> list[dict[str, Any]]:
        """The client's events (parsed), of one connection or all."""
        return [
            m.json for m in self.server.received if connection is None or m.connection == connection
        ]

    def add_fault(self, fault: WSFault) -> None:
        self.server.add_fault(fault)

    def clear(self) -> None:
        self.server.clear()
        self.reset_audio()
        self.reject_key = None
        self.error_on_append = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"event_{next(self._ids)}", "type": kind, **fields}

    def _session(self, session: WSSession) -> None:
        key = session.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key or key == self.reject_key:
            # Echoing the key, as some servers do: the client must scrub it.
            error = {"type": "invalid_request_error", "code": "InvalidApiKey",
                     "message": f"Invalid API-key provided: {key}"}  # fmt: skip
            session.send(self._event("error", error=error))
            # Then the server waits for the client to leave (closing at once would leave the
            # SDK's connect() polling for an open socket until its 5 s timeout).
            try:
                while session.recv(timeout=10) is not STOPPED:
                    pass
            except TimeoutError:
                session._connection.close(4001, "InvalidApiKey")
            return
        sid = f"sess_{session.index}"
        config: dict[str, Any] = {"mode": "server_commit", "voice": "Cherry"}
        session.send(self._event("session.created", session={"id": sid, **config}))
        response_id: str | None = None
        while (event := session.recv_json()) is not STOPPED:
            kind = event.get("type")
            if kind == "session.update":
                config.update(event.get("session") or {})
                session.send(self._event("session.updated", session={"id": sid, **config}))
            elif kind == "input_text_buffer.append" and self.error_on_append is not None:
                error, self.error_on_append = self.error_on_append, None
                session.send(self._event("error", error={"type": "server_error", **error}))
            elif kind == "input_text_buffer.append":
                if response_id is None:
                    response_id = f"resp_{next(self._ids)}"
                    response = {"id": response_id, "status": "in_progress"}
                    session.send(self._event("response.created", response=response))
                chunks, malformed = self._audio(event.get("text", ""))
                for i, chunk in enumerate(chunks):
                    delta = MALFORMED_AUDIO if malformed and i == 0 else _b64(chunk)
                    session.send(
                        self._event("response.audio.delta", response_id=response_id, delta=delta)
                    )
            elif kind in ("input_text_buffer.commit", "session.finish"):
                if response_id is not None:
                    session.send(self._event("response.audio.done", response_id=response_id))
                    done = {"id": response_id, "status": "completed"}
                    session.send(self._event("response.done", response=done))
                    response_id = None
                if kind == "session.finish":
                    session.send(self._event("session.finished"))
                    # The SDK's websocket-client does not end the close handshake promptly
                    # (seen here): don't wait websockets' default 10 s for it.
                    session._connection.close_timeout = 0.5
                    session._connection.close()
                    return
            else:
                error = {"type": "invalid_request_error", "message": f"unknown event {kind}"}
                session.send(self._event("error", error=error))


def pcm_samples(pcm: bytes) -> tuple[int, ...]:
    """``pcm`` as little-endian int16 samples (for assertions)."""
    return struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
