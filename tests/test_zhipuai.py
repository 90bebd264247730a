"""zhipuai_chat and zhipuai_embedding through the real ``zhipuai`` SDK against the emulator.

Nothing in the SDK is mocked: the tests pin what goes over the wire and what the wrappers make
of the replies, including the SDK's own quirks (null fields, temperature clamping).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentscope_legacy import errors
from agentscope_legacy.message import Msg
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, WEATHER, load, sent
from tests.emulators import Fault, embedding_vector
from tests.emulators import zhipuai as emulator

zhipuai_server = emulator.zhipuai_server

CALL_A = {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}


def chat_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "zhipuai_chat", **overrides)


EMBEDDING = {"config_name": "emb", "model_type": "zhipuai_embedding", "model_name": "embedding-3"}


def embedding_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return chat_config(server, **{**EMBEDDING, **overrides})


@kit.parity_cases
def test_stream_and_non_stream_agree(zhipuai_server, script):
    zhipuai_server.set_reply(**script)
    kit.check_parity(load(chat_config(zhipuai_server)), script, request_id="2025")


# -- request building -------------------------------------------------------------------------
def test_request_shape_and_sdk_quirks(zhipuai_server):
    model = load(chat_config(zhipuai_server, generate_args={"max_tokens": 50, "top_p": 0.5}))
    model(MESSAGES, temperature=0, enable_search=True, extra_body={"foo": "bar"})
    assert sent(zhipuai_server) == {
        "model": "glm-4.5",
        "messages": MESSAGES,
        "max_tokens": 50,
        "top_p": 0.5,
        # The SDK rewrites temperature 0 and always sends these two fields, null when unset.
        "temperature": 0.01,
        "do_sample": False,
        "response_format": None,
        "thinking": None,
        # Fields create() does not name go top-level through extra_body.
        "enable_search": True,
        "foo": "bar",
    }
    model(MESSAGES, temperature=1.5, top_p=1)
    assert (sent(zhipuai_server)["temperature"], sent(zhipuai_server)["top_p"]) == (0.99, 0.99)


def test_thinking_from_config_and_per_call(zhipuai_server):
    model = load(chat_config(zhipuai_server, thinking={"type": "enabled"}))
    model(MESSAGES)
    assert sent(zhipuai_server)["thinking"] == {"type": "enabled"}
    model(MESSAGES, thinking={"type": "disabled"}, stream=True).text  # noqa: B018
    assert sent(zhipuai_server)["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [("auto", "auto"), ("get_weather", {"type": "function", "function": {"name": "get_weather"}})],
)
def test_tools_and_tool_choice_on_the_wire(zhipuai_server, tool_choice, expected):
    wrapped = {"type": "function", "function": {**WEATHER, "name": "get_time"}}
    load(chat_config(zhipuai_server))(MESSAGES, tools=[WEATHER, wrapped], tool_choice=tool_choice)
    body = sent(zhipuai_server)
    assert body["tools"] == [{"type": "function", "function": WEATHER}, wrapped]
    assert body["tool_choice"] == expected


def test_callers_messages_are_not_modified(zhipuai_server):
    data_url = "data:image/png;base64,iVBORw0KGgo="
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": data_url}},
            ],
        }
    ]
    before = copy.deepcopy(messages)
    load(chat_config(zhipuai_server, model_name="glm-4v-plus"))(messages)
    assert messages == before
    # The SDK strips the data-URL prefix on the wire, as the Zhipu API expects.
    assert sent(zhipuai_server)["messages"][0]["content"][1]["image_url"]["url"] == "iVBORw0KGgo="


# -- format() ---------------------------------------------------------------------------------
def test_format_common_modes(zhipuai_server):
    model = load(chat_config(zhipuai_server))
    system = Msg("system", "You are helpful.", role="system")
    history = [
        Msg("alice", "hi", role="user", url="https://x.test/cat.png"),
        Msg("bob", "hello", role="assistant"),
    ]
    merged = model.format(system, history)
    assert merged == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "## Conversation History\nalice: hi\nbob: hello"},
    ]
    assert model.format(system, history, multi_agent_mode=False) == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hi"},  # text only: the image URL is not sent
        {"role": "assistant", "content": "hello"},
    ]
    assert model(merged).text == "Hello!"
    assert sent(zhipuai_server)["messages"] == merged


# -- errors and retries -----------------------------------------------------------------------
def test_401_is_not_retried_and_hides_the_key(zhipuai_server):
    err = kit.check_echoed_key(
        zhipuai_server, chat_config(zhipuai_server), "令牌已过期或验证不正确 "
    )
    assert (err.status, err.provider) == (401, "zhipuai")
    assert "(code 1000)" in str(err)


@kit.transient_faults("429-retry-after", "500", "503")
def test_transient_failures_are_retried(
    zhipuai_server, retry_waits, fault, requests, retry_after, stream
):
    model = load(chat_config(zhipuai_server))
    kit.check_retried(zhipuai_server, model, retry_waits, fault, requests, retry_after, stream)


@pytest.mark.parametrize(
    ("fault", "error", "requests"),
    [
        (Fault(status=429, headers={"Retry-After": "0"}, times=3), errors.RateLimitError, 3),
        (Fault(status=500, times=3), errors.ServerError, 3),
        (Fault(status=400, message="参数有误"), errors.BadRequestError, 1),
        (Fault(status=404, message="模型不存在"), errors.BadRequestError, 1),
    ],
    ids=["429", "500", "400", "404"],
)
def test_failures_raise_typed_errors(zhipuai_server, fault, error, requests):
    err = kit.check_failure(
        zhipuai_server, load(chat_config(zhipuai_server)), fault, error, requests
    )
    if fault.message:
        assert fault.message in str(err)


def test_sdk_retries_are_off(zhipuai_server):
    zhipuai_server.add_fault(Fault(status=500, times=5))
    with pytest.raises(errors.ServerError):
        load(chat_config(zhipuai_server, max_retries=0))(MESSAGES)
    assert len(zhipuai_server.requests) == 1


# Events: one per text chunk, so 2 let "ab" and "cd" through.
@kit.mid_stream_faults(2, {"code": "1301", "message": "内容不安全"})
def test_mid_stream_failure_keeps_partial_text(zhipuai_server, fault, error):
    model = load(chat_config(zhipuai_server))
    err, _, _ = kit.check_partial(zhipuai_server, model, fault, error)
    assert err.config_name == "glm" and err.provider == "zhipuai"
    if fault.stream_error:
        assert "内容不安全 (code 1301)" in str(err)
        assert not isinstance(err, errors.ProviderConnectionError)


# -- keys and clients -------------------------------------------------------------------------
def test_two_configs_with_their_own_keys_and_servers(zhipuai_server):
    with emulator.ZhipuAIEmulator() as other:
        kit.check_two_configs(chat_config, zhipuai_server, other, "glm-4-flash")


@pytest.mark.parametrize("model_type", ["zhipuai_chat", "zhipuai_embedding"])
def test_missing_key_is_a_config_error(monkeypatch, model_type):
    kit.check_missing_key(monkeypatch, model_type, "ZHIPUAI_API_KEY", model_name="glm")


def test_key_from_the_environment(zhipuai_server, monkeypatch):
    config = chat_config(zhipuai_server)
    kit.check_key_from_env(
        zhipuai_server, monkeypatch, "ZHIPUAI_API_KEY", "env-id.env-secret", config
    )


# -- embeddings -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "texts", ["hello world", ["first text", "second one here", "third"]], ids=["str", "list"]
)
def test_embeddings(zhipuai_server, texts):
    response = load(embedding_config(zhipuai_server))(texts)
    inputs = [texts] if isinstance(texts, str) else texts
    assert response.embedding == [pytest.approx(embedding_vector(t)) for t in inputs]
    assert response.usage.prompt_tokens == sum(len(t.split()) for t in inputs)
    assert sent(zhipuai_server) == {"input": texts, "model": "embedding-3"}


def test_embedding_kwargs_are_forwarded(zhipuai_server):
    model = load(embedding_config(zhipuai_server, generate_args={"dimensions": 4}))
    response = model("abc", user="u-1", custom_flag=True)
    assert sent(zhipuai_server) == {
        "input": "abc",
        "model": "embedding-3",
        "dimensions": 4,
        "user": "u-1",
        "custom_flag": True,
    }
    assert response.embedding == [pytest.approx(embedding_vector("abc", 4))]


def test_embedding_errors_are_typed(zhipuai_server):
    zhipuai_server.add_fault(Fault(status=429, headers={"Retry-After": "0"}))
    assert len(load(embedding_config(zhipuai_server))("x").embedding) == 1
    assert len(zhipuai_server.requests) == 2


def test_calls_are_recorded_without_the_key(zhipuai_server, tmp_path):
    records = kit.recorded_calls(zhipuai_server, chat_config(zhipuai_server), tmp_path, CALL_A)
    assert records[0]["response"]["choices"][0]["message"]["reasoning_content"] == "hmm"
