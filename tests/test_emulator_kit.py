"""The emulator kit's transports: HTTPS for the HTTP emulators, websockets plain and TLS, and
the websocket faults (drop, close code, stall) as a real client sees them."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

pytest.importorskip("websockets")
pytest.importorskip("cryptography")

import httpx  # noqa: E402
from openai import APIConnectionError, OpenAI  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.emulators import OpenAIEmulator  # noqa: E402
from tests.emulators.fixtures import ensure_no_proxy  # noqa: E402
from tests.emulators.tls import ca_file, client_context  # noqa: E402
from tests.emulators.ws import STOPPED, WebSocketServer, WSFault, WSSession  # noqa: E402

ensure_no_proxy()


def echo(session: WSSession) -> None:
    """Answers each message with {"echo": message, "n": count} (bytes echoed as hex)."""
    while (message := session.recv()) is not STOPPED:
        text = message.hex() if isinstance(message, bytes) else message
        session.send({"echo": text, "n": session.sent})


def tls_kwargs(url: str) -> dict[str, Any]:
    return {"ssl": client_context()} if url.startswith("wss://") else {}


def chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


# -- HTTPS -------------------------------------------------------------------------------------


@pytest.fixture
def https_openai() -> Any:
    with OpenAIEmulator(tls=True) as server:
        yield server


def test_https_emulator_serves_the_real_sdk_when_it_trusts_the_test_ca(https_openai):
    https_openai.set_reply(text="over TLS")
    assert https_openai.base_url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=client_context()) as http:
        client = OpenAI(
            api_key="sk-test", base_url=https_openai.base_url + "/v1", http_client=http,
            max_retries=0,
        )  # fmt: skip
        for stream in (False, True):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=stream
            )
            text = (
                "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
                if stream
                else reply.choices[0].message.content
            )
            assert text == "over TLS"
    assert [r.json["stream"] for r in https_openai.requests] == [False, True]
    assert https_openai.errors == []


def test_https_emulator_is_refused_by_a_client_that_trusts_only_the_system_cas(https_openai):
    client = OpenAI(api_key="sk-test", base_url=https_openai.base_url + "/v1", max_retries=0)
    with pytest.raises(APIConnectionError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain(info.value))
    assert https_openai.requests == []
    assert https_openai.errors == []  # a refused handshake is the client's doing, not a bug


def test_ca_file_is_a_pem_path_for_sdks_that_take_one():
    with open(ca_file()) as f:
        assert f.read().startswith("-----BEGIN CERTIFICATE-----")
    ssl.create_default_context(cafile=ca_file())  # loads as a trust anchor


# -- websockets --------------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["ws", "wss"])
def echo_server(request: pytest.FixtureRequest) -> Any:
    with WebSocketServer(echo, tls=request.param) as server:
        yield server


def test_websocket_round_trip_records_messages_and_handshake(echo_server):
    url = echo_server.url + "/v1/realtime?model=m"
    headers = {"Authorization": "Bearer sk-test"}
    with connect(url, additional_headers=headers, **tls_kwargs(url)) as ws:
        ws.send('{"type": "hello"}')
        assert ws.recv(timeout=30) == '{"echo": "{\\"type\\": \\"hello\\"}", "n": 0}'
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=30) == '{"echo": "0001", "n": 1}'
    (session,) = echo_server.sessions
    assert session.path == "/v1/realtime?model=m"
    assert session.headers["authorization"] == "Bearer sk-test"
    assert [m.data for m in echo_server.received] == ['{"type": "hello"}', b"\x00\x01"]
    assert echo_server.received[0].json == {"type": "hello"}
    assert echo_server.errors == []


def test_websocket_drop_after_n_messages_gives_no_close_frame(echo_server):
    echo_server.add_fault(WSFault(after=1, drop=True))
    url = echo_server.url
    with connect(url, **tls_kwargs(url)) as ws:
        ws.send("one")
        assert '"n": 0' in ws.recv(timeout=30)
        ws.send("two")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=30)
    assert info.value.rcvd is None  # the link dropped: no close frame arrived
    # The fault applies to one connection only: the next one is served normally.
    with connect(url, **tls_kwargs(url)) as ws:
        ws.send("three")
        assert '"three"' in ws.recv(timeout=30)
    assert echo_server.errors == []


def test_websocket_close_with_a_code(echo_server):
    echo_server.add_fault(WSFault(after=0, close_code=1011, close_reason="overloaded"))
    url = echo_server.url
    with connect(url, **tls_kwargs(url)) as ws:
        ws.send("hi")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=30)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "overloaded")


def test_websocket_stall_sends_nothing_more():
    with WebSocketServer(echo) as server:
        server.add_fault(WSFault(after=1, stall=True))
        with connect(server.url) as ws:
            ws.send("one")
            assert '"n": 0' in ws.recv(timeout=30)
            ws.send("two")
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.3)  # a lower bound only: nothing came in that time
        assert [m.data for m in server.received] == ["one", "two"]


def test_a_failing_session_function_is_reported_not_swallowed():
    def broken(session: WSSession) -> None:
        session.recv()
        raise ValueError("emulator bug")

    with WebSocketServer(broken) as server:
        with connect(server.url) as ws:
            ws.send("x")
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)
        (error,) = server.errors
        assert "ValueError: emulator bug" in error
