"""One way to set the endpoint (issue 13 part 2, the newer layer's side): every chat,
embedding, TTS and realtime model takes ``base_url`` and ``api_key`` as plain arguments, and
this test shows, per class, that a ``base_url`` reaches its loopback emulator with the key.
The SDK's own spellings (``host``, ``base_http_api_url``, ``client_args``, ``http_options``,
``url``) keep working; two spellings that disagree are a ConfigError naming both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentscope_legacy import embedding, model, tts
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.realtime import (
    DashScopeRealtimeModel,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
)
from tests.emulators import tls
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.dashscope_fixtures import shared_dashscope_emulator
from tests.emulators.fixtures import ensure_no_proxy, shared_openai_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator
from tests.emulators.realtime_dashscope import OmniRealtimeEmulator
from tests.emulators.realtime_gemini import GeminiLiveEmulator
from tests.emulators.realtime_openai import OpenAIRealtimeEmulator
from tests.emulators.tts import (
    DashScopeTTSEmulator,
    GeminiTTSEmulator,
    OpenAISpeechEmulator,
    QwenTTSRealtimeEmulator,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
KEY = "sk-base-url-0123456789abcdef"
FAST = {"retry_interval": 0.01, "max_retries": 1}
HI = [{"role": "user", "content": "hi"}]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def carries_key(headers: dict[str, str], path: str = "") -> bool:
    return any(KEY in value for value in headers.values()) or KEY in path


# -- chat models -------------------------------------------------------------------------------
#: class -> (emulator, the base_url it serves, the old spelling of the same endpoint).
CHAT: dict[str, tuple[Callable[[], Any], Callable[[Any], str], Callable[[str], dict]]] = {
    "OpenAIChatModel": (
        shared_openai_emulator,
        lambda s: s.base_url + "/v1",
        lambda url: {"client_args": {"base_url": url}},
    ),
    "DashScopeChatModel": (
        shared_dashscope_emulator,
        lambda s: s.base_url + "/api/v1",
        lambda url: {"base_http_api_url": url},
    ),
    "AnthropicChatModel": (
        shared_anthropic_emulator,
        lambda s: s.base_url,
        lambda url: {"client_args": {"base_url": url}},
    ),
    "GeminiChatModel": (
        shared_gemini_emulator,
        lambda s: s.base_url,
        lambda url: {"client_args": {"http_options": {"base_url": url}}},
    ),
    "OllamaChatModel": (shared_ollama_emulator, lambda s: s.base_url, lambda url: {"host": url}),
}
MODEL_NAMES = {
    "OpenAIChatModel": "gpt-4o-mini",
    "DashScopeChatModel": "qwen-max",
    "AnthropicChatModel": "claude-sonnet-4-6",
    "GeminiChatModel": "gemini-2.5-flash",
    "OllamaChatModel": "qwen3:8b",
}


@pytest.fixture(params=list(CHAT))
def chat(request) -> Iterator[tuple[type, Any, str, dict[str, Any]]]:
    """(class, emulator, its base_url, the old spelling's arguments), the emulator cleared."""
    emulator, url_of, old = CHAT[request.param]
    server = emulator()
    server.clear()
    url = url_of(server)
    yield getattr(model, request.param), server, url, old(url)
    server.clear()


def build_chat(cls: type, **kw: Any) -> Any:
    return cls(MODEL_NAMES[cls.__name__], api_key=KEY, stream=False, **FAST, **kw)


def test_a_chat_models_base_url_and_key_reach_the_emulator(chat):
    cls, server, url, _ = chat
    server.set_reply(text="Hello.")
    reply = run(build_chat(cls, base_url=url)(HI))
    assert [b["text"] for b in reply.content] == ["Hello."]
    (request,) = server.requests
    assert carries_key(request.headers, request.path)


def test_a_chat_models_old_spelling_still_works(chat):
    cls, server, url, old = chat
    server.set_reply(text="Hello.")
    run(build_chat(cls, base_url=url)(HI))
    run(build_chat(cls, **old)(HI))
    first, second = server.requests
    assert first.path == second.path and first.json == second.json


@pytest.mark.parametrize(
    ("name", "old"),
    [("DashScopeChatModel", "base_http_api_url"), ("OllamaChatModel", "host")],
)
def test_two_chat_spellings_that_disagree_are_refused(name, old):
    cls = getattr(model, name)
    with pytest.raises(ConfigError) as info:
        build_chat(cls, base_url="http://127.0.0.1:1/a", **{old: "http://127.0.0.1:2/b"})
    text = str(info.value)
    assert "base_url" in text and old in text and "127.0.0.1:2/b" in text
    same = build_chat(cls, base_url="http://127.0.0.1:1/a/", **{old: "http://127.0.0.1:1/a"})
    assert same.model_name == MODEL_NAMES[name]  # one endpoint, spelled twice: fine


# -- embedding models --------------------------------------------------------------------------
EMBEDDING: dict[str, tuple[Callable[[], Any], Callable[[Any], str], str]] = {
    "OpenAITextEmbedding": (
        shared_openai_emulator, lambda s: s.base_url + "/v1", "text-embedding-3-small"
    ),
    "DashScopeTextEmbedding": (
        shared_dashscope_emulator, lambda s: s.base_url + "/api/v1", "text-embedding-v4"
    ),
    "GeminiTextEmbedding": (shared_gemini_emulator, lambda s: s.base_url, "gemini-embedding-001"),
    "OllamaTextEmbedding": (shared_ollama_emulator, lambda s: s.base_url, "nomic-embed-text"),
    "DashScopeMultiModalEmbedding": (
        shared_dashscope_emulator, lambda s: s.base_url + "/api/v1", "multimodal-embedding-v1"
    ),
    "GeminiMultiModalEmbedding": (
        shared_gemini_emulator, lambda s: s.base_url, "gemini-embedding-001"
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EMBEDDING))
def test_an_embedding_models_base_url_and_key_reach_the_emulator(name):
    ensure_no_proxy()
    emulator, url_of, model_name = EMBEDDING[name]
    server = emulator()
    server.clear()
    cls = getattr(embedding, name)
    res = run(cls(model_name, api_key=KEY, base_url=url_of(server), **FAST)(["a cat"]))
    assert len(res.embeddings) == 1 and len(res.embeddings[0]) > 0
    (request,) = server.requests
    assert carries_key(request.headers, request.path)
    server.clear()


def test_ollama_embeddings_old_spelling_and_a_disagreement():
    server = shared_ollama_emulator()
    server.clear()
    run(embedding.OllamaTextEmbedding("nomic-embed-text", host=server.base_url)(["a"]))
    assert [r.path for r in server.requests] == ["/api/embed"]
    with pytest.raises(ConfigError, match="`host`"):
        embedding.OllamaTextEmbedding("m", base_url="http://127.0.0.1:1", host="http://x:2")
    server.clear()


# -- TTS models --------------------------------------------------------------------------------
TTS: dict[str, tuple[type, Callable[[Any], str], dict[str, Any]]] = {
    "OpenAITTSModel": (OpenAISpeechEmulator, lambda s: s.base_url + "/v1", {"voice": "nova"}),
    "DashScopeTTSModel": (DashScopeTTSEmulator, lambda s: s.api_base, {"voice": "Cherry"}),
    "GeminiTTSModel": (GeminiTTSEmulator, lambda s: s.base_url, {"voice": "Puck"}),
}


@pytest.mark.parametrize("name", list(TTS))
def test_a_tts_models_base_url_and_key_reach_the_emulator(name):
    ensure_no_proxy()
    emulator, url_of, kw = TTS[name]
    with emulator() as server:
        model_ = getattr(tts, name)(api_key=KEY, base_url=url_of(server), **kw)
        res = run(model_.synthesize(Msg("assistant", "Hello.", "assistant")))
        assert res.is_last and res.content["type"] == "audio"
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 1 and carries_key(posts[0].headers, posts[0].path)


def http_base(ws_url: str) -> str:
    """DashScope's HTTP base of the host serving the realtime websocket ``ws_url``."""
    return ws_url.replace("ws://", "http://").replace("/api-ws/v1/realtime", "/api/v1")


@pytest.fixture(scope="module")
def qwen_tts() -> Iterator[QwenTTSRealtimeEmulator]:
    with QwenTTSRealtimeEmulator() as server:
        yield server


@pytest.mark.parametrize("spelling", ["http base", "websocket", "url"])
def test_dashscope_realtime_tts_base_url_reaches_the_emulator(qwen_tts, spelling):
    qwen_tts.clear()
    where = {
        "http base": {"base_url": http_base(qwen_tts.url)},
        "websocket": {"base_url": qwen_tts.url},
        "url": {"url": qwen_tts.url},  # the SDK's spelling
    }[spelling]
    model_ = tts.DashScopeRealtimeTTSModel(api_key=KEY, voice="Cherry", **where)
    assert model_.url == qwen_tts.url

    async def go() -> Any:
        async with model_ as session:
            return await session.synthesize(Msg("assistant", "Hello.", "assistant"))

    assert run(go()).is_last
    (session,) = qwen_tts.sessions
    assert session.path.startswith("/api-ws/v1/realtime?model=")
    assert carries_key(session.headers)


def test_dashscope_realtime_urls_that_cannot_be_an_endpoint_are_refused():
    with pytest.raises(ConfigError, match="neither a websocket endpoint"):
        tts.DashScopeRealtimeTTSModel(api_key=KEY, base_url="http://127.0.0.1:1/v2")
    with pytest.raises(ConfigError, match="`url`"):
        DashScopeRealtimeModel(api_key=KEY, base_url="ws://127.0.0.1:1/a", url="ws://127.0.0.1:2/b")
    agreed = DashScopeRealtimeModel(
        api_key=KEY, base_url="https://h.example/api/v1", url="wss://h.example/api-ws/v1/realtime"
    )
    assert agreed.url == "wss://h.example/api-ws/v1/realtime"


# -- realtime models ---------------------------------------------------------------------------
async def session_created(model_: Any) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    await model_.connect(queue, "Be brief.")
    try:
        while (await asyncio.wait_for(queue.get(), 5)).type != "model_session_created":
            pass
    finally:
        await model_.disconnect()


def test_openai_realtime_base_url_reaches_the_emulator():
    with OpenAIRealtimeEmulator(api_key=KEY) as emu:
        run(session_created(OpenAIRealtimeModel("gpt-realtime", api_key=KEY,
                                                base_url=emu.base_url)))  # fmt: skip
        (session,) = emu.sessions
        assert session.path.startswith("/v1/realtime") and carries_key(session.headers)


@pytest.mark.parametrize("spelling", ["http base", "websocket", "url"])
def test_dashscope_realtime_base_url_reaches_the_emulator(spelling):
    with OmniRealtimeEmulator(keys=(KEY,)) as emu:
        where = {
            "http base": {"base_url": http_base(emu.url)},
            "websocket": {"base_url": emu.url},
            "url": {"url": emu.url},
        }[spelling]
        run(session_created(DashScopeRealtimeModel(api_key=KEY, **where)))
        (session,) = emu.sessions
        assert session.path.startswith("/api-ws/v1/realtime") and carries_key(session.headers)


@pytest.mark.parametrize("spelling", ["base_url", "http_options"])
def test_gemini_realtime_base_url_reaches_the_emulator(spelling):
    with GeminiLiveEmulator(api_key=KEY) as emu:
        options: dict[str, Any] = {"async_client_args": {"ssl": tls.client_context()}}
        if spelling == "base_url":
            where: dict[str, Any] = {"base_url": emu.base_url, "http_options": options}
        else:  # the SDK's spelling: HttpOptions.base_url
            where = {"http_options": {**options, "base_url": emu.base_url}}
        run(session_created(GeminiRealtimeModel(api_key=KEY, **where)))
        (session,) = emu.sessions
        assert carries_key(session.headers, session.path)
