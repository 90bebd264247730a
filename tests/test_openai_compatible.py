"""deepseek_chat, kimi_chat, xai_chat and vllm_chat: openai_chat presets, against the emulator."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentscope_legacy.errors import ConfigError, RateLimitError
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.openai_compatible import (
    DeepSeekChatWrapper,
    KimiChatWrapper,
    VLLMChatWrapper,
    XAIChatWrapper,
)
from tests.emulators import Fault, LoopbackServer, StreamReply

MESSAGES = [{"role": "user", "content": "hi"}]
PRESETS = {
    "deepseek_chat": (DeepSeekChatWrapper, "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "kimi_chat": (KimiChatWrapper, "https://api.moonshot.cn/v1", "MOONSHOT_API_KEY"),
    "xai_chat": (XAIChatWrapper, "https://api.x.ai/v1", "XAI_API_KEY"),
    "vllm_chat": (VLLMChatWrapper, "http://localhost:8000/v1", "VLLM_API_KEY"),
}
KEYED = [t for t in PRESETS if t != "vllm_chat"]


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch):
    for _, _, env in PRESETS.values():
        monkeypatch.delenv(env, raising=False)


def config(model_type: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "config_name": model_type,
        "model_type": model_type,
        "model_name": "some-model",
        "retry_interval": 0.01,
    }
    data.update(overrides)
    return data


def load(data: dict[str, Any]) -> Any:
    read_model_configs([data], clear_existing=True)
    return load_model_by_config_name(data["config_name"])


@pytest.mark.parametrize("model_type", list(PRESETS))
def test_public_endpoint_by_default_with_the_key_from_its_variable(model_type, monkeypatch):
    cls, url, env = PRESETS[model_type]
    monkeypatch.setenv(env, "sk-from-env-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")  # openai's, not theirs
    model = load(config(model_type))
    assert type(model) is cls and model.model_type == model_type
    assert str(model.client.base_url).rstrip("/") == url
    assert model.client.api_key == "sk-from-env-123"


@pytest.mark.parametrize("model_type", KEYED)
def test_missing_key_names_the_variable(model_type):
    _, _, env = PRESETS[model_type]
    with pytest.raises(ConfigError) as info:
        load(config(model_type))
    assert env in str(info.value) and "api_key" in str(info.value)


def test_vllm_needs_no_key():
    model = load(config("vllm_chat"))
    assert model.client.api_key == "EMPTY"


@pytest.mark.parametrize("model_type", list(PRESETS))
def test_config_base_url_wins_and_needs_no_key(openai_server, model_type):
    cls, _, _ = PRESETS[model_type]
    model = load(config(model_type, base_url=openai_server.base_url + "/v1"))
    assert model(MESSAGES).text == "Hello!"
    assert model(MESSAGES, stream=True).text == "Hello!"
    assert [r.path for r in openai_server.requests] == ["/v1/chat/completions"] * 2
    assert openai_server.requests[0].headers["authorization"] == "Bearer EMPTY"
    assert sent_model(openai_server) == "some-model"

    openai_server.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=5))
    with pytest.raises(RateLimitError) as info:
        model(MESSAGES)
    assert (info.value.provider, info.value.config_name) == (cls.provider, model_type)


def sent_model(server: Any) -> str:
    return server.requests[-1].json["model"]


def test_openai_chat_itself_still_reads_openai_base_url(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url + "/v1")
    model = load(config("openai_chat", model_name="gpt-4o-mini"))  # no key: custom URL
    assert model(MESSAGES).text == "Hello!"
    assert len(openai_server.requests) == 1


def test_two_presets_with_two_keys_side_by_side(openai_server):
    base = openai_server.base_url + "/v1"
    keys = [f"sk-{uuid.uuid4().hex}" for _ in range(2)]
    read_model_configs(
        [
            config("deepseek_chat", base_url=base, api_key=keys[0], model_name="deepseek-chat"),
            config("xai_chat", base_url=base, api_key=keys[1], model_name="grok-4"),
        ]
    )
    deepseek, grok = (
        load_model_by_config_name("deepseek_chat"),
        load_model_by_config_name("xai_chat"),
    )
    for model in (deepseek, grok, deepseek):
        model(MESSAGES)
    seen = [(r.headers["authorization"], r.json["model"]) for r in openai_server.requests]
    assert seen == [
        (f"Bearer {keys[0]}", "deepseek-chat"),
        (f"Bearer {keys[1]}", "grok-4"),
        (f"Bearer {keys[0]}", "deepseek-chat"),
    ]


def test_deepseek_reasoner_keeps_reasoning_apart(openai_server):
    openai_server.set_reply(chunks=["42"], reasoning=["Six ", "times seven."], completion_tokens=9)
    data = config("deepseek_chat", base_url=openai_server.base_url, model_name="deepseek-reasoner")
    model = load(data)
    plain, streamed = model(MESSAGES), model(MESSAGES, stream=True)
    assert list(streamed.stream) == [(True, "42")]
    for response in (plain, streamed):
        assert (response.text, response.reasoning) == ("42", "Six times seven.")
        assert response.usage.completion_tokens == 9


class _KimiStream(LoopbackServer):
    """Moonshot's stream: the usage sits in the last chunk's ``choices[0]``."""

    def handle(self, req: Any) -> Any:
        def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": None, **extra}
            body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            return b"data: %s\n\n" % json.dumps({**body, "choices": [choice]}).encode()

        usage = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
        return StreamReply(
            [
                chunk({"role": "assistant", "content": "Hel"}),
                chunk({"content": "lo"}),
                chunk({}, finish_reason="stop", usage=usage),
                b"data: [DONE]\n\n",
            ]
        )


def test_kimi_reads_the_usage_inside_the_last_choice():
    with _KimiStream() as server:
        data = config("kimi_chat", base_url=server.base_url + "/v1", stream_usage=False)
        response = load(data)(MESSAGES, stream=True)
        assert response.text == "Hello"
        usage = response.usage
        assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (19, 13, False)
        assert "stream_options" not in server.requests[0].json


def test_vllm_key_from_its_variable(openai_server, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-123")
    base = openai_server.base_url + "/v1"
    model = load(config("vllm_chat", base_url=base, generate_args={"top_k": 5}))
    model(MESSAGES, min_p=0.1)
    request = openai_server.requests[-1]
    assert request.headers["authorization"] == "Bearer vllm-secret-123"
    assert (request.json["top_k"], request.json["min_p"]) == (5, 0.1)  # vendor fields, top level
