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
