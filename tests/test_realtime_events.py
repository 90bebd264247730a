"""The three event vocabularies (reference 004's tables) and the model base's own behaviour."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("pydantic")

from agentscope_legacy.errors import ProviderTimeoutError  # noqa: E402
from agentscope_legacy.realtime import (  # noqa: E402
    AudioFormat,
    ClientEvents,
    ModelEvents,
    RealtimeEventError,
    RealtimeSessionError,
    ServerEvents,
)

from .realtime_kit import FakeRealtimeModel  # noqa: E402

REFERENCE = next(Path(__file__).parents[2].glob("shared/reference/004_*"), None)


def _classes(namespace: type) -> dict[str, type]:
    return {
        name: cls
        for name, cls in vars(namespace).items()
        if isinstance(cls, type) and name.endswith("Event") and name != "EventBase"
    }


@pytest.mark.skipif(REFERENCE is None, reason="the reference docs are not beside the checkout")
def test_every_event_of_the_reference_tables_exists() -> None:
    text = REFERENCE.read_text()
    for namespace in (ModelEvents, ServerEvents, ClientEvents):
        named = set(re.findall(rf"{namespace.__name__}\.(\w+Event)\b", text))
        assert named, namespace
        assert named <= set(_classes(namespace)), named - set(_classes(namespace))


def test_agent_events_mirror_model_events_with_the_agent() -> None:
    for name, model_cls in _classes(ModelEvents).items():
        if "Session" in name:
            continue
        agent_cls = getattr(ServerEvents, name.replace("Model", "Agent", 1))
        model_fields = set(model_cls.model_fields)
        assert set(agent_cls.model_fields) == model_fields | {"agent_id", "agent_name"}
        assert agent_cls.model_fields["type"].default == (
            model_cls.model_fields["type"].default.replace("model_", "agent_")
        )


def test_from_json_round_trips_every_client_event() -> None:
    audio = base64.b64encode(b"\x01\x00" * 8).decode()
    samples = [
        {"type": "client_session_create", "config": {"instructions": "Hi", "user_name": "U"}},
        {"type": "client_session_end", "session_id": "s"},
        {"type": "client_response_create", "session_id": "s"},
        {"type": "client_response_cancel", "session_id": "s"},
        {
            "type": "client_image_append",
            "session_id": "s",
            "image": "AAAA",
            "format": {"media_type": "image/png"},
        },
        {"type": "client_text_append", "session_id": "s", "text": "hello"},
        {
            "type": "client_audio_append",
            "session_id": "s",
            "audio": audio,
            "format": {"encoding": "pcm16", "sample_rate": 16000, "channels": 1},
        },
        {"type": "client_audio_commit", "session_id": "s"},
        {
            "type": "client_tool_result",
            "session_id": "s",
            "id": "c",
            "name": "f",
            "output": [{"type": "text", "text": "ok"}],
        },
    ]
    assert {s["type"] for s in samples} == {
        cls.model_fields["type"].default for cls in _classes(ClientEvents).values()
    }
    for sample in samples:
        event = ClientEvents.from_json(json.dumps(sample))
        assert event.type == sample["type"]
        dumped = event.model_dump()
        assert {k: v for k, v in dumped.items() if k in sample} == sample
        assert ClientEvents.from_json(dumped) == event


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"type": "client_dance"}, ["unknown client event type 'client_dance'"]),
        ({"session_id": "s"}, ["needs a 'type' field"]),
        ({"type": "client_text_append"}, ["client_text_append", "text"]),
        ({"type": "client_text_append", "text": 5}, ["text"]),
        ({"type": "client_audio_append", "audio": "not base64!"}, ["audio", "base64"]),
        ({"type": "client_audio_append", "audio": "AA=="}, ["audio", "odd length"]),
        (
            {"type": "client_audio_append", "audio": "AAAAAA==", "format": {"encoding": "opus"}},
            ["format.encoding"],
        ),
        (
            {"type": "client_audio_append", "audio": "AAAAAA==", "format": {"sample_rate": 1000}},
            ["format.sample_rate"],
        ),
        ("[1, 2]", ["JSON object"]),
        ("{not json", ["JSON object"]),
    ],
)
def test_malformed_client_events_raise_a_clear_typed_error(data, names) -> None:
    with pytest.raises(RealtimeEventError) as info:
        ClientEvents.from_json(data)
    assert isinstance(info.value, ValueError)
    for name in names:
        assert name in str(info.value)


def test_server_events_parse_and_convert() -> None:
    delta = ModelEvents.ModelResponseAudioDeltaEvent(
        response_id="r", item_id="i", delta="AAAAAA==", format=AudioFormat(sample_rate=24000)
    )
    event = ServerEvents.from_model_event(delta, "id1", "Friday")
    assert isinstance(event, ServerEvents.AgentResponseAudioDeltaEvent)
    wire = json.loads(json.dumps(event.model_dump()))
    assert wire["type"] == "agent_response_audio_delta" and wire["agent_name"] == "Friday"
    assert wire["format"] == {"encoding": "pcm16", "sample_rate": 24000, "channels": 1}
    assert ServerEvents.from_json(wire) == event
    with pytest.raises(RealtimeEventError):
        ServerEvents.from_model_event(
            ModelEvents.ModelSessionCreatedEvent(session_id="x"), "a", "b"
        )
    with pytest.raises(RealtimeEventError):
        ServerEvents.from_json({**wire, "delta": "***"})


def test_model_events_validate_tool_use_blocks() -> None:
    with pytest.raises(ValueError):
        ModelEvents.ModelResponseToolUseDoneEvent(response_id="r", item_id="i", tool_use={"id": 1})
    ok = ModelEvents.ModelResponseToolUseDoneEvent(
        response_id="r", item_id="i", tool_use={"id": "c", "name": "f"}
    )
    assert ok.tool_use == {"id": "c", "name": "f", "type": "tool_use", "input": {}}


def test_the_base_refuses_use_out_of_order() -> None:
    async def main():
        model = FakeRealtimeModel()
        with pytest.raises(RealtimeSessionError, match="not connected"):
            await model.send({"type": "text", "text": "x"})
        await model.connect(asyncio.Queue())
        with pytest.raises(RealtimeSessionError, match="already connected"):
            await model.connect(asyncio.Queue())
        with pytest.raises(RealtimeSessionError, match="block of type 'video'"):
            await model.send({"type": "video"})
        await model.disconnect()

    asyncio.run(main())


def test_a_stalled_provider_fails_the_due_response_with_a_timeout() -> None:
    class Silent(FakeRealtimeModel):
        async def _send_text(self, text: str) -> None:  # the provider never answers
            self.sent.append(("text", text))

    async def main():
        model, queue = Silent(response_timeout=0.3), asyncio.Queue()
        await model.connect(queue, "")
        assert (await queue.get()).type == "model_session_created"
        await asyncio.sleep(0.5)  # nothing due yet: no timeout while idle
        assert queue.empty()
        await model.send({"type": "text", "text": "hello?"})
        error = await asyncio.wait_for(queue.get(), 3)
        ended = await asyncio.wait_for(queue.get(), 3)
        return model, error, ended

    model, error, ended = asyncio.run(main())
    assert error.type == "model_error" and error.error_type == ProviderTimeoutError.__name__
    assert ended.type == "model_session_ended" and "ProviderTimeoutError" in ended.reason
    assert not model.connected


def test_the_model_repr_never_shows_the_key() -> None:
    model = FakeRealtimeModel(api_key="sk-realtime-secret-123456")
    assert "secret" not in repr(model) and "secret" not in str(vars(model).get("model_name"))
