"""``OpenAIRealtimeModel``: OpenAI's Realtime API (GA) through the official ``openai`` SDK.

One ``openai.AsyncOpenAI`` client per model (built on the first connect, ``max_retries=0``);
one ``client.realtime.connect(model=...)`` connection per session, entered in ``_open`` and
exited in ``_close``. The session is configured with the GA ``session.update`` (``type:
"realtime"``, PCM16 at 24 kHz both ways under ``audio.input``/``audio.output``, audio output,
tools in the realtime shape), and ``connect`` returns once the server's first event arrived
(``session.created``): a refused handshake or an ``error`` answer fails ``connect`` itself.
The SDK's reconnection stays off: a lost socket ends the session (ModelErrorEvent, then
ModelSessionEndedEvent), as with every realtime model here.

Frames are read with ``conn.recv_bytes()`` and decoded once with ``json.loads``: the SDK's typed
events would be built only to be converted again (the chat wrappers skip them for the same
reason, ``docs/architecture.md``). :func:`parse_event` maps the JSON to ModelEvents, GA names
and the beta ones (``response.audio.delta``...) alike; that table is why the module is
over 400 lines. websockets logs the handshake's headers at DEBUG: its logger here masks the key.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._secrets import scrub
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
from ..tts._common import resolve_api_key
from ._base import RealtimeModelBase, RealtimeSessionError
from ._events import AudioFormat, ModelEvents

__all__ = ["OpenAIRealtimeModel", "ParseState", "parse_event", "realtime_tool", "session_config"]

RATE = 24000
_FORMAT = AudioFormat(sample_rate=RATE)
_TURN_DETECTION = ("server_vad", "semantic_vad")

# The GA names, and the beta ones they replaced (same fields).
_AUDIO_DELTA = {"response.output_audio.delta", "response.audio.delta"}
_AUDIO_DONE = {"response.output_audio.done", "response.audio.done"}
_TRANSCRIPT_DELTA = {
    "response.output_audio_transcript.delta", "response.audio_transcript.delta",
    "response.output_text.delta", "response.text.delta",  # a text-only response
}  # fmt: skip
_TRANSCRIPT_DONE = {
    "response.output_audio_transcript.done", "response.audio_transcript.done",
    "response.output_text.done", "response.text.done",
}  # fmt: skip


class _ScrubbedLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' client logger with secrets masked: at DEBUG it logs the handshake's headers,
    ``Authorization: Bearer <key>`` included."""

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            kwargs.setdefault("stacklevel", 2)
            self.logger.log(level, "%s", scrub(text), **kwargs)


_WS_LOGGER = _ScrubbedLogger(logging.getLogger("websockets.client"), {})


@dataclass
class ParseState:
    """What :func:`parse_event` remembers between events of one session."""

    model: str = ""
    session_id: str = ""
    #: item_id -> ``{"id": call_id, "name": ..., "raw_input": arguments so far}``
    tool_calls: dict[str, dict[str, str]] = field(default_factory=dict)


def _error_class(error: dict[str, Any]) -> type[ProviderError]:
    kind, code = str(error.get("type") or ""), str(error.get("code") or "")
    if code == "invalid_api_key" or kind == "authentication_error":
        return AuthenticationError
    if code == "rate_limit_exceeded" or kind == "rate_limit_error":
        return RateLimitError
    if kind == "server_error":
        return ServerError
    if kind == "invalid_request_error":
        return BadRequestError
    return ProviderError


def _error_event(error: dict[str, Any], state: ParseState) -> Any:
    cls = _error_class(error)
    err = cls(str(error.get("message") or "error reported by the server"),
              provider="openai", model=state.model)  # fmt: skip
    return ModelEvents.ModelErrorEvent(
        error_type=cls.__name__,
        code=str(error.get("code") or error.get("type") or cls.__name__),
        message=str(err),  # scrubbed: a server may echo the key
    )


def parse_event(event: dict[str, Any], state: ParseState) -> list[Any]:
    """One server event (decoded JSON) -> its ModelEvents (none for the bookkeeping ones)."""
    kind = event.get("type")
    if kind in _AUDIO_DELTA:
        return [ModelEvents.ModelResponseAudioDeltaEvent(
            response_id=event["response_id"], item_id=event["item_id"],
            delta=event["delta"], format=_FORMAT)]  # fmt: skip
    if kind in _TRANSCRIPT_DELTA:
        return [ModelEvents.ModelResponseAudioTranscriptDeltaEvent(
            response_id=event["response_id"], item_id=event["item_id"], delta=event["delta"])]
    if kind == "response.function_call_arguments.delta":
        call = state.tool_calls.setdefault(
            event["item_id"], {"id": event.get("call_id", ""), "name": "", "raw_input": ""})
        call["raw_input"] += event["delta"]
        return [ModelEvents.ModelResponseToolUseDeltaEvent(
            response_id=event["response_id"], item_id=event["item_id"],
            tool_use={"type": "tool_use", "input": {}, **call})]  # fmt: skip
    if kind == "response.function_call_arguments.done":
        call = state.tool_calls.pop(event["item_id"], {})
        raw = event.get("arguments", call.get("raw_input", ""))
        tool_use = {"type": "tool_use", "id": event.get("call_id") or call.get("id", ""),
                    "name": event.get("name") or call.get("name", ""),
                    "raw_input": raw}  # fmt: skip
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            parsed = None
        out: list[Any] = []
        if not isinstance(parsed, dict):  # the tool cannot be called with it: say why
            out.append(ModelEvents.ModelErrorEvent(
                error_type=ResponseFormatError.__name__, code="invalid_tool_arguments",
                message=f"arguments of tool call {tool_use['name']!r} are not a JSON object"))
            parsed = {}
        out.append(ModelEvents.ModelResponseToolUseDoneEvent(
            response_id=event["response_id"], item_id=event["item_id"],
            tool_use={**tool_use, "input": parsed}))  # fmt: skip
        return out
    if kind == "response.output_item.added":
        item = event.get("item") or {}
        if item.get("type") == "function_call":  # the call's name arrives only here
            state.tool_calls[item["id"]] = {"id": item.get("call_id", ""),
                                            "name": item.get("name", ""), "raw_input": ""}
        return []
    if kind in _AUDIO_DONE:
        return [ModelEvents.ModelResponseAudioDoneEvent(
            response_id=event["response_id"], item_id=event["item_id"])]
    if kind in _TRANSCRIPT_DONE:
        return [ModelEvents.ModelResponseAudioTranscriptDoneEvent(
            response_id=event["response_id"], item_id=event["item_id"],
            transcript=event.get("transcript", event.get("text", "")) or "")]  # fmt: skip
    if kind == "conversation.item.input_audio_transcription.delta":
        return [ModelEvents.ModelInputTranscriptionDeltaEvent(
            item_id=event["item_id"], delta=event.get("delta") or "")]
    if kind == "conversation.item.input_audio_transcription.completed":
        usage = event.get("usage") or {}
        tokens = usage.get("type") == "tokens"
        return [ModelEvents.ModelInputTranscriptionDoneEvent(
            item_id=event["item_id"], transcript=event.get("transcript") or "",
            input_tokens=usage.get("input_tokens") if tokens else None,
            output_tokens=usage.get("output_tokens") if tokens else None)]  # fmt: skip
    if kind == "input_audio_buffer.speech_started":
        return [ModelEvents.ModelInputStartedEvent(
            item_id=event["item_id"], audio_start_ms=event.get("audio_start_ms") or 0)]
    if kind == "input_audio_buffer.speech_stopped":
        return [ModelEvents.ModelInputDoneEvent(
            item_id=event["item_id"], audio_end_ms=event.get("audio_end_ms") or 0)]
    if kind == "response.created":
        return [ModelEvents.ModelResponseCreatedEvent(response_id=event["response"]["id"])]
    if kind == "response.done":
        state.tool_calls.clear()  # calls cut short by a cancel end with their response
        return _response_done(event["response"], state)
    if kind == "session.created":
        state.session_id = (event.get("session") or {}).get("id") or state.session_id
        return [ModelEvents.ModelSessionCreatedEvent(session_id=state.session_id)]
    if kind in ("error", "conversation.item.input_audio_transcription.failed"):
        error = event.get("error") or {}
        if error.get("code") == "response_cancel_not_active":  # barge-in after the answer ended
            return []
        return [_error_event(error, state)]
    return []


def _response_done(response: dict[str, Any], state: ParseState) -> list[Any]:
    status = str(response.get("status") or "completed")
    details = response.get("status_details") or {}
    metadata = {"status": status}
    if details.get("reason"):
        metadata["reason"] = str(details["reason"])
    usage = response.get("usage") or {}
    out: list[Any] = []
    if status == "failed" and details.get("error"):
        out.append(_error_event(details["error"], state))
    out.append(ModelEvents.ModelResponseDoneEvent(
        response_id=response.get("id", ""), input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0, metadata=metadata))  # fmt: skip
    return out


def realtime_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool in the chat format (``{"type": "function", "function": {...}}``) in the realtime
    session's flat shape (``{"type": "function", "name", "description", "parameters"}``); one
    already flat is kept."""
    spec = tool.get("function") if isinstance(tool, dict) and "function" in tool else tool
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise RealtimeSessionError(
            f"a tool must be {{'type': 'function', 'function': {{'name': ..., 'parameters': "
            f"...}}}}, not {str(tool)[:200]}")
    out = {"type": "function", "name": spec["name"],
           "parameters": spec.get("parameters") or {"type": "object", "properties": {}}}
    if spec.get("description"):
        out["description"] = spec["description"]
    return out


def session_config(
    instructions: str,
    voice: str,
    tools: list[dict[str, Any]],
    turn_detection: str | None,
    input_transcription_model: str | None,
) -> dict[str, Any]:
    """The GA ``session.update`` session: audio out, PCM16 at 24 kHz both ways."""
    pcm = {"type": "audio/pcm", "rate": RATE}
    audio_in: dict[str, Any] = {
        "format": pcm,
        "turn_detection": {"type": turn_detection} if turn_detection else None,
    }
    if input_transcription_model:
        audio_in["transcription"] = {"model": input_transcription_model}
    return {
        "type": "realtime",
        "instructions": instructions,
        "output_modalities": ["audio"],
        "audio": {"input": audio_in, "output": {"format": pcm, "voice": voice}},
        "tools": [realtime_tool(t) for t in tools],
    }


class OpenAIRealtimeModel(RealtimeModelBase):
    """OpenAI's realtime models (``gpt-4o-realtime-preview``, ``gpt-realtime``...).

    ``api_key`` defaults to ``OPENAI_API_KEY``; ``base_url`` / ``websocket_base_url`` go to
    ``AsyncOpenAI`` (the SDK connects to ``<base>/realtime?model=...``, ``http`` made ``ws``).
    ``turn_detection``: ``"server_vad"`` (the server detects the end of speech and answers),
    ``"semantic_vad"`` or None (the caller commits and asks for responses).
    ``input_transcription_model``: transcribes the user's audio (None: no transcripts).
    """

    model_type: ClassVar[str] = "openai_realtime"
    provider: ClassVar[str] = "openai"
    support_tools: ClassVar[bool] = True
    input_sample_rate: ClassVar[int] = RATE
    output_sample_rate: ClassVar[int] = RATE
    config_schema: ClassVar[dict[str, Any]] = {
        "base_url": {"type": ["string", "null"]},
        "websocket_base_url": {"type": ["string", "null"]},
        "turn_detection": {"enum": [*_TURN_DETECTION, None]},
        "input_transcription_model": {"type": ["string", "null"]},
    }

    def __init__(
        self,
        model_name: str = "gpt-4o-realtime-preview",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        voice: str = "alloy",
        turn_detection: str | None = "server_vad",
        input_transcription_model: str | None = "whisper-1",
        connect_timeout: float = 10.0,
        response_timeout: float = 30.0,
    ) -> None:
        api_key = resolve_api_key(type(self).__name__, api_key, ("OPENAI_API_KEY",))
        if turn_detection is not None and turn_detection not in _TURN_DETECTION:
            raise ConfigError(ConfigIssue(
                f"OpenAIRealtimeModel: turn_detection must be one of {_TURN_DETECTION} or None, "
                f"not {turn_detection!r}", field="turn_detection"))
        super().__init__(model_name, api_key=api_key, voice=voice,
                         connect_timeout=connect_timeout, response_timeout=response_timeout)
        self.base_url, self.websocket_base_url = base_url, websocket_base_url
        self.turn_detection = turn_detection
        self.input_transcription_model = input_transcription_model
        self._client: Any = None
        self._manager: Any = None
        self._conn: Any = None
        self._first: dict[str, Any] | None = None
        self._tools: list[dict[str, Any]] = []
        self._state = ParseState(model=model_name)

    async def connect(self, outgoing_queue: Any, instructions: str = "",
                      tools: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
        # Converted first, so a malformed tool is the caller's error, not a provider's.
        self._tools = [realtime_tool(t) for t in tools or []]
        await super().connect(outgoing_queue, instructions, tools)

    # -- hooks -----------------------------------------------------------------------------------
    def _sdk_client(self) -> Any:
        if self._client is None:
            from ..models.openai._client import import_openai

            self._client = import_openai().AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url,
                websocket_base_url=self.websocket_base_url, max_retries=0)  # fmt: skip
        return self._client

    async def _open(self, instructions: str, tools: list[dict[str, Any]]) -> None:
        self._state = ParseState(model=self.model_name)
        self._manager = self._sdk_client().realtime.connect(
            model=self.model_name, websocket_connection_options={"logger": _WS_LOGGER})
        self._conn = await self._manager.__aenter__()
        await self._conn.session.update(session=session_config(
            instructions, self.voice or "alloy", self._tools, self.turn_detection,
            self.input_transcription_model))  # fmt: skip
        first = json.loads(await self._conn.recv_bytes())
        if first.get("type") == "error":
            error = first.get("error") or {}
            raise self._error(_error_class(error), scrub(str(error.get("message") or error)))
        self._first = first

    async def _close(self) -> None:
        manager, self._manager, self._conn = self._manager, None, None
        if manager is not None:
            await manager.__aexit__(None, None, None)

    async def _receive(self) -> AsyncIterator[dict[str, Any]]:
        from websockets.exceptions import ConnectionClosedOK

        first, self._first = self._first, None
        if first is not None:
            yield first
        conn = self._conn
        while True:
            try:
                data = await conn.recv_bytes()
            except ConnectionClosedOK:  # a clean close: the session ended
                return
            yield json.loads(data)

    def _parse(self, raw: Any) -> list[Any]:
        events = parse_event(raw, self._state)
        if self._state.session_id:
            self.session_id = self._state.session_id
        return events

    async def _send_audio(self, pcm: bytes) -> None:
        await self._conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

    async def _send_text(self, text: str) -> None:
        await self._conn.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        await self._conn.response.create()

    async def _send_tool_result(self, call_id: str, name: str, output: str) -> None:
        await self._conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call_id, "output": output})
        await self._conn.response.create()

    async def _create_response(self) -> None:
        await self._conn.response.create()

    async def _cancel_response(self) -> None:
        await self._conn.response.cancel()

    async def _commit_audio(self) -> None:
        # A commit alone creates no response (with server VAD the server commits and answers).
        await self._conn.input_audio_buffer.commit()
        await self._conn.response.create()

    def _translate(self, exc: BaseException) -> ProviderError:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, InvalidStatus):  # the HTTP upgrade was refused
            status = exc.response.status_code
            return self._error(error_for_status(status), _handshake_message(exc.response),
                               status=status)
        if isinstance(exc, ConnectionClosed):
            close = exc.rcvd
            detail = f"close code {close.code}" + (f": {close.reason}" if close.reason else "") \
                if close is not None else "no close frame"
            return self._error(ProviderConnectionError, f"connection lost ({detail})")
        if isinstance(exc, TimeoutError):
            return self._error(ProviderTimeoutError, f"timed out: {exc}")
        if isinstance(exc, (OSError, InvalidHandshake)):
            return self._error(ProviderConnectionError, f"cannot connect: {exc}")
        if isinstance(exc, (ValueError, KeyError)):  # a frame not JSON, or lacking a field
            return self._error(ResponseFormatError,
                               f"malformed event: {type(exc).__name__}: {exc}")
        from ..models.openai._client import translate_error

        err = translate_error(exc) if isinstance(exc, Exception) else None
        if err is not None:
            err.provider, err.model = self.provider, self.model_name
            return err
        return super()._translate(exc)


def _handshake_message(response: Any) -> str:
    """The refusal's own message when its body is OpenAI's JSON error, else the status."""
    text = f"handshake refused with HTTP {response.status_code}"
    try:
        message = json.loads(response.body or b"")["error"]["message"]
    except (ValueError, TypeError, KeyError):
        return text
    return f"{text}: {message}"
