"""DashScopeRealtimeModel on the wire: the real ``dashscope`` SDK (``OmniRealtimeConversation``)
against the loopback emulator of Qwen-Omni realtime (``tests/emulators/realtime_dashscope.py``),
plus its pure parsing."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

pytest.importorskip("dashscope")
pytest.importorskip("websocket")
pytest.importorskip("websockets")
pytest.importorskip("pydantic")

from agentscope_legacy.audio import pcm_block, resample_pcm16  # noqa: E402
from agentscope_legacy.errors import (  # noqa: E402
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ProviderConnectionError,
    ProviderTimeoutError,
)
from agentscope_legacy.realtime import (  # noqa: E402
    ModelEvents,
    RealtimeSessionError,
    realtime_model_class,
)
from agentscope_legacy.realtime._dashscope import (  # noqa: E402
    DashScopeRealtimeModel,
    parse_event,
)
from tests.emulators.realtime_dashscope import OmniRealtimeEmulator, tone  # noqa: E402
from tests.emulators.ws import WSFault  # noqa: E402
from tests.realtime_kit import types, until, wait_for_wire  # noqa: E402

KEY = "sk-omni-test-K3yOne0123456789"
KEY2 = "sk-omni-test-K3yTwo9876543210"
QUICK = 15.0


@pytest.fixture(scope="module")
def server() -> Any:
    with OmniRealtimeEmulator(keys=(KEY, KEY2)) as emu:
        yield emu


@pytest.fixture
def emu(server: OmniRealtimeEmulator) -> Any:
    server.clear()
    yield server
    assert server.errors == []


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, QUICK))


def model(emu: OmniRealtimeEmulator, **kw: Any) -> DashScopeRealtimeModel:
    kw.setdefault("api_key", KEY)
    return DashScopeRealtimeModel(url=emu.url, **kw)


async def connected(emu: OmniRealtimeEmulator, instructions: str = "", **kw: Any) -> Any:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    m = model(emu, **kw)
    await m.connect(queue, instructions)
    await until(queue, "model_session_created")
    await wait_for_wire(emu, "session.update")  # received in the emulator's thread
    return m, queue


def response_types(words: int, audio: bool = True) -> list[str]:
    pair = ["model_response_audio_transcript_delta"]
    if audio:
        pair.append("model_response_audio_delta")
    return [
        "model_response_created",
        *pair * words,
        "model_response_audio_transcript_done",
        *(["model_response_audio_done"] if audio else []),
        "model_response_done",
    ]


# -- the session -----------------------------------------------------------------------------------
def test_registered_with_its_capabilities() -> None:
    cls = realtime_model_class("dashscope_realtime")
    assert cls is DashScopeRealtimeModel
    assert cls.support_image and not cls.support_tools
    assert (cls.input_sample_rate, cls.output_sample_rate) == (16000, 24000)


def test_session_created_and_what_reached_the_wire(emu: OmniRealtimeEmulator) -> None:
    async def go() -> str:
        m, _ = await connected(emu, "You are Friday.", voice="Ethan")
        sid = m.session_id
        await m.disconnect()
        return sid

    assert run(go()) == "sess_0"
    (handshake,) = emu.sessions
    assert handshake.path == "/api-ws/v1/realtime?model=qwen3-omni-flash-realtime"
    assert handshake.headers["authorization"] == f"Bearer {KEY}"
    assert handshake.headers["x-dashscope-sdk-client"].startswith("python-sdk/")
    (update,) = emu.events("session.update")
    session = update["session"]
    assert session["instructions"] == "You are Friday."
    assert session["voice"] == "Ethan"
    assert session["modalities"] == ["text", "audio"]
    assert session["audio"] == {"input": {"format": {"type": "pcm", "sample_rate": 16000}},
                                "output": {"format": {"type": "pcm", "sample_rate": 24000}}}
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["input_audio_transcription"] is not None


def test_session_options_reach_the_wire(emu: OmniRealtimeEmulator) -> None:
    async def go() -> None:
        m, _ = await connected(emu, turn_detection=None, transcribe_input=False,
                               modalities=["text"], session_kwargs={"temperature": 0.3})
        await m.disconnect()

    run(go())
    (update,) = emu.events("session.update")
    session = update["session"]
    assert session["turn_detection"] is None
    assert session["input_audio_transcription"] is None
    assert session["modalities"] == ["text"]
    assert session["temperature"] == 0.3
    assert "instructions" not in session


def test_text_in_transcript_and_audio_out_in_order(emu: OmniRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        m, queue = await connected(emu, "Be brief.")
        await m.send({"type": "text", "text": "Hello!"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    words = emu.reply.split(" ")
    assert types(events) == response_types(len(words))
    created, done = events[0], events[-1]
    assert {e.response_id for e in events} == {created.response_id}
    transcript = "".join(e.delta for e in events if e.type.endswith("transcript_delta"))
    assert transcript == events[-3].transcript == emu.reply
    audio = [e for e in events if e.type == "model_response_audio_delta"]
    assert {e.format.sample_rate for e in audio} == {24000}
    assert b"".join(base64.b64decode(e.delta) for e in audio) == \
        tone(emu.audio_seconds) * len(words)
    assert (done.input_tokens, done.output_tokens) == (21, 9)
    assert done.metadata == {"status": "completed"}
    (create,) = emu.events("conversation.item.create")
    assert create["item"] == {"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "Hello!"}]}
    kinds = [e["type"] for e in emu.events()]
    assert kinds.index("conversation.item.create") < kinds.index("response.create")


def test_a_text_only_session_streams_text_deltas(emu: OmniRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        m, queue = await connected(emu, modalities=["text"])
        await m.send({"type": "text", "text": "Hi"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events) == response_types(len(emu.reply.split(" ")), audio=False)
    assert events[-2].transcript == emu.reply


def test_audio_is_resampled_to_16k_on_the_wire(emu: OmniRealtimeEmulator) -> None:
    pcm24k = tone(0.1)

    async def go() -> None:
        m, _ = await connected(emu, turn_detection=None)
        await m.send(pcm_block(pcm24k, 24000))
        await wait_for_wire(emu, "input_audio_buffer.append")
        await m.disconnect()

    run(go())
    (append,) = emu.events("input_audio_buffer.append")
    sent = base64.b64decode(append["audio"])
    assert len(sent) == 2 * 1600  # 0.1 s at 16 kHz
    assert sent == resample_pcm16(pcm24k, 24000, 16000)


def test_server_vad_then_input_transcription_then_the_response(emu: OmniRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        m, queue = await connected(emu)
        await m.send(pcm_block(bytes(3200), 16000))  # 0.1 s of silence: nothing yet
        await m.send(pcm_block(tone(0.2, 16000), 16000))
        await m.send(pcm_block(bytes(3200), 16000))  # the end of the turn
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events) == [
        "model_input_started", "model_input_done", "model_input_transcription_done",
        *response_types(len(emu.reply.split(" "))),
    ]  # fmt: skip
    started, stopped, heard = events[:3]
    assert started.item_id == stopped.item_id == heard.item_id
    assert (started.audio_start_ms, stopped.audio_end_ms) == (100, 400)
    assert heard.transcript == emu.heard
    assert emu.events("input_audio_buffer.commit") == []  # the server committed it


def test_commit_without_vad_asks_for_the_response(emu: OmniRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        m, queue = await connected(emu, turn_detection=None)
        await m.send(pcm_block(tone(0.2, 16000), 16000))
        await m.commit_audio()
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events)[:2] == ["model_input_transcription_done", "model_response_created"]
    kinds = [e["type"] for e in emu.events()]
    assert kinds[-2:] == ["input_audio_buffer.commit", "response.create"]


def test_an_image_is_appended(emu: OmniRealtimeEmulator) -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg").decode("ascii")

    async def go() -> None:
        m, _ = await connected(emu)
        await m.send({"type": "image",
                      "source": {"type": "base64", "media_type": "image/jpeg", "data": jpeg}})
        await wait_for_wire(emu, "input_image_buffer.append")
        with pytest.raises(RealtimeSessionError, match="JPEG or PNG"):
            await m.send({"type": "image",
                          "source": {"type": "base64", "media_type": "image/gif", "data": jpeg}})
        with pytest.raises(RealtimeSessionError, match="base64"):
            await m.send({"type": "image", "source": {"type": "url", "url": "http://x/y.jpg"}})
        await m.disconnect()

    run(go())
    (append,) = emu.events("input_image_buffer.append")
    assert append["image"] == jpeg


def test_cancel_ends_the_response_as_cancelled(emu: OmniRealtimeEmulator) -> None:
    emu.hold_after = 2

    async def go() -> list[Any]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Tell me a long story."})
        events = await until(queue, "model_response_audio_delta")
        await m.cancel_response()
        events += await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events) == [
        "model_response_created",
        *["model_response_audio_transcript_delta", "model_response_audio_delta"] * 2,
        "model_response_done",
    ]
    assert events[-1].metadata == {"status": "cancelled"}
    assert len(emu.events("response.cancel")) == 1


def test_a_cancel_after_the_response_ended_sends_nothing(emu: OmniRealtimeEmulator) -> None:
    async def go() -> list[Any]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Hi"})
        await until(queue, "model_response_done")
        await m.cancel_response()  # a barge-in just too late
        await m.send({"type": "text", "text": "Again"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert types(events) == response_types(len(emu.reply.split(" ")))  # no error event
    assert emu.events("response.cancel") == []


def test_disconnect_mid_answer_then_reconnect(emu: OmniRealtimeEmulator) -> None:
    emu.hold_after = 1

    async def go() -> tuple[int, list[Any]]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Talk for a while."})
        await until(queue, "model_response_audio_delta")
        await m.disconnect()
        await asyncio.sleep(0.2)
        after = queue.qsize()  # nothing arrives once disconnect returned
        await m.connect(queue)
        events = await until(queue, "model_session_created")
        await m.send({"type": "text", "text": "Hi again"})
        events += await until(queue, "model_response_done")
        await m.disconnect()
        return after, events

    after, events = run(go())
    assert after == 0
    assert events[0].session_id == "sess_1"
    assert types(events[1:]) == response_types(len(emu.reply.split(" ")))
    assert len(emu.sessions) == 2


# -- errors ----------------------------------------------------------------------------------------
def test_an_error_event_is_a_model_error_and_the_session_goes_on(
    emu: OmniRealtimeEmulator,
) -> None:
    emu.error_on["response.create"] = {
        "type": "rate_limit_error", "code": "Throttling.RateQuota",
        "message": f"Requests rate limit exceeded for key {KEY}"}  # fmt: skip

    async def go() -> list[Any]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "one"})
        events = await until(queue, "model_error")
        await m.send({"type": "text", "text": "two"})
        events += await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    error = events[0]
    assert (error.error_type, error.code) == ("RateLimitError", "Throttling.RateQuota")
    assert "rate limit" in error.message and KEY not in error.message
    assert "dashscope" in error.message
    assert types(events[1:]) == response_types(len(emu.reply.split(" ")))


def test_a_frame_that_is_not_json_is_a_model_error_and_the_session_goes_on(
    emu: OmniRealtimeEmulator,
) -> None:
    emu.raw_on["conversation.item.create"] = "<html>bad gateway</html>"

    async def go() -> list[Any]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Hi"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert events[0].type == "model_error"
    assert (events[0].error_type, events[0].code) == ("ResponseFormatError", "malformed_event")
    assert types(events[1:]) == response_types(len(emu.reply.split(" ")))


def test_a_refused_session_update_fails_connect(emu: OmniRealtimeEmulator) -> None:
    emu.error_on["session.update"] = {
        "type": "invalid_request_error", "code": "invalid_value",
        "message": "Invalid modalities: ['audio']."}  # fmt: skip

    async def go() -> None:
        with pytest.raises(BadRequestError, match="invalid_value") as info:
            await model(emu).connect(asyncio.Queue())
        assert info.value.provider == "dashscope"

    run(go())


@pytest.mark.parametrize("fault", [WSFault(after=4, drop=True),
                                   WSFault(after=4, close_code=1011, close_reason="boom")])
def test_a_dropped_socket_is_an_error_then_the_session_ends(
    emu: OmniRealtimeEmulator, fault: WSFault
) -> None:
    emu.add_fault(fault)  # after session.created, session.updated and two response events

    async def go() -> tuple[list[Any], DashScopeRealtimeModel]:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Hi"})
        events = await until(queue, "model_session_ended")
        return events, m

    events, m = run(go())
    assert types(events) == ["model_response_created", "model_error", "model_session_ended"]
    error = events[1]
    assert error.error_type == "ProviderConnectionError"
    assert ("1011" in error.message) == (fault.close_code == 1011)
    assert not m.connected
    with pytest.raises(RealtimeSessionError, match="ended"):
        run(m.send({"type": "text", "text": "again"}))


def test_a_stalled_socket_times_out_as_an_error(emu: OmniRealtimeEmulator) -> None:
    emu.add_fault(WSFault(after=2, stall=True))  # nothing after session.created/updated

    async def go() -> list[Any]:
        m, queue = await connected(emu, response_timeout=0.5)
        await m.send({"type": "text", "text": "Hi"})
        return await until(queue, "model_session_ended")

    events = run(go())
    assert types(events) == ["model_error", "model_session_ended"]
    assert events[0].error_type == "ProviderTimeoutError"


def test_no_session_within_connect_timeout_is_a_timeout(emu: OmniRealtimeEmulator) -> None:
    emu.add_fault(WSFault(after=0, stall=True))  # not even session.created

    async def go() -> None:
        m = model(emu, connect_timeout=0.5)
        with pytest.raises(ProviderTimeoutError, match="no session"):
            await m.connect(asyncio.Queue())
        assert not m.connected

    run(go())


def test_a_refused_handshake_is_an_authentication_error_at_once(
    emu: OmniRealtimeEmulator,
) -> None:
    bad = "sk-omni-wrong-0123456789abc"

    async def go() -> float:
        m = model(emu, api_key=bad)
        start = time.monotonic()
        with pytest.raises(AuthenticationError) as info:
            await m.connect(asyncio.Queue())
        elapsed = time.monotonic() - start
        err = info.value
        assert (err.status, err.provider) == (401, "dashscope")
        assert "InvalidApiKey" in str(err) and bad not in str(err)
        assert not m.connected
        return elapsed

    # Noticed through the close callback, not after the SDK's 5 s poll for a socket.
    assert run(go()) < 4.0
    assert emu.sessions == []  # refused before any websocket session


def test_an_error_event_before_the_session_fails_connect_scrubbed(
    emu: OmniRealtimeEmulator,
) -> None:
    emu.reject_in_session = True
    bad = "sk-omni-wrong-in-session-01234"

    async def go() -> None:
        with pytest.raises(AuthenticationError, match="InvalidApiKey") as info:
            await model(emu, api_key=bad).connect(asyncio.Queue())
        assert bad not in str(info.value) and bad not in repr(info.value.args)

    run(go())


def test_connection_refused_is_a_connection_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        m = DashScopeRealtimeModel(api_key=KEY, url=f"ws://127.0.0.1:{port}/api-ws/v1/realtime")
        with pytest.raises(ProviderConnectionError, match="cannot connect"):
            await m.connect(asyncio.Queue())

    run(go())


# -- keys ------------------------------------------------------------------------------------------
def test_two_models_with_two_keys_send_their_own(emu: OmniRealtimeEmulator) -> None:
    import dashscope

    before = dashscope.api_key

    async def go() -> None:
        (a, _), (b, _) = await asyncio.gather(connected(emu, api_key=KEY),
                                              connected(emu, api_key=KEY2))
        await asyncio.gather(a.disconnect(), b.disconnect())

    run(go())
    assert sorted(s.headers["authorization"] for s in emu.sessions) == \
        sorted([f"Bearer {KEY}", f"Bearer {KEY2}"])
    assert dashscope.api_key == before  # never read or written


def test_the_key_comes_from_the_environment_or_is_a_config_error(
    emu: OmniRealtimeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="DASHSCOPE_API_KEY"):
        DashScopeRealtimeModel(url=emu.url)
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY2)

    async def go() -> None:
        m, _ = await connected(emu, api_key=None)
        await m.disconnect()

    run(go())
    assert emu.sessions[0].headers["authorization"] == f"Bearer {KEY2}"


def test_the_key_is_in_no_repr_error_or_event(emu: OmniRealtimeEmulator) -> None:
    emu.error_on["conversation.item.create"] = {
        "type": "invalid_request_error", "code": "invalid_value",
        "message": f"bad request from Bearer {KEY}"}  # fmt: skip

    async def go() -> list[Any]:
        m, queue = await connected(emu)
        assert KEY not in repr(m)
        await m.send({"type": "text", "text": "Hi"})
        events = await until(queue, "model_response_done")
        await m.disconnect()
        return events

    events = run(go())
    assert events[0].type == "model_error"
    assert KEY not in json.dumps([e.model_dump() for e in events])


def test_the_key_is_in_no_log_even_at_debug(
    emu: OmniRealtimeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    bad = "sk-omni-wrong-for-the-log-0123"

    async def go() -> None:
        m, queue = await connected(emu)
        await m.send({"type": "text", "text": "Hi"})
        await until(queue, "model_response_done")
        await m.disconnect()
        with pytest.raises(AuthenticationError):
            await model(emu, api_key=bad).connect(asyncio.Queue())

    run(go())
    # The client side's logs: the SDK's and websocket-client's (not the emulator's websockets).
    text = "\n".join(r.getMessage() for r in caplog.records
                     if r.name.split(".")[0] in ("dashscope", "websocket", "agentscope_legacy"))
    assert "session.update" in text and "401" in text  # they did log, at debug and error
    assert KEY not in text and bad not in text


# -- bad input -------------------------------------------------------------------------------------
def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agentscope_legacy.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "dashscope", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="dashscope"):
        DashScopeRealtimeModel(api_key=KEY)


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="turn_detection"):
        DashScopeRealtimeModel(api_key=KEY, turn_detection="semantic_vad")
    with pytest.raises(ConfigError, match="modalities"):
        DashScopeRealtimeModel(api_key=KEY, modalities=["audio"])


def test_a_config_is_validated_and_builds_the_model(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentscope_legacy.realtime._config import read_realtime_configs

    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    head = ("- config_name: qwen\n  model_type: dashscope_realtime\n"
            "  api_key: ${DASHSCOPE_API_KEY}\n")
    good = tmp_path / "good.yaml"
    good.write_text(head + "  url: ws://127.0.0.1:1/x\n  turn_detection: null\n"
                    "  modalities: [text]\n  session_kwargs: {temperature: 0.5}\n")
    built = read_realtime_configs(good)["qwen"].build()
    assert isinstance(built, DashScopeRealtimeModel)
    assert (built.url, built.turn_detection, built.modalities, built.session_kwargs) == \
        ("ws://127.0.0.1:1/x", None, ["text"], {"temperature": 0.5})
    bad = tmp_path / "bad.yaml"
    bad.write_text(head + "  turn_detecton: server_vad\n  modalities: [audio]\n")
    with pytest.raises(ConfigError) as info:
        read_realtime_configs(bad)
    text = str(info.value)
    assert "turn_detecton" in text and "turn_detection" in text and "modalities" in text


def test_use_out_of_order_is_a_session_error(emu: OmniRealtimeEmulator) -> None:
    async def go() -> None:
        m = model(emu)
        with pytest.raises(RealtimeSessionError, match="connect"):
            await m.send({"type": "text", "text": "Hi"})
        with pytest.raises(RealtimeSessionError, match="tools"):
            await m.connect(asyncio.Queue(), "", [{"type": "function",
                                                   "function": {"name": "f"}}])
        m2, _ = await connected(emu)
        with pytest.raises(RealtimeSessionError, match="tool"):
            await m2.send({"type": "tool_result", "id": "c1", "name": "f", "output": "x"})
        with pytest.raises(RealtimeSessionError, match="already connected"):
            await m2.connect(asyncio.Queue())
        await m2.disconnect()

    run(go())


# -- pure parsing ----------------------------------------------------------------------------------
def test_parse_maps_the_service_events() -> None:
    ids = {"response_id": "r1", "item_id": "i1"}
    pcm = base64.b64encode(tone(0.01)).decode()
    assert parse_event({"type": "session.updated", "session": {"id": "s"}}) == []
    (audio,) = parse_event({"type": "response.audio.delta", **ids, "delta": pcm})
    assert isinstance(audio, ModelEvents.ModelResponseAudioDeltaEvent)
    assert audio.format.sample_rate == 24000
    (done,) = parse_event({"type": "response.done", "response": {
        "id": "r1", "status": "completed", "usage": {"input_tokens": 3, "output_tokens": 4}}})
    assert (done.input_tokens, done.output_tokens, done.metadata) == \
        (3, 4, {"status": "completed"})
    error, done = parse_event({"type": "response.done", "response": {
        "id": "r2", "status": "failed",
        "status_details": {"error": {"type": "server_error", "code": "InternalError"}}}})
    assert (error.error_type, error.code, done.metadata) == \
        ("ServerError", "InternalError", {"status": "failed"})
    (failed,) = parse_event({"type": "conversation.item.input_audio_transcription.failed",
                             "item_id": "i1", "error": {"code": "asr_failed",
                                                        "message": "no speech"}})
    assert (failed.error_type, failed.code) == ("ProviderError", "asr_failed")
    (auth,) = parse_event({"type": "error", "error": {"code": "InvalidApiKey", "message": "x"}})
    assert auth.error_type == "AuthenticationError"


def test_a_malformed_audio_delta_is_an_error_event_not_the_end(emu: OmniRealtimeEmulator) -> None:
    m = model(emu)
    (event,) = m._parse({"type": "response.audio.delta", "response_id": "r", "item_id": "i",
                         "delta": "not base64!"})
    assert (event.type, event.error_type) == ("model_error", "ResponseFormatError")
    (event,) = m._parse({"type": "response.created"})  # no response object
    assert event.error_type == "ResponseFormatError"


# -- through RealtimeAgent -------------------------------------------------------------------------
def test_a_realtime_agent_over_dashscope(emu: OmniRealtimeEmulator) -> None:
    pytest.importorskip("agentscope_legacy.realtime._agent")
    from agentscope_legacy.agent import RealtimeAgent
    from agentscope_legacy.realtime import ClientEvents

    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg").decode("ascii")

    async def go() -> tuple[list[Any], Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        agent = RealtimeAgent(name="Qwen", sys_prompt="You are Qwen.", model=model(emu))
        await agent.start(queue)
        events = await until(queue, "agent_ready")
        await agent.handle_input(ClientEvents.from_json(
            {"type": "client_text_append", "text": "Hi"}))
        events += await until(queue, "agent_response_done")
        await agent.handle_input(ClientEvents.from_json(
            {"type": "client_image_append", "image": jpeg,
             "format": {"media_type": "image/jpeg"}}))  # fmt: skip
        for pcm in (tone(0.2, 16000), bytes(3200)):  # speech, then the silence ending it
            await agent.handle_input(ClientEvents.from_json({
                "type": "client_audio_append", "audio": base64.b64encode(pcm).decode(),
                "format": {"encoding": "pcm16", "sample_rate": 16000}}))  # fmt: skip
        events += await until(queue, "agent_response_done")
        await agent.stop()
        events += await until(queue, "agent_ended")
        return events, agent

    events, agent = run(go())
    words = len(emu.reply.split(" "))
    agent_response = [t.replace("model_", "agent_") for t in response_types(words)]
    assert types(events) == [
        "agent_ready", *agent_response,
        "agent_input_started", "agent_input_done", "agent_input_transcription_done",
        *agent_response, "agent_ended",
    ]  # fmt: skip
    assert {e.agent_name for e in events} == {"Qwen"}
    assert {e.agent_id for e in events} == {agent.id}
    (update,) = emu.events("session.update")
    assert update["session"]["instructions"] == "You are Qwen."
    assert emu.events("input_image_buffer.append")[0]["image"] == jpeg
    assert [(m.role, m.content) for m in agent.memory] == [
        ("user", "Hi"), ("assistant", emu.reply), ("user", emu.heard), ("assistant", emu.reply)]
