"""The Studio client's own HTTP/1.1 (one write per push) and log_deltas' growing message."""

from __future__ import annotations

import socket

import pytest

from agentscope_legacy import logging as aslog
from agentscope_legacy.studio._http import parse_head, read_response, request_bytes


def test_request_is_one_whole_post() -> None:
    data = request_bytes("127.0.0.1:5000", "/trpc/pushMessage", '{"a":"é"}'.encode())
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /trpc/pushMessage HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n")
    assert f"Content-Length: {len(body)}".encode() in head and body == '{"a":"é"}'.encode()


def test_parse_head_rejects_what_is_not_http() -> None:
    assert parse_head(b"HTTP/1.1 422 Unprocessable\r\nContent-Length: 2") == (
        422, {"content-length": "2"})
    with pytest.raises(ConnectionError):
        parse_head(b"SSH-2.0-OpenSSH")


def _answer(*pieces: bytes) -> tuple[int, bytes, bool]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(2)
        for piece in pieces:
            theirs.sendall(piece)
        if not any(b"Content-Length" in p or b"chunked" in p for p in pieces):
            theirs.shutdown(socket.SHUT_WR)
        return read_response(ours)


def test_read_response_by_length_chunks_and_close() -> None:
    # Split anywhere, even inside the head: the length decides where the body ends.
    assert _answer(b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 4\r\n\r\n{}", b"{}") == (
        200, b"{}{}", True)
    assert _answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
                   b"0\r\n\r\n")[:2] == (200, b"ok")
    assert _answer(b"HTTP/1.0 500 Oops\r\n\r\nno length") == (500, b"no length", False)
    assert _answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[2] \
        is False


def test_pipelined_answers_are_read_one_by_one_from_one_buffer() -> None:
    # Two answers (one chunked) in one write: what is read past the first is kept for the next.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(2)
        theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
                       b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3\r\nbad\r\n1;x=y\r\n!\r\n0\r\n\r\n"
                       b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        buffer = bytearray()
        assert read_response(ours, buffer=buffer) == (200, b"{}", True)
        assert read_response(ours, buffer=buffer) == (400, b"bad!", True)
        assert read_response(ours, buffer=buffer) == (201, b"", True)
        assert buffer == b""


def test_read_response_on_a_closed_connection_is_an_error() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        theirs.close()
        with pytest.raises(ConnectionError):
            read_response(ours)


def test_log_deltas_listeners_see_the_growing_text(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, bool]] = []
    monkeypatch.setattr(aslog, "speak_listeners", [
        lambda msg, last: seen.append((msg.content, len(msg.parts), last))])
    aslog.log_deltas("Bob", iter(["He", "llo", "!"]))
    assert seen == [("He", 1, False), ("Hello", 2, False), ("Hello!", 3, False),
                    ("Hello!", 3, True)]


@pytest.mark.parametrize("batch", [False, True], ids=["one-per-push", "trpc-batch"])
def test_no_key_reaches_a_pushed_record_on_the_wire(batch: bool) -> None:
    """What the client writes on the socket (a recording server, not the Studio, which
    redacts again): spoken text, pieces and invocation records with a registered key; sent
    one per request to a Studio that does not say it takes batches (as AgentScope's), as
    tRPC batches to one that does."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from agentscope_legacy._secrets import register_secret
    from agentscope_legacy.logging import _Deltas
    from agentscope_legacy.message import Msg
    from agentscope_legacy.studio import StudioClient

    key = "sk-wire-0123456789abcdef"
    register_secret(key)
    bodies: list[bytes] = []
    paths: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            paths.append(self.path)
            answer = b"{}"
            if batch and self.path.endswith("?batch=1"):
                calls = self.path.split("?")[0].split(",")
                answer = json.dumps([{"result": {"data": None}}] * len(calls)).encode()
            elif batch:
                answer = b'{"ok":true,"batch":true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = StudioClient(f"http://127.0.0.1:{server.server_port}", {"id": "run_wire"},
                              interval=0.001)
        whole = Msg("Bob", "", "assistant")
        for piece in ("my key is ", key, " ok"):
            whole.content += piece
            client.on_speak(whole, False)
        client.on_speak(whole, True)
        pieces = _Deltas("Ann", "", "assistant")
        for piece in (key[:8], key[8:], " done"):
            pieces.parts.append(piece)
            client.on_speak(pieces, False)
        client.on_speak(pieces, True)
        client.push_invocation(lambda: {"arguments": {"api_key": key, "messages": [key]},
                                        "response": {"text": key}, "config_name": key})
        assert client.flush()
        client.close()
    finally:
        server.shutdown()
    routes = []
    for path, body in zip(paths, bodies, strict=True):
        data = json.loads(body)
        routes += list(data.values()) if path.endswith("?batch=1") else [data]
    assert any(p.endswith("?batch=1") for p in paths) is batch
    texts = [r["msg"]["content"] for r in routes if "msg" in r]
    assert "*** done" in texts
    assert "my key is *** ok" in texts
    assert any("arguments" in r for r in routes)
    assert [b for b in bodies if key in b.decode()] == []


def test_batch_answers_give_each_call_its_status() -> None:
    from agentscope_legacy.studio._client import _batch_codes, _takes_batches

    ok, missing = {"result": {"data": None}}, {"error": {"data": {"httpStatus": 404}}}
    assert _batch_codes(207, json_bytes([ok, missing, {"error": {}}]), 3) == [200, 404, 500]
    assert _batch_codes(503, b"busy", 2) == [503, 503]  # not an array: the request's status
    assert _batch_codes(200, json_bytes([ok]), 2) == [502, 502]  # the wrong count: retried
    assert _takes_batches(b'{"ok":true,"batch":true}') is True
    assert _takes_batches(b'{"result":{"data":null}}') is False
    assert _takes_batches(b"not json") is False


def json_bytes(value: object) -> bytes:
    import json

    return json.dumps(value).encode()
