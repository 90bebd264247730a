"""``GenerateOptions``: common options, translated per provider, on the wire.

The translations are checked as pure functions, then in the request each provider's real SDK
sends to its loopback emulator: as a config's ``generate_args``, as ``options=`` of a wrapper
call and of a chat model call.
"""

from __future__ import annotations

import asyncio

import pytest
from loguru import logger

from agentscope_legacy.errors import ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.model import GenerateOptions, OpenAIChatModel, _options
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator

KEY = "sk-test-options-9a8b7c"
ALL = GenerateOptions(
    temperature=0.3,
    top_p=0.9,
    max_tokens=2048,
    seed=7,
    stop=["END"],
    tool_choice="auto",
    parallel_tool_calls=False,
    thinking_budget=1024,
)


@pytest.fixture
def warnings():
    _options._warned.clear()  # "once" is per process: start each test afresh
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(m.record["message"]), level="WARNING")
    yield seen
    logger.remove(sink)


def hi(wrapper, **kwargs):
    return wrapper(wrapper.format(Msg("user", "Hi", "user")), **kwargs)


# -- translation -----------------------------------------------------------------------------
def test_openai_takes_the_common_names_but_a_thinking_budget(warnings):
    assert ALL.for_provider("openai") == {
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 2048,
        "seed": 7,
        "stop": ["END"],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
    }
    assert warnings == ["openai has no 'thinking_budget' option: it is dropped"]


@pytest.mark.parametrize(
    ("provider", "expected", "dropped"),
    [
        (
            "anthropic",
            {
                "temperature": 0.3,
                "top_p": 0.9,
                "max_tokens": 2048,
                "stop_sequences": ["END"],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
                "thinking": {"type": "enabled", "budget_tokens": 1024},
            },
            ["seed"],
        ),
        (
            "gemini",
            {
                "temperature": 0.3,
                "top_p": 0.9,
                "max_output_tokens": 2048,
                "seed": 7,
                "stop_sequences": ["END"],
                "tool_choice": "auto",
                "thinking_budget": 1024,
            },
            ["parallel_tool_calls"],
        ),
        (
            "ollama",
            {
                "temperature": 0.3,
                "top_p": 0.9,
                "num_predict": 2048,
                "seed": 7,
                "stop": ["END"],
                "tool_choice": "auto",
            },
            ["parallel_tool_calls", "thinking_budget"],
        ),
        (
            "dashscope",
            {
                "temperature": 0.3,
                "top_p": 0.9,
                "max_tokens": 2048,
                "seed": 7,
                "stop": ["END"],
                "tool_choice": "auto",
                "parallel_tool_calls": False,
                "enable_thinking": True,
                "thinking_budget": 1024,
            },
            [],
        ),
    ],
)
def test_each_provider_gets_its_own_names(provider, expected, dropped, warnings):
    assert ALL.for_provider(provider) == expected
    assert warnings == [f"{provider} has no '{name}' option: it is dropped" for name in dropped]


def test_a_missing_option_warns_once_per_provider(warnings):
    for _ in range(3):
        GenerateOptions(seed=1).for_provider("anthropic")
    GenerateOptions(seed=1).for_provider("zhipuai")
    assert warnings == [
        "anthropic has no 'seed' option: it is dropped",
        "zhipuai has no 'seed' option: it is dropped",
    ]


def test_anthropic_keeps_a_named_tool_choice_with_parallel_calls_off():
    options = GenerateOptions(tool_choice="get_weather", parallel_tool_calls=False)
    assert options.for_provider("anthropic") == {
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    }
    assert GenerateOptions(parallel_tool_calls=True).for_provider("anthropic") == {}


def test_a_custom_provider_gets_the_common_names(warnings):
    assert ALL.for_provider("custom") == ALL.to_dict()
    assert warnings == []


def test_unset_options_are_not_sent():
    assert GenerateOptions().for_provider("openai") == {}
    assert GenerateOptions(temperature=0).to_dict() == {"temperature": 0}


def test_an_unknown_option_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as info:
        GenerateOptions.from_dict({"temprature": 0.2, "max_tokens": 5})
    assert info.value.field == "temprature"
    assert "did you mean 'temperature'?" in str(info.value)
    with pytest.raises(TypeError):
        GenerateOptions(temprature=0.2)  # type: ignore[call-arg]


def test_a_wrongly_typed_option_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        GenerateOptions.from_dict({"max_tokens": "many", "parallel_tool_calls": 1})
    assert {i.field for i in info.value.issues} == {"max_tokens", "parallel_tool_calls"}
    with pytest.raises(ConfigError):
        GenerateOptions(max_tokens=True)  # a bool is no token count
    assert GenerateOptions.from_dict({"stop": "x", "temperature": 1}).stop == "x"


# -- on the wire -----------------------------------------------------------------------------
def test_as_a_config_generate_args_for_ollama(warnings):
    server = shared_ollama_emulator()
    server.clear()
    server.set_reply(text="ok")
    read_model_configs(
        [
            {
                "config_name": "llama",
                "model_type": "ollama_chat",
                "model_name": "llama3.2",
                "host": server.base_url,
                "generate_args": GenerateOptions(max_tokens=32, temperature=0.1, seed=3),
            }
        ]
    )
    hi(load_model_by_config_name("llama"))
    assert server.requests[-1].json["options"] == {"num_predict": 32, "temperature": 0.1, "seed": 3}


def test_as_call_options_for_anthropic(monkeypatch, warnings):
    server = shared_anthropic_emulator()
    server.clear()
    server.set_reply(text="ok")
    read_model_configs(
        [
            {
                "config_name": "claude",
                "model_type": "anthropic_chat",
                "model_name": "claude-sonnet-4-5",
                "api_key": KEY,
                "base_url": server.base_url,
                "generate_args": {"temperature": 0.9},
            }
        ]
    )
    hi(load_model_by_config_name("claude"), options=ALL)
    body = server.requests[-1].json
    assert body["max_tokens"] == 2048
    assert body["temperature"] == 0.3  # the call's options over the config's generate_args
    assert body["stop_sequences"] == ["END"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "seed" not in body
    assert "anthropic has no 'seed' option: it is dropped" in warnings


def test_for_gemini_through_a_provider_string(monkeypatch):
    server = shared_gemini_emulator()
    server.clear()
    server.set_reply(text="ok")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    wrapper = load_model_by_config_name("gemini:gemini-2.5-flash")
    hi(wrapper, options=GenerateOptions(max_tokens=64, stop="END", thinking_budget=128))
    config = server.requests[-1].json["generationConfig"]
    assert config["maxOutputTokens"] == 64
    assert config["stopSequences"] == ["END"]
    # The SDK sends this nested field in snake case (the API's JSON parser takes both).
    thinking = config["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 128


def test_native_call_kwargs_win_over_options(openai_server):
    openai_server.set_reply(text="ok")
    read_model_configs(
        [
            {
                "config_name": "gpt",
                "model_type": "openai_chat",
                "api_key": KEY,
                "base_url": openai_server.base_url + "/v1",
            }
        ]
    )
    hi(load_model_by_config_name("gpt"), options=GenerateOptions(max_tokens=5), max_tokens=9)
    assert openai_server.requests[-1].json["max_tokens"] == 9


def test_as_chat_model_call_options(openai_server):
    openai_server.set_reply(text="ok")
    model = OpenAIChatModel(
        "gpt-4o-mini",
        api_key=KEY,
        stream=False,
        client_args={"base_url": openai_server.base_url + "/v1"},
        generate_kwargs={"temperature": 0.5, "seed": 11},
    )
    reply = asyncio.run(
        model([{"role": "user", "content": "Hi"}], options=GenerateOptions(max_tokens=12, seed=4))
    )
    assert reply.content == [{"type": "text", "text": "ok"}]
    body = openai_server.requests[-1].json
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.5, 4, 12)


# -- generate_options in YAML ----------------------------------------------------------------
def test_generate_options_in_a_yaml_config(tmp_path, warnings):
    server = shared_ollama_emulator()
    server.clear()
    server.set_reply(text="ok")
    path = tmp_path / "models.yaml"
    path.write_text(
        "- config_name: llama\n"
        "  model_type: ollama_chat\n"
        f"  host: {server.base_url}\n"
        "  generate_options: {max_tokens: 16, temperature: 0.4, parallel_tool_calls: true}\n"
        "  generate_args: {temperature: 0.8}\n"
    )
    read_model_configs(path)
    hi(load_model_by_config_name("llama"))
    # The provider's own generate_args win over the common options.
    assert server.requests[-1].json["options"] == {"num_predict": 16, "temperature": 0.8}
    assert warnings == ["ollama has no 'parallel_tool_calls' option: it is dropped"]


def test_an_unknown_generate_option_in_yaml_is_located(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(
        "- config_name: gpt\n"
        "  model_type: openai_chat\n"
        "  api_key: sk-x\n"
        "  generate_options:\n"
        "    max_token: 16\n"
    )
    with pytest.raises(ConfigError) as info:
        read_model_configs(path)
    (issue,) = info.value.issues
    assert (issue.field, issue.line, issue.config_name) == ("generate_options.max_token", 4, "gpt")
    assert "did you mean 'max_tokens'?" in issue.message
