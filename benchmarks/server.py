"""A loopback OpenAI-compatible server built to never be the bottleneck of a benchmark.

Run as its own process (``python benchmarks/server.py --cpu 1``), pinned to its own core. It
prints ``PORT <n>`` once listening. Design:

* one asyncio event loop, ``asyncio.Protocol`` (no per-request task or thread);
* HTTP/1.1 keep-alive; several pipelined requests per read are handled;
* every reply is encoded once per model name and cached: a 20,000-chunk SSE stream is a
  single ``transport.write`` of a pre-built body, HTTP-chunked in 64 KiB batches;
* ``GET /_stats`` returns accepted connections, connections that carried API requests, and
  request counts; ``POST /_reset`` zeroes them. Control connections are not API connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import _wire

_JSON = "application/json"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accepted = 0
        self.api_connections: set[int] = set()
        self.requests = 0
        self.streams = 0

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "accepted": self.accepted,
                "api_connections": len(self.api_connections),
                "requests": self.requests,
                "streams": self.streams,
            }
        ).encode()


STATS = Stats()
_CACHE: dict[tuple[str, bool], bytes] = {}
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


def reply_for(model: str, stream: bool) -> bytes:
    key = (model, stream)
    reply = _CACHE.get(key)
    if reply is None:
        if stream:
            reply = _wire.http_response(_wire.sse_events(model), "text/event-stream", chunked=True)
        else:
            reply = _wire.http_response(_wire.completion(model), _JSON)
        _CACHE[key] = reply
    return reply


class Connection(asyncio.Protocol):
    _ids = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Connection._ids += 1
        self.id = Connection._ids
        self.transport = transport  # type: ignore[assignment]
        self.buffer = bytearray()
        STATS.accepted += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.transport.write(self.handle(head.split(" ", 2), body))

    def handle(self, request_line: list[str], body: bytes) -> bytes:
        method, path = request_line[0], request_line[1]
        if path == "/_stats":
            return _wire.http_response(STATS.as_json(), _JSON)
        if path == "/_reset" and method == "POST":
            STATS.reset()
            _CACHE.clear()
            return _wire.http_response(b"{}", _JSON)
        if method != "POST" or not path.endswith("/chat/completions"):
            return _NOT_FOUND
        STATS.requests += 1
        STATS.api_connections.add(self.id)
        request = json.loads(body)
        stream = bool(request.get("stream"))
        STATS.streams += stream
        return reply_for(str(request.get("model", _wire.MODEL)), stream)

    def connection_lost(self, exc: Exception | None) -> None:
        self.buffer.clear()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, host, port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        sys.exit("the benchmark server only listens on 127.0.0.1")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
