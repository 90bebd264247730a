"""``GeminiRealtimeModel``: Gemini Live through the official ``google-genai`` SDK.

``client.aio.live.connect(model=, config=LiveConnectConfig(...))`` is entered in ``_open`` and
exited in ``_close``; the SDK sends ``{"setup": ...}`` (model, system instruction, tools as
``functionDeclarations``, voice, both transcriptions on) and waits for ``setupComplete``, so
the session is created once ``connect`` returns. Input: audio as ``realtimeInput`` PCM16 16 kHz
(server VAD answers it), text as a complete ``clientContent`` turn, images as
``realtimeInput.video`` frames, tool results as ``toolResponse``. Output: 24 kHz PCM16.
One ``genai.Client`` per model, built (and the SDK imported) on the first connect, with an
explicit key and ``HttpOptions``: nothing process-global.

What Gemini lacks, and what stands in for it (:class:`LiveTranslator` keeps the per-turn state):

* response ids: one is made per model turn (``resp_<hex>``); a tool call ends its response,
  and the answer after the tool result is a new one, as with OpenAI;
* VAD events: only when the server sends them (``voiceActivity``, to allowlisted projects;
  ``voiceActivityDetectionSignal`` on Vertex), as input started/done;
* a cancel: ``cancel_response`` ends the current response at once (its done event has
  ``status: cancelled``) and drops the rest of that turn as it arrives; the server still
  finishes generating it. A barge-in the server detects (``interrupted``) is the same event;
* "answer now": ``create_response`` sends an empty complete turn, unless a response is under
  way or a tool result is being answered (Gemini continues after a tool result by itself);
* ``goAway`` (the server will close soon): the session ends there, the response under way
  cancelled, so a caller reconnects at once rather than mid-answer later.

Errors: the service refuses a bad key, a bad request or a quota by closing the websocket with
a code and a reason (the SDK raises ``APIError(code)``), mapped by :func:`close_error`; a close
during ``connect`` is raised from it, later ones become a ``ModelErrorEvent``. A normal close
(1000) ends the session without an error.

Over 400 lines because half of it is :class:`LiveTranslator`, the turn state Gemini leaves to
the client; it is pure (messages in, events out) and tested without a socket.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from .._secrets import scrub
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConfigIssue,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    error_for_status,
)
from ..tts._common import resolve_api_key
from ._base import RealtimeModelBase
from ._events import AudioFormat, ModelEvents, RealtimeEventError

__all__ = ["GeminiRealtimeModel", "LiveTranslator", "close_error"]

_RATE = re.compile(r"rate\s*=\s*(\d+)", re.IGNORECASE)
# Gemini says a key is bad only in a close reason (1007 "API key not valid...").
_AUTH = re.compile(r"api[ _-]?key|unauthenticated|permission|credential", re.IGNORECASE)
_QUOTA = re.compile(r"quota|resource[ _]exhausted|rate limit", re.IGNORECASE)


class _ScrubRecords(logging.Filter):
    """Masks secrets in a record: at DEBUG websockets logs the handshake's headers, the
    ``x-goog-api-key`` among them, and the SDK takes no logger for its websocket."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), ()
        return True


def _mask_websocket_logs() -> None:
    logger = logging.getLogger("websockets.client")
    if not any(isinstance(f, _ScrubRecords) for f in logger.filters):
        logger.addFilter(_ScrubRecords())


def close_error(code: int, reason: str) -> type[ProviderError]:
    """The typed error of a websocket close code and its reason (Gemini Live's practice:
    1007 invalid argument or bad key, 1008 policy (model not found...), 1011 internal or
    quota)."""
    if _AUTH.search(reason):
        return AuthenticationError
    if _QUOTA.search(reason):
        return RateLimitError
    if code in (1007, 1008):
        return BadRequestError
    if code in (1011, 1012, 1013, 1014):
        return ServerError
    if 400 <= code < 600:  # an HTTP status in an error frame
        return error_for_status(code)
    return ProviderConnectionError


class LiveTranslator:
    """``LiveServerMessage`` -> ModelEvents, with the state of the turn under way (the ids
    Gemini does not send). ``translate(message)`` and ``cancel()`` return the events."""

    def __init__(self, output_rate: int = 24000) -> None:
        self.output_rate = output_rate
        self.response_id = ""  # the response under way ("" when none)
        self.item_id = ""  # the id of its audio and transcript, once it speaks
        self.transcript = ""
        self.audio_done = False
        self.dropping = False  # the rest of a cancelled turn is not relayed
        self.input_id = ""  # the user's input item under way
        self.input_text = ""
        self.usage: Any = None
        self._carry = b""  # half a sample left over by an audio chunk

    def translate(self, msg: Any) -> list[Any]:
        events: list[Any] = []
        signal = getattr(msg.voice_activity, "voice_activity_type", None) or getattr(
            msg.voice_activity_detection_signal, "vad_signal_type", None)  # fmt: skip
        kind = str(getattr(signal, "value", signal) or "")
        if kind in ("ACTIVITY_START", "VAD_SIGNAL_TYPE_SOS"):  # a new utterance, a new item
            events += self._input_done()
            self.input_id = ""
            events.append(ModelEvents.ModelInputStartedEvent(item_id=self._input()))
        elif kind in ("ACTIVITY_END", "VAD_SIGNAL_TYPE_EOS"):
            events.append(ModelEvents.ModelInputDoneEvent(item_id=self._input()))
        if msg.usage_metadata is not None:
            self.usage = msg.usage_metadata
        content = msg.server_content
        if content is not None:
            events += self._content(content)
        if msg.tool_call is not None and not self.dropping:
            events += self._tool_calls(msg.tool_call.function_calls or [])
        if msg.go_away is not None:
            events += self._end("cancelled", reason="go_away")
        return events

    def cancel(self) -> list[Any]:
        """End the response under way as cancelled; drop the rest of its turn."""
        if not self.response_id:
            return []
        self.dropping = True
        return self._end("cancelled")

    # -- internals -------------------------------------------------------------------------------
    def _content(self, content: Any) -> list[Any]:
        events: list[Any] = []
        heard = content.input_transcription
        if heard is not None and heard.text:
            item_id = self._input()
            self.input_text += heard.text
            events.append(ModelEvents.ModelInputTranscriptionDeltaEvent(
                item_id=item_id, delta=heard.text))  # fmt: skip
        if heard is not None and heard.finished:
            events += self._input_done()
        if not self.dropping:
            for part in (content.model_turn.parts or []) if content.model_turn else []:
                blob = part.inline_data
                # Text parts in an audio reply are the model's thoughts: not relayed.
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio"):
                    events += self._audio(blob.data, blob.mime_type or "")
            said = content.output_transcription
            if said is not None and said.text:
                events += self._created()
                self.transcript += said.text
                events.append(
                    ModelEvents.ModelResponseAudioTranscriptDeltaEvent(
                        response_id=self.response_id, item_id=self._item(), delta=said.text
                    )
                )
        if content.generation_complete:
            events += self._audio_done()
        if content.interrupted:  # the server heard the user over the answer (barge-in)
            events += self._end("cancelled")
            self.dropping = False
        if content.turn_complete:
            events += self._input_done() + self._end("completed")
            self.dropping, self.usage = False, None  # the turn's usage is its last response's
        return events

    def _audio(self, data: bytes, mime_type: str) -> list[Any]:
        events = self._created()
        data, self._carry = self._carry + data, b""
        if len(data) % 2:  # keep the half sample for the next chunk
            data, self._carry = data[:-1], data[-1:]
        if data:
            rate = _RATE.search(mime_type)
            fmt = AudioFormat(sample_rate=int(rate.group(1)) if rate else self.output_rate)
            events.append(ModelEvents.ModelResponseAudioDeltaEvent(
                response_id=self.response_id, item_id=self._item(),
                delta=base64.b64encode(data).decode("ascii"), format=fmt))  # fmt: skip
        return events

    def _tool_calls(self, calls: list[Any]) -> list[Any]:
        events = self._created()
        for call in calls:
            args = dict(call.args or {})
            tool_use = {"type": "tool_use", "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                        "name": call.name or "", "input": args,
                        "raw_input": json.dumps(args, ensure_ascii=False)}  # fmt: skip
            for cls in (ModelEvents.ModelResponseToolUseDeltaEvent,
                        ModelEvents.ModelResponseToolUseDoneEvent):  # fmt: skip
                events.append(cls(response_id=self.response_id, item_id=tool_use["id"],
                                  tool_use=dict(tool_use)))  # fmt: skip
        # Gemini waits for the results: this response is over, the answer will be a new one.
        return events + self._end("completed")

    def _created(self) -> list[Any]:
        if self.response_id:
            return []
        events = self._input_done()
        self.response_id, self.item_id = f"resp_{uuid.uuid4().hex}", ""
        self.transcript, self._carry, self.audio_done = "", b"", False
        return events + [ModelEvents.ModelResponseCreatedEvent(response_id=self.response_id)]

    def _item(self) -> str:
        """The id of the response's audio (and its transcript), made when it first speaks."""
        if not self.item_id:
            self.item_id = f"item_{uuid.uuid4().hex}"
        return self.item_id

    def _audio_done(self) -> list[Any]:
        # At generationComplete: no more audio (its transcription may still lag behind).
        if not self.item_id or self.audio_done:
            return []
        self.audio_done = True
        return [
            ModelEvents.ModelResponseAudioDoneEvent(
                response_id=self.response_id, item_id=self.item_id
            )
        ]

    def _outputs_done(self) -> list[Any]:
        if not self.response_id or not self.item_id:  # nothing was said
            return []
        events = self._audio_done()
        events.append(
            ModelEvents.ModelResponseAudioTranscriptDoneEvent(
                response_id=self.response_id, item_id=self.item_id, transcript=self.transcript
            )
        )
        return events

    def _end(self, status: str, **metadata: str) -> list[Any]:
        if not self.response_id:
            return []
        events = self._outputs_done()
        usage, self.usage = self.usage, None
        events.append(
            ModelEvents.ModelResponseDoneEvent(
                response_id=self.response_id,
                metadata={"status": status, **metadata},
                input_tokens=_count(usage, "prompt_token_count", "tool_use_prompt_token_count"),
                output_tokens=_count(usage, "response_token_count", "thoughts_token_count"),
            )
        )
        self.response_id = ""
        return events

    def _input(self) -> str:
        if not self.input_id:
            self.input_id, self.input_text = f"input_{uuid.uuid4().hex}", ""
        return self.input_id

    def _input_done(self) -> list[Any]:
        if not self.input_id or not self.input_text:
            return []
        event = ModelEvents.ModelInputTranscriptionDoneEvent(
            item_id=self.input_id, transcript=self.input_text
        )
        self.input_id, self.input_text = "", ""
        return [event]


def _checked(cls: Any, fields: dict[str, Any], name: str) -> Any:
    """``cls(**fields)``, or a ConfigError naming the config field."""
    try:
        return cls(**fields)
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(ConfigIssue(f"GeminiRealtimeModel {name}: {exc}", field=name)) from None


def _count(usage: Any, *fields: str) -> int:
    return sum(getattr(usage, f, None) or 0 for f in fields) if usage is not None else 0


class GeminiRealtimeModel(RealtimeModelBase):
    """Gemini Live (``gemini-2.5-flash-native-audio-preview-09-2025`` and the other live models).

    Args:
        model_name: the live model.
        api_key: the key (default: ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``).
        voice: a prebuilt voice, e.g. ``"Puck"`` (Gemini's default otherwise).
        base_url: the API's base URL (the SDK connects to it over ``wss``).
        api_version: e.g. ``"v1alpha"`` (the SDK's default otherwise).
        http_options: more ``HttpOptions`` fields, e.g. ``{"async_client_args": {"ssl": ctx}}``
            (the SSL context of the websocket).
        live_config: more ``LiveConnectConfig`` fields (``temperature``,
            ``realtime_input_config``, ``thinking_config``...).
    """

    model_type: ClassVar[str] = "gemini_realtime"
    provider: ClassVar[str] = "gemini"
    support_tools: ClassVar[bool] = True
    support_image: ClassVar[bool] = True
    input_sample_rate: ClassVar[int] = 16000
    output_sample_rate: ClassVar[int] = 24000
    config_schema: ClassVar[dict[str, Any]] = {
        "base_url": {"type": ["string", "null"]},
        "api_version": {"type": ["string", "null"]},
        "http_options": {"type": ["object", "null"]},
        "live_config": {"type": ["object", "null"]},
    }

    def __init__(
        self,
        model_name: str = "gemini-2.5-flash-native-audio-preview-09-2025",
        *,
        api_key: str | None = None,
        voice: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        http_options: dict[str, Any] | None = None,
        live_config: dict[str, Any] | None = None,
        connect_timeout: float = 10.0,
        response_timeout: float = 30.0,
    ) -> None:
        key = resolve_api_key(type(self).__name__, api_key, ("GEMINI_API_KEY", "GOOGLE_API_KEY"))
        _mask_websocket_logs()
        super().__init__(model_name, api_key=key, voice=voice, connect_timeout=connect_timeout,
                         response_timeout=response_timeout)  # fmt: skip
        self.base_url, self.api_version = base_url, api_version
        self.http_options = dict(http_options or {})
        self.live_config = dict(live_config or {})
        self._client: Any = None  # built on the first connect (the SDK is imported then)
        self._types: Any = None
        self._errors: Any = None
        self._cm: Any = None
        self._session: Any = None
        self._turns = LiveTranslator(self.output_sample_rate)
        self._tool_pending = False  # a tool result was sent, Gemini's answer to it is due

    async def connect(
        self,
        outgoing_queue: asyncio.Queue[Any],
        instructions: str = "",
        tools: list[dict[str, Any]] | None = None,
    ) -> None:
        self._sdk_client()  # a bad option is a ConfigError here, before any socket
        await super().connect(outgoing_queue, instructions, tools)

    def _sdk_client(self) -> Any:
        """This model's ``genai.Client``, built once (on the first connect)."""
        if self._client is None:
            from ..models.gemini import import_genai

            genai = import_genai()
            options = dict(self.http_options)
            for name in ("base_url", "api_version"):
                if getattr(self, name):
                    options[name] = getattr(self, name)
            http = _checked(genai.types.HttpOptions, options, "http_options")
            _checked(genai.types.LiveConnectConfig, self.live_config, "live_config")
            self._types, self._errors = genai.types, genai.errors
            # vertexai=False: never switched on by GOOGLE_GENAI_USE_VERTEXAI.
            self._client = genai.Client(api_key=self._api_key, http_options=http, vertexai=False)
        return self._client

    # -- the session ------------------------------------------------------------------------------
    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        from ..models.gemini._messages import tools_to_gemini

        config: dict[str, Any] = {
            "response_modalities": ["AUDIO"],
            "input_audio_transcription": {},
            "output_audio_transcription": {},
            **({"system_instruction": instructions} if instructions else {}),
            **({"tools": tools_to_gemini(tools)} if tools else {}),
            **({"speech_config": {"voice_config": {"prebuilt_voice_config": {
                "voice_name": self.voice}}}} if self.voice else {}),
            **self.live_config,
        }  # fmt: skip
        self._turns, self._tool_pending = LiveTranslator(self.output_sample_rate), False
        cm = self._sdk_client().aio.live.connect(
            model=self.model_name, config=self._types.LiveConnectConfig(**config)
        )
        self._session = await cm.__aenter__()
        self._cm = cm
        self.session_id = self._session.session_id or self.session_id
        self._emit(ModelEvents.ModelSessionCreatedEvent(session_id=self.session_id))

    async def _close(self) -> None:
        cm, session, self._cm, self._session = self._cm, self._session, None, None
        if cm is None:
            return
        try:
            await cm.__aexit__(None, None, None)  # the close handshake
        finally:
            # A handshake cut short (a stalled server, a cancelled disconnect) would leave the
            # socket open: drop it (the SDK keeps its websocket as ``_ws``).
            transport = getattr(getattr(session, "_ws", None), "transport", None)
            if transport is not None:
                transport.abort()

    async def _receive(self) -> AsyncIterator[Any]:
        try:
            while self._session is not None:
                # receive() ends after each turn: one call per turn.
                async for message in self._session.receive():
                    yield message
                    if message.go_away is not None:
                        return
        except self._errors.APIError as exc:
            if exc.code != 1000:  # 1000: closed normally
                raise
        except ValueError as exc:  # the SDK's "Failed to parse response" (not JSON)
            raise self._error(ResponseFormatError, f"malformed message: {exc}") from None

    def _parse(self, raw: Any) -> list[Any]:
        events = self._turns.translate(raw)
        if any(isinstance(e, ModelEvents.ModelResponseCreatedEvent) for e in events):
            self._tool_pending = False
        return events

    # -- input ------------------------------------------------------------------------------------
    async def _send_audio(self, pcm: bytes) -> None:
        blob = self._types.Blob(data=pcm, mime_type=f"audio/pcm;rate={self.input_sample_rate}")
        await self._live().send_realtime_input(audio=blob)

    async def _send_text(self, text: str) -> None:
        await self._live().send_client_content(
            turns={"role": "user", "parts": [{"text": text}]}, turn_complete=True
        )

    async def _send_image(self, data_b64: str, media_type: str) -> None:
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise RealtimeEventError("an image block's data is not valid base64") from None
        blob = self._types.Blob(data=data, mime_type=media_type or "image/jpeg")
        await self._live().send_realtime_input(video=blob)

    async def _send_tool_result(self, call_id: str, name: str, output: str) -> None:
        # {"output": ...} is the FunctionResponse convention the SDK documents.
        response = self._types.FunctionResponse(id=call_id, name=name, response={"output": output})
        await self._live().send_tool_response(function_responses=[response])
        self._tool_pending = True

    async def _create_response(self) -> None:
        if not (self._turns.response_id or self._tool_pending):
            await self._live().send_client_content(turn_complete=True)

    async def _cancel_response(self) -> None:
        for event in self._turns.cancel():
            self._emit(event)

    async def _commit_audio(self) -> None:
        await self._live().send_realtime_input(audio_stream_end=True)

    # -- errors -----------------------------------------------------------------------------------
    def _translate(self, exc: BaseException) -> ProviderError:
        if self._errors is not None and isinstance(exc, self._errors.APIError):
            code = exc.code if isinstance(exc.code, int) else 0
            reason = exc.message or str(exc.details or "") or str(exc)
            return self._error(close_error(code, reason), reason, status=code or None)
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        if isinstance(exc, InvalidStatus):  # the handshake was refused with an HTTP status
            status = exc.response.status_code
            return self._error(error_for_status(status), f"handshake refused: HTTP {status}",
                               status=status)  # fmt: skip
        if isinstance(exc, ConnectionClosed):  # sending on a closed socket
            code = exc.rcvd.code if exc.rcvd else 1006
            return self._error(close_error(code, exc.rcvd.reason if exc.rcvd else ""),
                               f"connection closed: {exc}", status=code)  # fmt: skip
        return super()._translate(exc)

    def _live(self) -> Any:
        if self._session is None:
            raise self._error(ProviderConnectionError, "the live session is closed")
        return self._session
