"""The OpenAI emulator is faithful: the real ``openai`` SDK talks to it unmodified.

These tests pin both the emulator's wire format and the SDK behaviour that
library tests rely on (exception types, retries, connection reuse).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from tests.emulators import (
    STALL,
    TINY_PNG,
    ChatScript,
    Fault,
    JSONReply,
    LoopbackServer,
    OpenAIEmulator,
    RecordedRequest,
    Reply,
    StreamReply,
    embedding_vector,
    fixtures,
)

# Bound by assignment (not `from ... import`) so pytest sees the fixture in this
# module without lint complaining that test parameters shadow an import.
openai_server = fixtures.openai_server
fixtures.ensure_no_proxy()

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
CALLS = [
    {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
    {"id": "call_b", "name": "get_time", "arguments": {}},
]


def make_client(server: OpenAIEmulator, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    return OpenAI(api_key="sk-test", base_url=server.base_url + "/v1", **kwargs)


@pytest.fixture
def client(openai_server: OpenAIEmulator) -> Iterator[OpenAI]:
    with make_client(openai_server) as c:
        yield c


def chat(client: OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(model=MODEL, **kwargs)


def stream_text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- chat completions --------------------------------------------------------


def test_non_stream_text_usage_and_request_record(openai_server, client):
    openai_server.set_reply(text="Hello there!", prompt_tokens=7, completion_tokens=3)
    reply = chat(client)
    assert reply.object == "chat.completion"
    assert reply.model == MODEL
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "Hello there!"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 3)
    assert reply.usage.total_tokens == 10

    [req] = openai_server.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-stainless-retry-count"] == "0"
    assert req.json == {"model": MODEL, "messages": MESSAGES}
    assert json.loads(req.body) == req.json


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_matches_non_stream(openai_server, client, include_usage):
    openai_server.set_reply(text="The quick brown fox.", prompt_tokens=9, completion_tokens=6)
    full = chat(client)
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(chat(client, stream=True, **options))

    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    assert stream_text(chunks) == full.choices[0].message.content == "The quick brown fox."
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["stop"] and finishes[-1] == "stop"

    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert usage_chunks == [chunks[-1]] and chunks[-1].choices == []
        assert chunks[-1].usage == full.usage
    else:
        assert usage_chunks == []
    body = openai_server.requests[-1].json
    assert body["stream"] is True
    assert ("stream_options" in body) is include_usage


def test_tool_calls_stream_and_non_stream(openai_server, client):
    openai_server.set_reply(text="", tool_calls=CALLS)
    full = chat(client, tools=TOOLS)
    message = full.choices[0].message
    assert message.content is None
    assert full.choices[0].finish_reason == "tool_calls"
    expected = [(c["id"], c["name"], c["arguments"]) for c in CALLS]
    got = [(t.id, t.function.name, json.loads(t.function.arguments)) for t in message.tool_calls]
    assert got == expected
    assert all(t.type == "function" for t in message.tool_calls)

    assembled: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    chunks = list(chat(client, tools=TOOLS, stream=True))
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            if delta.index not in assembled:
                assert delta.id and delta.type == "function" and delta.function.arguments == ""
                assembled[delta.index] = {"id": delta.id, "name": delta.function.name, "args": ""}
                fragments[delta.index] = 0
            else:
                assert delta.id is None and delta.function.name is None
                assembled[delta.index]["args"] += delta.function.arguments
                fragments[delta.index] += 1
    streamed = [(a["id"], a["name"], a["args"]) for _, a in sorted(assembled.items())]
    non_stream = [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls]
    assert streamed == non_stream
    assert all(2 <= n <= 3 for n in fragments.values())
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert openai_server.requests[-1].json["tools"] == TOOLS


def test_reasoning_content_is_an_attribute(openai_server, client):
    openai_server.set_reply(text="42", reasoning="Let me think step by step.")
    assert chat(client).choices[0].message.reasoning_content == "Let me think step by step."

    chunks = [c for c in chat(client, stream=True) if c.choices]
    kinds = []
    reasoning = ""
    for chunk in chunks[1:]:
        delta = chunk.choices[0].delta
        if getattr(delta, "reasoning_content", None):
            reasoning += delta.reasoning_content
            kinds.append("reasoning")
        elif delta.content:
            kinds.append("text")
    assert reasoning == "Let me think step by step."
    assert kinds == sorted(kinds)  # every reasoning chunk precedes the text
    assert stream_text(chunks) == "42"


def test_explicit_chunks_finish_reason_and_model(openai_server, client):
    openai_server.set_reply(chunks=["Hel", "lo", " world"], finish_reason="length", model="served")
    full = chat(client)
    assert full.choices[0].message.content == "Hello world"
    assert (full.choices[0].finish_reason, full.model) == ("length", "served")
    chunks = list(chat(client, stream=True))
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["Hel", "lo", " world"]
    assert chunks[-1].choices[0].finish_reason == "length"
    assert {c.model for c in chunks} == {"served"}


def test_empty_text_streams_no_text_chunks(openai_server, client):
    openai_server.set_reply(text="")
    chunks = list(chat(client, stream=True))
    assert len(chunks) == 2  # role chunk and finish chunk
    assert chat(client).choices[0].message.content == ""


def test_chat_script_rejects_disagreeing_text_and_chunks():
    with pytest.raises(ValueError):
        ChatScript.build(text="abc", chunks=["x"])


def test_reply_fn_echoes_the_last_user_message(openai_server, client):
    openai_server.set_reply_fn(lambda body: {"text": "echo: " + body["messages"][-1]["content"]})
    assert chat(client).choices[0].message.content == "echo: hi"
    messages = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    assert stream_text(list(chat(client, messages=messages, stream=True))) == "echo: two"


def test_emulator_bug_becomes_500_and_is_recorded(openai_server, client):
    openai_server.set_reply_fn(lambda body: {"no_such_argument": 1})
    with pytest.raises(openai.InternalServerError):
        chat(client)
    assert len(openai_server.errors) == 1 and "TypeError" in openai_server.errors[0]


def test_invalid_request_and_unknown_path(openai_server, client):
    with pytest.raises(openai.BadRequestError) as err:
        chat(client, messages=[])
    assert err.value.status_code == 400 and err.value.type == "invalid_request_error"

    resp = requests.get(openai_server.base_url + "/v1/nope", timeout=5)
    assert resp.status_code == 404
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
    # The /v1 prefix is optional.
    resp = requests.post(
        openai_server.base_url + "/chat/completions",
        timeout=5,
        json={"model": MODEL, "messages": MESSAGES},
    )
    assert resp.json()["choices"][0]["message"]["content"] == "Hello!"


# -- embeddings and images ---------------------------------------------------


def test_embeddings_base64_is_the_sdk_default(openai_server, client):
    reply = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "foo"])
    assert openai_server.requests[-1].json["encoding_format"] == "base64"
    vectors = [d.embedding for d in reply.data]
    assert vectors == [embedding_vector("hello world"), embedding_vector("foo")]
    assert all(len(v) == 8 and all(-1.0 <= x <= 1.0 for x in v) for v in vectors)
    assert vectors[0] != vectors[1]
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (3, 3)
    assert reply.model == "text-embedding-3-small"


def test_embeddings_float_and_dimensions(openai_server, client):
    reply = client.embeddings.create(
        model="m", input="one two three", encoding_format="float", dimensions=5
    )
    assert reply.data[0].embedding == embedding_vector("one two three", 5)
    assert reply.usage.prompt_tokens == 3
    raw = requests.post(
        openai_server.base_url + "/v1/embeddings",
        timeout=5,
        json={"model": "m", "input": "one two three", "dimensions": 5},
    ).json()
    assert raw["data"][0]["embedding"] == reply.data[0].embedding  # plain floats on the wire
    again = client.embeddings.create(model="m", input="one two three", dimensions=5)
    assert again.data[0].embedding == reply.data[0].embedding  # base64 decodes to the same


def _png_chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + data) & 0xFFFFFFFF
        yield tag, data
        pos += 12 + length


def test_tiny_png_is_valid():
    assert TINY_PNG.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = dict(_png_chunks(TINY_PNG))
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (1, 1)
    assert len(zlib.decompress(chunks[b"IDAT"])) == 1 + 4  # filter byte + one RGBA pixel


def test_images_url_and_b64(openai_server, client):
    reply = client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    urls = [d.url for d in reply.data]
    assert urls == [f"{openai_server.base_url}/files/img-{i}.png" for i in range(2)]
    for url in urls:
        resp = requests.get(url, timeout=5)
        assert resp.headers["content-type"] == "image/png"
        assert resp.content == TINY_PNG

    reply = client.images.generate(model="dall-e-3", prompt="a cat", response_format="b64_json")
    assert [base64.b64decode(d.b64_json) for d in reply.data] == [TINY_PNG]
    assert openai_server.requests[0].json == {"model": "dall-e-3", "prompt": "a cat", "n": 2}


# -- faults ------------------------------------------------------------------


def test_401_is_authentication_error(openai_server, client):
    openai_server.add_fault(Fault(status=401, message="Incorrect API key provided"))
    with pytest.raises(openai.AuthenticationError) as err:
        chat(client)
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    assert "Incorrect API key provided" in str(err.value)
    assert len(openai_server.requests) == 1


def test_429_is_retried_honouring_retry_after(openai_server):
    # Retry-After: 1 is longer than the SDK's own backoff (at most 0.5 s, then 1 s: 1.5 s in
    # all), so only waits of the server's 1 s each reach 2 s: a lower bound, robust under load.
    openai_server.add_fault(Fault(status=429, headers={"Retry-After": "1"}, times=3))
    with make_client(openai_server, max_retries=2) as c:
        start = time.monotonic()
        with pytest.raises(openai.RateLimitError):
            chat(c)
        elapsed = time.monotonic() - start
    assert len(openai_server.requests) == 3
    assert [r.headers["x-stainless-retry-count"] for r in openai_server.requests] == ["0", "1", "2"]
    assert elapsed >= 2.0


def test_429_then_success_after_one_retry(openai_server):
    openai_server.add_fault(Fault(status=429, headers={"retry-after-ms": "10"}))
    with make_client(openai_server, max_retries=2) as c:
        assert chat(c).choices[0].message.content == "Hello!"
    assert len(openai_server.requests) == 2


def test_500_is_internal_server_error(openai_server, client):
    openai_server.add_fault(Fault(status=500))
    with pytest.raises(openai.InternalServerError) as err:
        chat(client)
    assert err.value.status_code == 500 and err.value.type == "server_error"


def test_status_fault_applies_to_streams(openai_server, client):
    openai_server.add_fault(Fault(status=400, message="bad stream"))
    with pytest.raises(openai.BadRequestError):
        chat(client, stream=True)  # raised by create(), before any iteration


@pytest.mark.parametrize("fault", [Fault(malformed=True), Fault(empty_body=True)])
def test_broken_json_body_escapes_as_json_decode_error(openai_server, client, fault):
    openai_server.add_fault(fault)
    with pytest.raises(json.JSONDecodeError):
        chat(client)


def test_non_sse_stream_body_yields_no_chunks(openai_server, client):
    """SDK fact: a 200 stream that has no ``data:`` lines ends silently, no error."""
    openai_server.add_fault(Fault(malformed=True))
    assert list(chat(client, stream=True)) == []


def test_drop_after_yields_partial_chunks_then_connection_error(openai_server, client):
    openai_server.set_reply(text="abcdefghijkl")
    openai_server.add_fault(Fault(drop_after=3))
    received = []
    with pytest.raises(openai.APIConnectionError) as err:
        for chunk in chat(client, stream=True):
            received.append(chunk)
    assert stream_text(received) == "abcdef"  # role chunk + 2 text chunks
    assert type(err.value.__cause__).__name__ == "RemoteProtocolError"


def test_drop_after_on_non_stream_is_connection_error(openai_server, client):
    openai_server.add_fault(Fault(drop_after=0))
    with pytest.raises(openai.APIConnectionError):
        chat(client)


def test_stream_error_event_is_api_error(openai_server, client):
    payload = {"message": "The server is overloaded", "type": "server_error", "code": None}
    openai_server.set_reply(text="abcdefghijkl")
    openai_server.add_fault(Fault(stream_error=payload, drop_after=2))
    received = []
    with pytest.raises(openai.APIError) as err:
        for chunk in chat(client, stream=True):
            received.append(chunk)
    assert type(err.value) is openai.APIError  # the base class, not a status subclass
    assert err.value.message == "The server is overloaded" and err.value.body == payload
    assert stream_text(received) == "abc"


def test_delay_triggers_client_timeout(openai_server, client):
    openai_server.add_fault(Fault(delay=STALL))  # ended by the fixture's clear()
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(client.with_options(timeout=0.2))
    assert time.monotonic() - start >= 0.2
    assert len(openai_server.requests) == 1


def test_clear_ends_a_stall_and_the_stalled_request_gets_no_reply(openai_server):
    openai_server.add_fault(Fault(delay=STALL, status=500))
    with socket.create_connection(("127.0.0.1", openai_server.port), timeout=60) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        deadline = time.monotonic() + 60
        while not openai_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)  # the request is recorded before the stall
        openai_server.clear()
        assert sock.recv(1024) == b""  # hung up, no reply: nobody waits for the 30 s


def test_faults_are_fifo_and_path_filtered(openai_server, client):
    openai_server.add_fault(Fault(status=500, times=2), path_prefix="/v1/embeddings")
    openai_server.add_fault(Fault(status=401))
    openai_server.add_fault(Fault(status=403))
    with pytest.raises(openai.AuthenticationError):
        chat(client)
    with pytest.raises(openai.PermissionDeniedError):
        chat(client)
    assert chat(client).choices[0].message.content == "Hello!"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.embeddings.create(model="m", input="x")
    assert client.embeddings.create(model="m", input="x").data


def test_fault_headers_decorate_a_normal_reply(openai_server, client):
    openai_server.add_fault(Fault(headers={"x-request-id": "req_123"}))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_123"
    assert raw.parse().choices[0].message.content == "Hello!"


# -- transport ---------------------------------------------------------------


def test_connection_reuse_for_non_stream_calls(openai_server, client):
    chat(client)
    client.embeddings.create(model="m", input="x")
    chat(client)
    assert len(openai_server.requests) == 3
    assert openai_server.connections == 1


def test_stream_ending_with_done_is_not_reused(openai_server, client):
    """SDK fact: it stops reading at ``[DONE]`` and closes the response before
    the terminating chunk, so the pool discards that connection."""
    list(chat(client, stream=True))
    chat(client)
    assert openai_server.connections == 2


def test_large_stream_is_fast(openai_server, client):
    openai_server.set_reply(chunks=["x"] * 20000)
    resp = requests.post(
        openai_server.base_url + "/v1/chat/completions",
        timeout=60,
        json={"model": MODEL, "messages": MESSAGES, "stream": True},
    )
    assert resp.headers["transfer-encoding"] == "chunked"
    assert resp.content.count(b"data: ") == 20000 + 3  # role, finish, [DONE]

    # The SDK itself parses ~20k chunks/s, so keep its share small.
    openai_server.set_reply(chunks=["y"] * 2000)
    assert stream_text(list(chat(client, stream=True))) == "y" * 2000


def test_no_proxy_covers_loopback():
    assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")


class _EchoServer(LoopbackServer):
    """A provider-free subclass, proving the base has no OpenAI routes."""

    def handle(self, req: RecordedRequest) -> Reply:
        if req.path == "/ndjson":
            events = [b'{"a": 1}\n', b"", b'{"b": 2}\n']
            return StreamReply(events, content_type="application/x-ndjson", chunk_delay=0.01)
        if req.path.startswith("/echo"):
            return JSONReply({"path": req.path, "json": req.json})
        return super().handle(req)


def test_base_server_records_streams_and_stops():
    with _EchoServer() as server:
        url = server.base_url
        resp = requests.post(url + "/echo?x=1", json={"a": 1}, headers={"X-Custom": "v"}, timeout=5)
        assert resp.json() == {"path": "/echo?x=1", "json": {"a": 1}}
        chunked = requests.post(url + "/echo", data=iter([b'{"a"', b": 2}"]), timeout=5)
        assert chunked.json()["json"] == {"a": 2}
        resp = requests.get(url + "/ndjson", timeout=5)
        assert resp.headers["content-type"] == "application/x-ndjson"
        assert resp.text.splitlines() == ['{"a": 1}', '{"b": 2}']
        assert requests.get(url + "/openai", timeout=5).status_code == 404

        first = server.requests[0]
        assert (first.method, first.path, first.json) == ("POST", "/echo?x=1", {"a": 1})
        assert first.headers["x-custom"] == "v" and first.body == b'{"a": 1}'
        server.add_fault(Fault(drop_after=1))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(url + "/ndjson", timeout=5)
        server.clear()
        assert server.requests == [] and server.connections == 0
    with pytest.raises(RuntimeError):
        _ = server.port


def test_stream_generator_failure_is_recorded():
    def events() -> Iterator[bytes]:
        yield b"data: {}\n\n"
        raise RuntimeError("boom")

    class Broken(LoopbackServer):
        def handle(self, req: RecordedRequest) -> Reply:
            return StreamReply(events())

    with Broken() as server:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(server.base_url + "/", timeout=5)
        assert any("RuntimeError: boom" in tb for tb in server.errors)


def test_async_client_stream_and_non_stream(openai_server):
    openai_server.set_reply(text="async works", tool_calls=CALLS[:1])

    async def run() -> tuple[Any, list[Any]]:
        async with openai.AsyncOpenAI(
            api_key="sk-test", base_url=openai_server.base_url + "/v1", max_retries=0
        ) as client:
            full = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True
            )
            return full, [chunk async for chunk in stream]

    full, chunks = asyncio.run(run())
    assert full.choices[0].message.content == stream_text(chunks) == "async works"
    assert openai_server.requests[-1].headers["x-stainless-async"].startswith("async:")
