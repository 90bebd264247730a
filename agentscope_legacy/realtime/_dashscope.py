"""``DashScopeRealtimeModel``: Qwen-Omni realtime (``qwen3-omni-flash-realtime``) through the
official SDK's ``dashscope.audio.qwen_omni.OmniRealtimeConversation``.

On the wire (verified on loopback, ``tests/emulators/realtime_dashscope.py``): the SDK connects
to ``{url}?model=<model>`` with ``Authorization: Bearer <key>``; the server says
``session.created``; the client sends ``session.update`` (modalities, voice, instructions, PCM
16 kHz in and 24 kHz out under ``audio.input/output.format``, server VAD), then
``input_audio_buffer.append`` / ``input_image_buffer.append`` / ``conversation.item.create``,
``input_audio_buffer.commit``, ``response.create`` and ``response.cancel``; the server answers
with the OpenAI-shaped events that :func:`parse_event` maps to ModelEvents.

**Keys per model.** ``OmniRealtimeConversation(api_key=)`` keeps the key on the instance
(``apikey``, which builds the header; dashscope 2.0.2, read in its source and tested with two
models): ``dashscope.api_key`` is never read or written.

**Threads.** The SDK runs websocket-client in its own thread and calls back there: every event
goes to the base's thread feed and is parsed on the event loop. Its blocking ``connect()`` polls
up to 5 s for the socket, so it runs in a daemon thread of its own and ``connect`` waits for
whichever comes first, ``session.created`` or the close callback: a refused handshake (HTTP 401)
fails ``connect`` at once as AuthenticationError, with the status the SDK's error callback saw.

About 450 lines: the pure event table, and the bridge to an SDK that connects, fails and calls
back in threads of its own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from .._secrets import scrub, scrub_exception
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConfigIssue,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    error_for_status,
)
from ..model._endpoint import dashscope_realtime_url
from ..tts._common import resolve_api_key
from ._base import RealtimeModelBase, RealtimeSessionError
from ._events import AudioFormat, ModelEvents

__all__ = ["DashScopeRealtimeModel", "error_class", "handshake_error", "parse_event"]

DEFAULT_URL = "wss://dashscope.aliyuncs.com/api-ws/v1/realtime"
IN_RATE, OUT_RATE = 16000, 24000  # the service's pcm16 in, pcm24 out
_FORMAT = AudioFormat(sample_rate=OUT_RATE)
_MODALITIES = (["text", "audio"], ["text"])  # the only two the service accepts
_IMAGE_TYPES = ("", "image/jpeg", "image/jpg", "image/png")

_TRANSCRIPT_DELTA = {"response.audio_transcript.delta", "response.text.delta"}
_TRANSCRIPT_DONE = {"response.audio_transcript.done", "response.text.done"}


# -- pure parsing ----------------------------------------------------------------------------------
def error_class(error: dict[str, Any]) -> type[ProviderError]:
    """The typed error of an ``error`` event's ``error`` object (by its code, then its type)."""
    code, kind = str(error.get("code") or ""), str(error.get("type") or "")
    if code in ("InvalidApiKey", "AccessDenied") or kind == "authentication_error":
        return AuthenticationError
    if code.startswith("Throttling") or kind == "rate_limit_error":
        return RateLimitError
    if code.startswith(("InternalError", "ServiceUnavailable")) or kind == "server_error":
        return ServerError
    if kind == "invalid_request_error":
        return BadRequestError
    return ProviderError


def _error_event(err: ProviderError, code: str) -> Any:
    return ModelEvents.ModelErrorEvent(error_type=type(err).__name__, code=code,
                                       message=str(err))  # str() is scrubbed


def parse_event(event: dict[str, Any], model: str = "") -> list[Any]:
    """One server event (decoded JSON) -> its ModelEvents (none for the bookkeeping ones)."""
    kind = event.get("type")
    if kind == "response.audio.delta":
        return [ModelEvents.ModelResponseAudioDeltaEvent(
            response_id=event["response_id"], item_id=event["item_id"], delta=event["delta"],
            format=_FORMAT)]  # fmt: skip
    if kind in _TRANSCRIPT_DELTA:
        return [ModelEvents.ModelResponseAudioTranscriptDeltaEvent(
            response_id=event["response_id"], item_id=event["item_id"], delta=event["delta"])]
    if kind in _TRANSCRIPT_DONE:
        return [ModelEvents.ModelResponseAudioTranscriptDoneEvent(
            response_id=event["response_id"], item_id=event["item_id"],
            transcript=event.get("transcript", event.get("text")) or "")]  # fmt: skip
    if kind == "response.audio.done":
        return [ModelEvents.ModelResponseAudioDoneEvent(
            response_id=event["response_id"], item_id=event["item_id"])]
    if kind == "input_audio_buffer.speech_started":
        return [ModelEvents.ModelInputStartedEvent(
            item_id=event["item_id"], audio_start_ms=event.get("audio_start_ms") or 0)]
    if kind == "input_audio_buffer.speech_stopped":
        return [ModelEvents.ModelInputDoneEvent(
            item_id=event["item_id"], audio_end_ms=event.get("audio_end_ms") or 0)]
    if kind == "conversation.item.input_audio_transcription.delta":
        return [ModelEvents.ModelInputTranscriptionDeltaEvent(
            item_id=event["item_id"], delta=event.get("delta") or "")]
    if kind == "conversation.item.input_audio_transcription.completed":
        return [ModelEvents.ModelInputTranscriptionDoneEvent(
            item_id=event["item_id"], transcript=event.get("transcript") or "")]
    if kind == "response.created":
        return [ModelEvents.ModelResponseCreatedEvent(response_id=event["response"]["id"])]
    if kind == "response.done":
        response = event["response"]
        usage = response.get("usage") or {}
        failure = (response.get("status_details") or {}).get("error")
        return [
            *(parse_event({"type": "error", "error": failure}, model) if failure else []),
            ModelEvents.ModelResponseDoneEvent(
                response_id=response.get("id", ""), input_tokens=usage.get("input_tokens") or 0,
                output_tokens=usage.get("output_tokens") or 0,
                metadata={"status": str(response.get("status") or "completed")}),
        ]  # fmt: skip
    if kind == "session.created":
        return [ModelEvents.ModelSessionCreatedEvent(session_id=event["session"]["id"])]
    if kind in ("error", "conversation.item.input_audio_transcription.failed"):
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        cls = error_class(error)
        err = cls(str(error.get("message") or "error reported by the server"),
                  provider="dashscope", model=model)  # fmt: skip
        return [_error_event(err, str(error.get("code") or error.get("type") or cls.__name__))]
    return []


def handshake_error(exc: BaseException) -> ProviderError:
    """A websocket-client exception (the SDK's error callback) as a typed error."""
    from websocket import WebSocketBadStatusException

    if isinstance(exc, WebSocketBadStatusException):  # the HTTP upgrade was refused
        status = exc.status_code
        message = f"handshake refused with HTTP {status}"
        try:
            body = json.loads(exc.resp_body or b"")
            message += f": {body.get('code')}: {body.get('message')}"
        except (ValueError, AttributeError):
            pass
        return error_for_status(status)(scrub(message), status=status)
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"no websocket: {scrub(str(exc))}")
    if isinstance(exc, OSError):
        return ProviderConnectionError(f"cannot connect: {type(exc).__name__}: {exc}")
    return ProviderConnectionError(f"connection lost: {type(exc).__name__}: {scrub(str(exc))}")


@dataclass
class _Closed:
    """The socket closed: cleanly (``error`` None) or not."""

    error: ProviderError | None


class _Link:
    """What the SDK's callback thread saw, put on the base's thread feed."""

    def __init__(self, model: DashScopeRealtimeModel, put: Any) -> None:
        self.model, self.put = model, put
        self.error: BaseException | None = None  # the socket's, from the error callback
        self.abandoned = False  # the model gave up on this connection (closed, timed out)

    def on_event(self, event: Any) -> None:
        if isinstance(event, dict):
            self.put(event)

    def on_error(self, exc: BaseException) -> None:
        module = type(exc).__module__
        if module.startswith("websocket") or isinstance(exc, OSError):
            self.error = self.error or exc  # the close callback follows
        else:  # a frame the SDK could not handle (not JSON): the socket lives on
            self.put(ResponseFormatError(f"malformed event: {scrub(str(exc))}"))

    def on_close(self, code: Any, reason: Any) -> None:
        if self.model._closing or (code == 1000 and self.error is None):
            self.put(_Closed(None))
        elif self.error is not None:
            self.put(_Closed(handshake_error(self.error)))
        else:
            detail = f"close code {code}" + (f": {reason}" if reason else "") if code \
                else "no close frame"
            self.put(_Closed(ProviderConnectionError(f"connection lost ({detail})")))
        self.put(None)

    def connect(self, conversation: Any) -> None:
        """``conversation.connect()``, in a daemon thread: a refused handshake leaves it polling
        for 5 s, which must hold up neither ``connect`` nor the event loop's shutdown."""
        try:
            conversation.connect()
        except BaseException as exc:  # noqa: BLE001 (handed to the event loop)
            try:
                self.put(_Closed(handshake_error(exc)))
            except RuntimeError:  # its loop closed meanwhile (the SDK gave up after 5 s)
                pass
            return
        if self.abandoned:  # connected after the model gave up waiting: don't leak the socket
            conversation.close()


def _sdk() -> Any:
    from ..models.dashscope import import_dashscope

    import_dashscope()  # MissingDependencyError naming the extra when absent
    from dashscope.audio import qwen_omni

    return qwen_omni


class DashScopeRealtimeModel(RealtimeModelBase):
    """Qwen-Omni realtime (``qwen3-omni-flash-realtime``): audio, text and image in; text and
    24 kHz audio out; no tools.

    Args:
        api_key: default ``DASHSCOPE_API_KEY``; this model's own (see the module doc).
        base_url: the endpoint: the websocket's, or DashScope's HTTP base
            (``https://dashscope-intl.aliyuncs.com/api/v1``, as the chat models take), whose
            host's realtime websocket is then used.
        url: the SDK's spelling: the websocket endpoint without ``?model=`` (default Beijing's;
            ``wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime`` for Singapore).
        turn_detection: ``"server_vad"`` (the server finds the end of speech and answers) or
            None (call ``commit_audio()`` / ``create_response()``).
        modalities: ``["text", "audio"]`` or ``["text"]``.
        input_transcription_model: transcribes the user's audio (None: the server's default);
            ``transcribe_input=False`` turns transcripts off.
        session_kwargs: more ``session.update`` fields (``temperature``, ``max_tokens``...).
    """

    model_type: ClassVar[str] = "dashscope_realtime"
    provider: ClassVar[str] = "dashscope"
    support_tools: ClassVar[bool] = False
    support_image: ClassVar[bool] = True
    input_sample_rate: ClassVar[int] = IN_RATE
    output_sample_rate: ClassVar[int] = OUT_RATE
    config_schema: ClassVar[dict[str, Any]] = {
        "base_url": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
        "turn_detection": {"enum": ["server_vad", None]},
        "modalities": {"enum": [["text", "audio"], ["audio", "text"], ["text"]]},
        "transcribe_input": {"type": "boolean"},
        "input_transcription_model": {"type": ["string", "null"]},
        "session_kwargs": {"type": "object"},
    }

    def __init__(
        self,
        model_name: str = "qwen3-omni-flash-realtime",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        url: str | None = None,
        voice: str = "Cherry",
        turn_detection: str | None = "server_vad",
        modalities: list[str] | None = None,
        transcribe_input: bool = True,
        input_transcription_model: str | None = None,
        session_kwargs: dict[str, Any] | None = None,
        connect_timeout: float = 10.0,
        response_timeout: float = 30.0,
    ) -> None:
        name = type(self).__name__
        api_key = resolve_api_key(name, api_key, ("DASHSCOPE_API_KEY",))
        if turn_detection not in ("server_vad", None):
            raise ConfigError(ConfigIssue(
                f"{name}: turn_detection must be 'server_vad' or None, not {turn_detection!r}",
                field="turn_detection"))
        modalities = list(modalities or _MODALITIES[0])
        if sorted(modalities) not in (sorted(m) for m in _MODALITIES):
            raise ConfigError(ConfigIssue(
                f"{name}: modalities must be ['text', 'audio'] or ['text'], not {modalities!r}",
                field="modalities"))
        _sdk()  # MissingDependencyError now, not a ProviderError at connect
        super().__init__(model_name, api_key=api_key, voice=voice,
                         connect_timeout=connect_timeout, response_timeout=response_timeout)
        #: The websocket endpoint (None: the SDK's default).
        self.url = dashscope_realtime_url(name, base_url, url)
        self.turn_detection = turn_detection
        self.modalities = modalities
        self.transcribe_input = transcribe_input
        self.input_transcription_model = input_transcription_model
        self.session_kwargs = dict(session_kwargs or {})
        self._conversation: Any = None
        self._link: _Link | None = None
        self._messages: AsyncIterator[Any] | None = None
        self._early: list[Any] = []  # what _open read before the receive loop started
        self._responding = False  # between response.created and response.done

    # -- the connection --------------------------------------------------------------------------
    def _new_conversation(self, link: _Link) -> Any:
        sdk = _sdk()
        callback = type("_Callback", (sdk.OmniRealtimeCallback,), {
            "on_event": lambda _self, event: link.on_event(event),
            "on_close": lambda _self, code, reason: link.on_close(code, reason),
        })()  # fmt: skip

        class _Conversation(sdk.OmniRealtimeConversation):
            # The SDK's error callback only logs the error (unscrubbed, at ERROR): here it
            # becomes the typed error or event instead, with the refused handshake's status.
            def _on_error(self, ws: Any, error: Any) -> None:
                link.on_error(error)

        conversation = _Conversation(model=self.model_name, callback=callback,
                                     url=self.url or DEFAULT_URL, api_key=self._api_key)
        if getattr(conversation, "apikey", None) != self._api_key:
            raise ConfigError(
                "this dashscope version's OmniRealtimeConversation does not keep the key it "
                "was given (`apikey`): a key per model cannot be set")
        return conversation

    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        put, receive = self._thread_feed()
        self._messages, self._early, self._responding = receive(), [], False
        self._link = link = _Link(self, put)
        self._conversation = conversation = self._new_conversation(link)
        threading.Thread(target=link.connect, args=(conversation,), name="qwen-omni-connect",
                         daemon=True).start()  # fmt: skip
        await self._until("session.created")
        await asyncio.to_thread(conversation.update_session, **self._session_config(instructions))
        await self._until("session.updated")

    async def _until(self, kind: str) -> None:
        """Read the feed up to the event ``kind`` (kept for the receive loop); an ``error``
        event or a close first fails ``connect`` with its typed error."""
        assert self._messages is not None
        while True:
            raw = await anext(self._messages, None)
            if raw is None or isinstance(raw, _Closed):
                raise self._stamped((raw and raw.error) or ProviderConnectionError(
                    "the connection closed before the session was set up"))
            self._early.append(raw)
            if isinstance(raw, dict) and raw.get("type") == "error":
                error = raw.get("error") if isinstance(raw.get("error"), dict) else {}
                raise self._error(error_class(error), scrub(
                    f"{error.get('code') or 'error'}: {error.get('message') or ''}"))
            if isinstance(raw, dict) and raw.get("type") == kind:
                return

    def _session_config(self, instructions: str) -> dict[str, Any]:
        sdk = _sdk()
        by_name = {m.value: m for m in sdk.MultiModality}
        config: dict[str, Any] = {
            "output_modalities": [by_name[m] for m in self.modalities],
            "voice": self.voice,
            "input_audio_config": sdk.AudioFormatConfig(type="pcm", sample_rate=IN_RATE),
            "output_audio_config": sdk.AudioFormatConfig(type="pcm", sample_rate=OUT_RATE),
            "enable_input_audio_transcription": self.transcribe_input,
            "input_audio_transcription_model": self.input_transcription_model,
            "enable_turn_detection": self.turn_detection is not None,
        }
        if instructions:
            config["instructions"] = instructions
        config.update(self.session_kwargs)
        return config

    async def _close(self) -> None:
        conversation, self._conversation = self._conversation, None
        if self._link is not None:
            self._link.abandoned = True
        if conversation is not None and getattr(conversation, "ws", None) is not None:
            await asyncio.to_thread(conversation.close)

    async def _receive(self) -> AsyncIterator[Any]:
        early, self._early = self._early, []
        for raw in early:
            yield raw
        assert self._messages is not None
        async for raw in self._messages:
            if isinstance(raw, _Closed):
                if raw.error is not None:
                    raise self._stamped(raw.error)
                return
            yield raw

    def _parse(self, raw: Any) -> list[Any]:
        if isinstance(raw, ProviderError):  # a frame that could not be read; the session lives
            return [_error_event(self._stamped(raw), "malformed_event")]
        try:
            events = parse_event(raw, self.model_name)
        except (KeyError, TypeError, ValueError) as exc:  # missing fields, audio not base64
            err = self._error(ResponseFormatError,
                              f"malformed {str(raw.get('type'))[:64]!r} event: {exc!r}"[:500])
            return [_error_event(err, "malformed_event")]
        for event in events:
            if isinstance(event, ModelEvents.ModelSessionCreatedEvent):
                self.session_id = event.session_id  # the service's, for the ended event too
            elif isinstance(event, ModelEvents.ModelResponseCreatedEvent):
                self._responding = True
            elif isinstance(event, ModelEvents.ModelResponseDoneEvent):
                self._responding = False
        return events

    def _stamped(self, err: ProviderError) -> ProviderError:
        err.provider, err.model = self.provider, self.model_name
        return err

    # -- sending ---------------------------------------------------------------------------------
    async def _send_audio(self, pcm: bytes) -> None:
        await asyncio.to_thread(self._live().append_audio, base64.b64encode(pcm).decode("ascii"))

    async def _send_text(self, text: str) -> None:
        conversation = self._live()
        item = {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}  # fmt: skip
        await asyncio.to_thread(conversation.create_item, item)
        await asyncio.to_thread(conversation.create_response)

    async def _send_image(self, data_b64: str, media_type: str) -> None:
        if media_type.lower() not in _IMAGE_TYPES:
            raise RealtimeSessionError(
                f"{type(self).__name__} takes JPEG or PNG images, not {media_type!r}")
        await asyncio.to_thread(self._live().append_video, data_b64)

    async def _create_response(self) -> None:
        await asyncio.to_thread(self._live().create_response)

    async def _cancel_response(self) -> None:
        # The service answers a cancel with no response in progress with an error event: a
        # barge-in just after the answer ended is nothing to cancel.
        if self._responding:
            await asyncio.to_thread(self._live().cancel_response)

    async def _commit_audio(self) -> None:
        # A commit alone creates no response (with server VAD the server commits and answers).
        conversation = self._live()
        await asyncio.to_thread(conversation.commit)
        await asyncio.to_thread(conversation.create_response)

    def _live(self) -> Any:
        if self._conversation is None:
            raise self._error(ProviderConnectionError, "the connection is closed")
        return self._conversation

    def _translate(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, ProviderError):
            return self._stamped(exc)
        # The SDK refuses a closed socket with the builtin ConnectionError; a send racing the
        # drop gets websocket-client's own exceptions or the socket's OSError.
        if isinstance(exc, OSError) or type(exc).__module__.startswith("websocket"):
            scrub_exception(exc)
            return self._error(ProviderConnectionError,
                               f"websocket error: {type(exc).__name__}: {exc}")
        return super()._translate(exc)
