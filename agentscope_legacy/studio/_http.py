"""HTTP/1.1, just what the Studio client's pushes need: a JSON POST in one write on a
keep-alive socket, and its response read by length, chunks or close.

Not http.client: it writes head and body apart and parses headers with the email package;
each system call is a GIL hand-over the run's thread waits for.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

__all__ = ["connect", "parse_head", "read_response", "request_bytes"]


def connect(url: str, timeout: float) -> socket.socket:
    parts = urlsplit(url)
    https = parts.scheme == "https"
    sock = socket.create_connection((parts.hostname, parts.port or (443 if https else 80)),
                                    timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small pushes, now
    if https:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def request_bytes(host: str, path: str, body: bytes) -> bytes:
    """A whole JSON POST request: head and body."""
    head = (f"POST {path or '/'} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and lower-cased headers of a response head (without its blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ConnectionError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(fields[1]), headers


def read_response(sock: socket.socket, limit: int = 1 << 20,
                  buffer: bytearray | None = None) -> tuple[int, bytes, bool]:
    """Read one response: (status, body, whether the connection can be kept).

    ``buffer`` carries bytes read past this response to the next call (pipelined requests:
    one ``recv`` may hold the start of the next answer)."""
    data = bytes(buffer) if buffer else b""
    if buffer is not None:
        buffer.clear()
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
        if len(data) > limit:
            raise ConnectionError("response head too long")
    head, _, data = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    keep = headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, rest = _chunked(sock, data, limit)
    elif "content-length" not in headers:  # the body ends with the connection
        while len(data) <= limit:
            try:
                data += _recv(sock)
            except ConnectionError:
                break
        return status, data, False
    else:
        length = int(headers["content-length"])
        while len(data) < length:
            data += _recv(sock)
        body, rest = data[:length], data[length:]
    if buffer is not None:
        buffer += rest
    return status, body, keep


def _chunked(sock: socket.socket, data: bytes, limit: int) -> tuple[bytes, bytes]:
    """A chunked body (no trailers: enough for a push's short answer) and what follows it."""
    body = b""
    while True:
        while b"\r\n" not in data:
            data += _recv(sock)
            if len(data) > limit:
                raise ConnectionError("response too long")
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            raise ConnectionError(f"bad chunk size {size_line[:20]!r}") from None
        while len(data) < size + 2:
            data += _recv(sock)
            if len(body) + len(data) > limit:
                raise ConnectionError("response too long")
        body, data = body + data[:size], data[size + 2:]
        if size == 0:
            return body, data


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("the Studio closed the connection")
    return data
