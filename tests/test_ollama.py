"""ollama_chat, ollama_generate and ollama_embedding through the real ``ollama`` SDK.

Every test talks to the loopback Ollama emulator (NDJSON streams, ``{"error": ...}`` bodies);
nothing in the SDK is mocked.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest

pytest.importorskip("ollama")

from agentscope_legacy import errors  # noqa: E402
from agentscope_legacy.message import Msg  # noqa: E402
from agentscope_legacy.models import load_model_by_config_name, read_model_configs  # noqa: E402
from tests import chat_kit as kit  # noqa: E402
from tests.chat_kit import MESSAGES, sent  # noqa: E402
from tests.emulators import TINY_PNG, Fault, embedding_vector  # noqa: E402
from tests.emulators import ollama as ollama_emulator  # noqa: E402

ollama_server = ollama_emulator.ollama_server

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "the city"}},
        "required": ["city"],
    },
}
PNG_B64 = base64.b64encode(TINY_PNG).decode()


@pytest.fixture(autouse=True)
def _no_ollama_env(monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "ollama_chat", **overrides)


def load(data: dict[str, Any]) -> Any:
    return kit.load(data, clear=True)


# -- chat: stream / non-stream parity -----------------------------------------------------------
@kit.parity_cases
def test_chat_stream_and_non_stream_agree(ollama_server, script):
    ollama_server.set_reply(**script)
    plain, streamed = kit.check_parity(load(config(ollama_server)), script, ids=False)
    assert [r.json["stream"] for r in ollama_server.requests] == [False, True]
    # Ollama sends no ids: invented ones are stable (same in both modes) and distinct.
    ids = [c["id"] for c in plain.tool_calls or []]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"call_[0-9a-f]{12}", i) for i in ids)


def test_reasoning_stays_out_of_the_answer_stream(ollama_server):
    ollama_server.set_reply(chunks=["4"], reasoning="two plus two")
    response = load(config(ollama_server, think=True))(MESSAGES, stream=True)
    assert list(response.stream) == [(True, "4")]
    assert response.reasoning == "two plus two"
    assert sent(ollama_server)["think"] is True


# -- chat: request building ---------------------------------------------------------------------
def test_options_merge_and_kwargs_reach_the_server(ollama_server):
    model = load(
        config(
            ollama_server,
            options={"temperature": 0.1, "num_ctx": 2048},
            generate_args={"seed": 7},
            think="high",
        )
    )
    model(MESSAGES, options={"temperature": 0.9}, top_p=0.5, format="json", keep_alive="1m")
    body = sent(ollama_server)
    assert body["options"] == {"temperature": 0.9, "num_ctx": 2048, "seed": 7, "top_p": 0.5}
    assert (body["format"], body["keep_alive"], body["think"]) == ("json", "1m", "high")
    assert body["model"] == "llama3.2" and body["messages"] == MESSAGES

    model(MESSAGES, think=False)
    body = sent(ollama_server)
    assert body["keep_alive"] == "5m" and body["think"] is False
    assert body["options"] == {"temperature": 0.1, "num_ctx": 2048, "seed": 7}
    assert model.options == {"temperature": 0.1, "num_ctx": 2048}


def test_no_options_in_config_still_merges_call_options(ollama_server):
    model = load(config(ollama_server, options=None, keep_alive=None))
    model(MESSAGES, options={"num_predict": 3})
    body = sent(ollama_server)
    assert body["options"] == {"num_predict": 3}
    assert "keep_alive" not in body and "think" not in body


def test_unknown_call_argument_is_a_clear_error(ollama_server):
    model = load(config(ollama_server))
    with pytest.raises(errors.BadRequestError, match="'frequency'") as info:
        model(MESSAGES, frequency="high")
    assert info.value.provider == "ollama" and info.value.config_name == "llama"
    assert ollama_server.requests == []


@pytest.mark.parametrize("tool_choice", [None, "auto"])
def test_tools_are_sent_as_function_schemas(ollama_server, tool_choice):
    wrapped = {"type": "function", "function": {**WEATHER, "name": "get_time"}}
    load(config(ollama_server))(MESSAGES, tools=[WEATHER, wrapped], tool_choice=tool_choice)
    assert sent(ollama_server)["tools"] == [{"type": "function", "function": WEATHER}, wrapped]


def test_tool_choice_none_drops_the_tools(ollama_server):
    load(config(ollama_server))(MESSAGES, tools=[WEATHER], tool_choice="none")
    assert sent(ollama_server)["tools"] == []  # the SDK always sends the key


@pytest.mark.parametrize("tool_choice", ["required", "get_weather"])
def test_forcing_a_tool_is_refused_before_any_request(ollama_server, tool_choice):
    model = load(config(ollama_server))
    with pytest.raises(ValueError, match="cannot force a tool call"):
        model(MESSAGES, tools=[WEATHER], tool_choice=tool_choice)
    assert ollama_server.requests == []


def test_openai_shaped_tool_history_is_accepted(ollama_server):
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [kit.openai_call("call_1", "get_weather", '{"city": "Paris"}')],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    load(config(ollama_server))(history)
    messages = sent(ollama_server)["messages"]
    assert messages[1]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert messages[2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}


# -- chat: format() -----------------------------------------------------------------------------
def test_format_merges_the_conversation_with_images(ollama_server, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(TINY_PNG)
    model = load(config(ollama_server))
    system = Msg("system", "You are helpful.", role="system")
    history = [
        Msg("alice", "What is this?", role="user", url=str(image)),
        Msg("bob", "A cat.", role="assistant", url="https://example.com/cat.png"),
        Msg("carol", [{"type": "image", "source": {"type": "base64", "data": PNG_B64}}], "user"),
    ]
    messages = model.format(system, history)
    assert messages == [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": "## Conversation History\nalice: What is this?\nbob: A cat.",
            "images": [str(image), PNG_B64],  # the web URL is skipped: Ollama needs the bytes
        },
    ]
    model(messages)
    # The SDK reads the file and sends base64, as the server requires.
    assert sent(ollama_server)["messages"][1]["images"] == [PNG_B64, PNG_B64]


def test_format_one_message_per_msg(ollama_server, tmp_path):
    image = tmp_path / "dog.jpg"
    image.write_bytes(TINY_PNG)
    model = load(config(ollama_server))
    messages = model.format(
        Msg("system", "Be brief.", role="system"),
        Msg("alice", "hi", role="user", url=f"file://{image}"),
        Msg("bob", "hello", role="assistant"),
        multi_agent_mode=False,
    )
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi", "images": [str(image)]},
        {"role": "assistant", "content": "hello"},
    ]
    model(messages)
    assert sent(ollama_server)["messages"][1]["images"] == [PNG_B64]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
@pytest.mark.parametrize(
    ("fault", "requests"),
    [
        (Fault(status=429, times=2), 3),
        (Fault(status=500, times=1), 2),
        (Fault(status=503, message="model is loading", times=1), 2),
    ],
    ids=["429", "500", "503"],
)
def test_transient_failures_are_retried(ollama_server, fault, requests, stream):
    ollama_server.set_reply(chunks=["all ", "good"])
    ollama_server.add_fault(fault)
    response = load(config(ollama_server))(MESSAGES, stream=stream)
    assert response.text == "all good"
    assert len(ollama_server.requests) == requests


@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
@pytest.mark.parametrize(
    ("fault", "error", "requests"),
    [
        (Fault(status=429, times=5), errors.RateLimitError, 3),
        (Fault(status=500, message="internal boom", times=5), errors.ServerError, 3),
        (Fault(status=404, message="model 'llama3.2' not found"), errors.BadRequestError, 1),
        (Fault(status=400, message="invalid options"), errors.BadRequestError, 1),
    ],
    ids=["429-persists", "500-persists", "404-model", "400"],
)
def test_failures_raise_typed_errors(ollama_server, fault, error, requests, stream):
    model = load(config(ollama_server))
    err = kit.check_failure(ollama_server, model, fault, error, requests, stream=stream)
    assert (err.provider, err.status, err.config_name) == ("ollama", fault.status, "llama")
    assert fault.message is None or fault.message in str(err)


def test_unauthorized_is_not_retried_and_hides_the_key(ollama_server):
    key = f"ollama-{uuid.uuid4().hex}"
    err = kit.check_echoed_key(ollama_server, config(ollama_server, api_key=key), "invalid key ")
    assert key not in repr(load_model_by_config_name("llama"))
    assert "invalid key ***" in str(err)


# Parts: "ab", "cd", "ef", "gh", then done. drop_after=2 lets "ab" and "cd" through.
@kit.mid_stream_faults(2, {"message": "model runner crashed"})
def test_mid_stream_failure_keeps_partial_text(ollama_server, fault, error):
    err, _, response = kit.check_partial(ollama_server, load(config(ollama_server)), fault, error)
    if fault.stream_error:
        assert "model runner crashed" in str(err)
        assert not isinstance(err, errors.ProviderConnectionError) and err.status is None
    with pytest.raises(error):
        _ = response.text


def test_default_timeout_is_finite(ollama_server):
    import httpx

    model = load(config(ollama_server))
    assert model.client._client.timeout == httpx.Timeout(300.0)
    model = load(config(ollama_server, timeout={"connect": 2, "read": 30}))
    assert model.client._client.timeout == httpx.Timeout(30, connect=2)


# -- hosts and keys -----------------------------------------------------------------------------
def test_two_hosts_and_keys_side_by_side(ollama_server):
    with ollama_emulator.OllamaEmulator() as other:
        first = config(ollama_server, config_name="one", api_key="key-one-123456")
        second = config(
            other, config_name="two", model_name="qwen3", client_args={"headers": {"x-team": "b"}}
        )
        read_model_configs([first, second])
        one, two = load_model_by_config_name("one"), load_model_by_config_name("two")
        for model in (one, two, two, one):
            model(MESSAGES)
        assert [r.headers["authorization"] for r in ollama_server.requests] == [
            "Bearer key-one-123456"
        ] * 2
        assert [r.json["model"] for r in other.requests] == ["qwen3", "qwen3"]
        assert all("authorization" not in r.headers for r in other.requests)
        assert all(r.headers["x-team"] == "b" for r in other.requests)


def test_host_and_key_from_the_environment(ollama_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.base_url)
    monkeypatch.setenv("OLLAMA_API_KEY", "env-key-abcdef")
    model = load({"config_name": "env", "model_type": "ollama_chat", "model_name": "llama3.2"})
    assert model(MESSAGES).text == "Hello!"
    assert ollama_server.requests[0].headers["authorization"] == "Bearer env-key-abcdef"


def test_unknown_config_field_is_rejected(ollama_server):
    with pytest.raises(errors.ConfigError, match="optionz"):
        read_model_configs([config(ollama_server, optionz={"temperature": 0})])


# -- generate -----------------------------------------------------------------------------------
def gen_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return config(server, config_name="gen", model_type="ollama_generate", **overrides)


@pytest.mark.parametrize("reasoning", [None, "hmm, "], ids=["text", "thinking"])
def test_generate_stream_and_non_stream_agree(ollama_server, reasoning):
    ollama_server.set_reply(chunks=["Once", " upon"], reasoning=reasoning, prompt_tokens=3)
    model = load(gen_config(ollama_server))
    plain = model("Tell a story")
    streamed = model("Tell a story", stream=True)
    assert list(streamed.stream) == [(False, "Once"), (True, "Once upon")]
    for response in (plain, streamed):
        assert response.text == "Once upon"
        assert response.reasoning == reasoning
        assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 2)
        assert response.finish_reason == "stop"
    assert sent(ollama_server)["prompt"] == "Tell a story"


def test_generate_forwards_kwargs(ollama_server):
    model = load(gen_config(ollama_server, options={"temperature": 0}, think=True))
    model("2+2?", system="Answer with a number.", format="json", raw=True, num_predict=5)
    body = sent(ollama_server)
    assert (body["system"], body["format"], body["raw"], body["think"]) == (
        "Answer with a number.",
        "json",
        True,
        True,
    )
    assert body["options"] == {"temperature": 0, "num_predict": 5}
    assert body["keep_alive"] == "5m" and body["stream"] is False


def test_generate_format_is_one_prompt(ollama_server):
    model = load(gen_config(ollama_server))
    prompt = model.format(Msg("system", "Be kind.", "system"), Msg("alice", "hi", "user"))
    assert prompt == "Be kind.\n\n## Conversation History\nalice: hi"


# -- embeddings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "texts", ["hello world", ["first text", "second one"]], ids=["str", "list"]
)
def test_embeddings(ollama_server, texts):
    data = config(ollama_server, config_name="emb", model_type="ollama_embedding")
    data.update(model_name="nomic-embed-text", options={"num_ctx": 512})
    response = load(data)(texts, dimensions=4)
    inputs = [texts] if isinstance(texts, str) else texts
    assert response.embedding == [pytest.approx(embedding_vector(t, 4)) for t in inputs]
    assert response.usage.prompt_tokens == sum(len(t.split()) for t in inputs)
    body = sent(ollama_server)
    assert ollama_server.requests[-1].path == "/api/embed"
    assert (body["input"], body["dimensions"], body["options"]) == (texts, 4, {"num_ctx": 512})
    assert body["keep_alive"] == "5m"
