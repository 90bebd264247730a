"""The three event vocabularies of realtime voice (reference 004), as pydantic models.

* ``ModelEvents``: what a realtime model emits on its outgoing queue, the same for every
  provider (type ``model_*``).
* ``ServerEvents``: what the backend sends to the frontend and to other agents (``server_*``
  for the backend's session, ``agent_*`` for an agent: each ``Agent*`` event is the ``Model*``
  event of the same name plus ``agent_id`` and ``agent_name``, derived here, never repeated).
* ``ClientEvents``: what the frontend (or a script) sends in (``client_*``).

Every event has a ``type`` discriminator; ``X.from_json(data)`` (a dict or JSON text) returns
the event of that type or raises :class:`RealtimeEventError` (a ``ValueError``) naming the type
and the field; ``event.model_dump()`` gives a JSON-ready dict. Audio travels as base64 PCM16
with an :class:`AudioFormat` (``{"encoding": "pcm16", "sample_rate": 16000}``).
"""

from __future__ import annotations

import base64
import binascii
import json
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
)

from ..errors import AgentScopeError

__all__ = [
    "AudioFormat",
    "ClientEventType",
    "ClientEvents",
    "ModelEventType",
    "ModelEvents",
    "RealtimeEventError",
    "ServerEventType",
    "ServerEvents",
]


class RealtimeEventError(AgentScopeError, ValueError):
    """An event that cannot be parsed: unknown type, missing or wrong field, bad audio."""

    def __init__(self, message: str, *, event_type: str | None = None) -> None:
        self.event_type = event_type
        super().__init__(message)


class AudioFormat(BaseModel):
    """The format of base64 audio in an event: mono PCM16 at ``sample_rate`` Hz."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: Literal["pcm16"] = "pcm16"
    sample_rate: int = Field(16000, ge=8000, le=48000)
    channels: Literal[1] = 1


class _Event(BaseModel):
    # Extra fields are ignored (a newer frontend may send more), types are checked.
    model_config = ConfigDict(extra="ignore")


def _check_base64_pcm(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) % 2:
        raise ValueError(f"PCM16 audio of {len(raw)} bytes has an odd length")
    return value


def _check_tool_use(value: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("id", "name") if not isinstance(value.get(k), str)]
    if missing:
        raise ValueError(f"a tool_use block needs string {' and '.join(missing)}")
    value.setdefault("type", "tool_use")
    value.setdefault("input", {})
    return value


# -- model events -------------------------------------------------------------------------------
class ModelEventType(str, Enum):
    MODEL_SESSION_CREATED = "model_session_created"
    MODEL_SESSION_ENDED = "model_session_ended"
    MODEL_RESPONSE_CREATED = "model_response_created"
    MODEL_RESPONSE_DONE = "model_response_done"
    MODEL_RESPONSE_AUDIO_DELTA = "model_response_audio_delta"
    MODEL_RESPONSE_AUDIO_DONE = "model_response_audio_done"
    MODEL_RESPONSE_AUDIO_TRANSCRIPT_DELTA = "model_response_audio_transcript_delta"
    MODEL_RESPONSE_AUDIO_TRANSCRIPT_DONE = "model_response_audio_transcript_done"
    MODEL_RESPONSE_TOOL_USE_DELTA = "model_response_tool_use_delta"
    MODEL_RESPONSE_TOOL_USE_DONE = "model_response_tool_use_done"
    MODEL_INPUT_TRANSCRIPTION_DELTA = "model_input_transcription_delta"
    MODEL_INPUT_TRANSCRIPTION_DONE = "model_input_transcription_done"
    MODEL_INPUT_STARTED = "model_input_started"
    MODEL_INPUT_DONE = "model_input_done"
    MODEL_ERROR = "model_error"


class _ModelEvent(_Event):
    pass


class _Response(_ModelEvent):
    response_id: str


class _ResponseItem(_Response):
    item_id: str


class _ToolUse(_ResponseItem):
    tool_use: dict[str, Any]
    """A ``tool_use`` block: ``id``, ``name``, ``input``; deltas accumulate ``raw_input``."""

    _tool_use = field_validator("tool_use")(classmethod(lambda cls, v: _check_tool_use(v)))


class _AudioDelta(_ResponseItem):
    delta: str
    """Base64 PCM16."""
    format: AudioFormat

    _delta = field_validator("delta")(classmethod(lambda cls, v: _check_base64_pcm(v)))


class ModelEvents:
    """The unified events of every realtime model (the model's own session, not the user's)."""

    EventBase: ClassVar[type[BaseModel]] = _ModelEvent

    class ModelSessionCreatedEvent(_ModelEvent):
        type: Literal["model_session_created"] = "model_session_created"
        session_id: str

    class ModelSessionEndedEvent(_ModelEvent):
        type: Literal["model_session_ended"] = "model_session_ended"
        session_id: str
        reason: str = ""

    class ModelResponseCreatedEvent(_Response):
        type: Literal["model_response_created"] = "model_response_created"

    class ModelResponseDoneEvent(_Response):
        type: Literal["model_response_done"] = "model_response_done"
        input_tokens: int = 0
        output_tokens: int = 0
        metadata: dict[str, str] = Field(default_factory=dict)
        """E.g. ``{"status": "cancelled"}`` for an interrupted response."""

    class ModelResponseAudioDeltaEvent(_AudioDelta):
        type: Literal["model_response_audio_delta"] = "model_response_audio_delta"

    class ModelResponseAudioDoneEvent(_ResponseItem):
        type: Literal["model_response_audio_done"] = "model_response_audio_done"

    class ModelResponseAudioTranscriptDeltaEvent(_ResponseItem):
        type: Literal["model_response_audio_transcript_delta"] = (
            "model_response_audio_transcript_delta"
        )
        delta: str

    class ModelResponseAudioTranscriptDoneEvent(_ResponseItem):
        type: Literal["model_response_audio_transcript_done"] = (
            "model_response_audio_transcript_done"
        )
        transcript: str = ""
        """The whole transcript of the response (an addition: the reference has none)."""

    class ModelResponseToolUseDeltaEvent(_ToolUse):
        type: Literal["model_response_tool_use_delta"] = "model_response_tool_use_delta"

    class ModelResponseToolUseDoneEvent(_ToolUse):
        type: Literal["model_response_tool_use_done"] = "model_response_tool_use_done"

    class ModelInputTranscriptionDeltaEvent(_ModelEvent):
        type: Literal["model_input_transcription_delta"] = "model_input_transcription_delta"
        item_id: str
        delta: str

    class ModelInputTranscriptionDoneEvent(_ModelEvent):
        type: Literal["model_input_transcription_done"] = "model_input_transcription_done"
        item_id: str
        transcript: str
        input_tokens: int | None = None
        output_tokens: int | None = None

    class ModelInputStartedEvent(_ModelEvent):
        type: Literal["model_input_started"] = "model_input_started"
        item_id: str
        audio_start_ms: int = 0

    class ModelInputDoneEvent(_ModelEvent):
        type: Literal["model_input_done"] = "model_input_done"
        item_id: str
        audio_end_ms: int = 0

    class ModelErrorEvent(_ModelEvent):
        type: Literal["model_error"] = "model_error"
        error_type: str
        """The error's class: ``AuthenticationError``, ``ProviderConnectionError``..."""
        code: str
        message: str

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes) -> _ModelEvent:
        return _parse(_MODEL_ADAPTER, _MODEL_TYPES, data, "model")


# -- server events ------------------------------------------------------------------------------
class ServerEventType(str, Enum):
    SERVER_SESSION_CREATED = "server_session_created"
    SERVER_SESSION_UPDATED = "server_session_updated"
    SERVER_SESSION_ENDED = "server_session_ended"
    AGENT_READY = "agent_ready"
    AGENT_ENDED = "agent_ended"
    AGENT_RESPONSE_CREATED = "agent_response_created"
    AGENT_RESPONSE_DONE = "agent_response_done"
    AGENT_RESPONSE_AUDIO_DELTA = "agent_response_audio_delta"
    AGENT_RESPONSE_AUDIO_DONE = "agent_response_audio_done"
    AGENT_RESPONSE_AUDIO_TRANSCRIPT_DELTA = "agent_response_audio_transcript_delta"
    AGENT_RESPONSE_AUDIO_TRANSCRIPT_DONE = "agent_response_audio_transcript_done"
    AGENT_RESPONSE_TOOL_USE_DELTA = "agent_response_tool_use_delta"
    AGENT_RESPONSE_TOOL_USE_DONE = "agent_response_tool_use_done"
    AGENT_RESPONSE_TOOL_RESULT = "agent_response_tool_result"
    AGENT_INPUT_TRANSCRIPTION_DELTA = "agent_input_transcription_delta"
    AGENT_INPUT_TRANSCRIPTION_DONE = "agent_input_transcription_done"
    AGENT_INPUT_STARTED = "agent_input_started"
    AGENT_INPUT_DONE = "agent_input_done"
    AGENT_ERROR = "agent_error"


class _ServerEvent(_Event):
    pass


class _AgentEvent(_ServerEvent):
    agent_id: str
    agent_name: str


def _agent_event(model_cls: type[BaseModel]) -> type[_AgentEvent]:
    """``Model<X>Event`` -> ``Agent<X>Event``: the same fields, the type ``agent_<x>``."""
    name = model_cls.__name__.replace("Model", "Agent", 1)
    type_name = model_cls.model_fields["type"].default.replace("model_", "agent_", 1)
    fields: dict[str, Any] = {
        key: (info.annotation, info)
        for key, info in model_cls.model_fields.items()
        if key != "type"
    }
    validators = {
        f"_v_{key}": field_validator(key)(classmethod(lambda cls, v, f=fn: f(v)))
        for key, fn in (("delta", _check_base64_pcm), ("tool_use", _check_tool_use))
        if key in fields and (key != "delta" or "format" in fields)
    }
    cls = create_model(
        name,
        __base__=_AgentEvent,
        __module__=__name__,
        __validators__=validators,
        type=(Literal[type_name], type_name),  # type: ignore[valid-type]
        **fields,
    )
    cls.__qualname__ = f"ServerEvents.{name}"
    cls.__doc__ = f"{model_cls.__name__} of an agent, with its ``agent_id`` and ``agent_name``."
    return cls


class ServerEvents:
    """Backend -> frontend (and -> the other agents of a ChatRoom)."""

    EventBase: ClassVar[type[BaseModel]] = _ServerEvent

    class ServerSessionCreatedEvent(_ServerEvent):
        type: Literal["server_session_created"] = "server_session_created"
        session_id: str

    class ServerSessionUpdatedEvent(_ServerEvent):
        type: Literal["server_session_updated"] = "server_session_updated"
        session_id: str

    class ServerSessionEndedEvent(_ServerEvent):
        type: Literal["server_session_ended"] = "server_session_ended"
        session_id: str
        reason: str = ""

    class AgentReadyEvent(_AgentEvent):
        type: Literal["agent_ready"] = "agent_ready"

    class AgentEndedEvent(_AgentEvent):
        type: Literal["agent_ended"] = "agent_ended"

    class AgentResponseToolResultEvent(_AgentEvent):
        type: Literal["agent_response_tool_result"] = "agent_response_tool_result"
        tool_result: dict[str, Any]
        """A ``tool_result`` block: ``id``, ``name``, ``output``."""

    # Agent<X>Event for every Model<X>Event but the model's own session events (below).
    AgentResponseCreatedEvent: ClassVar[type[_AgentEvent]]
    AgentResponseDoneEvent: ClassVar[type[_AgentEvent]]
    AgentResponseAudioDeltaEvent: ClassVar[type[_AgentEvent]]
    AgentResponseAudioDoneEvent: ClassVar[type[_AgentEvent]]
    AgentResponseAudioTranscriptDeltaEvent: ClassVar[type[_AgentEvent]]
    AgentResponseAudioTranscriptDoneEvent: ClassVar[type[_AgentEvent]]
    AgentResponseToolUseDeltaEvent: ClassVar[type[_AgentEvent]]
    AgentResponseToolUseDoneEvent: ClassVar[type[_AgentEvent]]
    AgentInputTranscriptionDeltaEvent: ClassVar[type[_AgentEvent]]
    AgentInputTranscriptionDoneEvent: ClassVar[type[_AgentEvent]]
    AgentInputStartedEvent: ClassVar[type[_AgentEvent]]
    AgentInputDoneEvent: ClassVar[type[_AgentEvent]]
    AgentErrorEvent: ClassVar[type[_AgentEvent]]

    @classmethod
    def from_model_event(
        cls, event: BaseModel, agent_id: str, agent_name: str
    ) -> _AgentEvent:
        """The ``Agent*`` event of a model event (not of the model's session events)."""
        target = _FROM_MODEL.get(type(event))
        if target is None:
            raise RealtimeEventError(f"{type(event).__name__} has no agent event")
        # model_construct: the model event was validated already; this is per audio chunk.
        fields = dict(event)
        fields["type"] = target.model_fields["type"].default
        return target.model_construct(**fields, agent_id=agent_id, agent_name=agent_name)

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes) -> _ServerEvent:
        return _parse(_SERVER_ADAPTER, _SERVER_TYPES, data, "server")


_SESSION_EVENTS = (ModelEvents.ModelSessionCreatedEvent, ModelEvents.ModelSessionEndedEvent)
_FROM_MODEL: dict[type[BaseModel], type[_AgentEvent]] = {}
for _model_cls in vars(ModelEvents).values():
    if isinstance(_model_cls, type) and issubclass(_model_cls, _ModelEvent):
        if _model_cls in _SESSION_EVENTS or "type" not in _model_cls.model_fields:
            continue
        _agent_cls = _agent_event(_model_cls)
        setattr(ServerEvents, _agent_cls.__name__, _agent_cls)
        _FROM_MODEL[_model_cls] = _agent_cls


# -- client events ------------------------------------------------------------------------------
class ClientEventType(str, Enum):
    CLIENT_SESSION_CREATE = "client_session_create"
    CLIENT_SESSION_END = "client_session_end"
    CLIENT_RESPONSE_CREATE = "client_response_create"
    CLIENT_RESPONSE_CANCEL = "client_response_cancel"
    CLIENT_IMAGE_APPEND = "client_image_append"
    CLIENT_TEXT_APPEND = "client_text_append"
    CLIENT_AUDIO_APPEND = "client_audio_append"
    CLIENT_AUDIO_COMMIT = "client_audio_commit"
    CLIENT_TOOL_RESULT = "client_tool_result"


class _ClientEvent(_Event):
    pass


class _InSession(_ClientEvent):
    session_id: str = ""
    """The frontend's session (the websocket route's, when the backend has one)."""


class ClientEvents:
    """Frontend -> backend."""

    EventBase: ClassVar[type[BaseModel]] = _ClientEvent

    class ClientSessionCreateEvent(_ClientEvent):
        type: Literal["client_session_create"] = "client_session_create"
        config: dict[str, Any] = Field(default_factory=dict)
        """E.g. ``{"instructions": ..., "user_name": ...}``."""

    class ClientSessionEndEvent(_InSession):
        type: Literal["client_session_end"] = "client_session_end"

    class ClientResponseCreateEvent(_InSession):
        type: Literal["client_response_create"] = "client_response_create"

    class ClientResponseCancelEvent(_InSession):
        type: Literal["client_response_cancel"] = "client_response_cancel"

    class ClientImageAppendEvent(_InSession):
        type: Literal["client_image_append"] = "client_image_append"
        image: str
        """Base64 image data."""
        format: dict[str, Any] = Field(default_factory=lambda: {"media_type": "image/jpeg"})

    class ClientTextAppendEvent(_InSession):
        type: Literal["client_text_append"] = "client_text_append"
        text: str

    class ClientAudioAppendEvent(_InSession):
        type: Literal["client_audio_append"] = "client_audio_append"
        audio: str
        """Base64 PCM16."""
        format: AudioFormat = Field(default_factory=AudioFormat)

        _audio = field_validator("audio")(classmethod(lambda cls, v: _check_base64_pcm(v)))

    class ClientAudioCommitEvent(_InSession):
        type: Literal["client_audio_commit"] = "client_audio_commit"

    class ClientToolResultEvent(_InSession):
        type: Literal["client_tool_result"] = "client_tool_result"
        id: str
        name: str
        output: str | list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes) -> _ClientEvent:
        return _parse(_CLIENT_ADAPTER, _CLIENT_TYPES, data, "client")


# -- parsing ------------------------------------------------------------------------------------
def _members(namespace: type, base: type) -> tuple[type[BaseModel], ...]:
    return tuple(
        value for value in vars(namespace).values()
        if isinstance(value, type) and issubclass(value, base) and value is not base
        and "type" in value.model_fields
    )


def _adapter(classes: tuple[type[BaseModel], ...]) -> TypeAdapter[Any]:
    union = Union[classes]  # type: ignore[valid-type]  # noqa: UP007 (a runtime tuple)
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def _types(classes: tuple[type[BaseModel], ...]) -> dict[str, type[BaseModel]]:
    return {cls.model_fields["type"].default: cls for cls in classes}


_MODEL_CLASSES = _members(ModelEvents, _ModelEvent)
_SERVER_CLASSES = _members(ServerEvents, _ServerEvent)
_CLIENT_CLASSES = _members(ClientEvents, _ClientEvent)
_MODEL_ADAPTER, _MODEL_TYPES = _adapter(_MODEL_CLASSES), _types(_MODEL_CLASSES)
_SERVER_ADAPTER, _SERVER_TYPES = _adapter(_SERVER_CLASSES), _types(_SERVER_CLASSES)
_CLIENT_ADAPTER, _CLIENT_TYPES = _adapter(_CLIENT_CLASSES), _types(_CLIENT_CLASSES)


def _parse(
    adapter: TypeAdapter[Any], types: dict[str, type[BaseModel]], data: Any, kind: str
) -> Any:
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RealtimeEventError(f"a {kind} event must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise RealtimeEventError(f"a {kind} event must be a JSON object, not {type(data).__name__}")
    event_type = data.get("type")
    if event_type is None:
        raise RealtimeEventError(f"a {kind} event needs a 'type' field")
    if event_type not in types:
        known = ", ".join(sorted(types))
        raise RealtimeEventError(
            f"unknown {kind} event type {str(event_type)[:64]!r} (known: {known})",
            event_type=None if event_type is None else str(event_type)[:64],
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'event'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise RealtimeEventError(f"invalid {event_type} event: {problems}",
                                 event_type=event_type) from None
