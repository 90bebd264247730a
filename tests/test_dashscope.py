"""dashscope_chat, dashscope_multimodal, dashscope_text_embedding and dashscope_image_synthesis
through the real ``dashscope`` SDK (legacy API) against the loopback DashScope emulator.

Nothing in the SDK is mocked: these tests pin what goes over the wire and what the wrappers
make of the SDK's answers (which report HTTP errors as ``status_code`` instead of raising).
"""

from __future__ import annotations

import base64
import gc
import json
from pathlib import Path
from typing import Any

import pytest
import requests

import agentscope_legacy
from agentscope_legacy import errors
from agentscope_legacy.logging import setup_logger
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.dashscope import (
    DashScopeChatWrapper,
    DashScopeImageSynthesisWrapper,
    DashScopeMultiModalWrapper,
    DashScopeTextEmbeddingWrapper,
    DeltaParser,
    error_from_response,
    vectors_from_output,
)
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, WEATHER, expected_stream, load, sent
from tests.emulators import TINY_PNG, Fault, dashscope_fixtures, embedding_vector
from tests.emulators.dashscope import DashScopeEmulator

dashscope_server = dashscope_fixtures.dashscope_server

WRAPPERS = (
    DashScopeChatWrapper,
    DashScopeMultiModalWrapper,
    DashScopeTextEmbeddingWrapper,
    DashScopeImageSynthesisWrapper,
)


@pytest.fixture(autouse=True)
def _reset_logger():
    yield
    setup_logger(None, "INFO", save_log=False)


MM_MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
TIME = {**WEATHER, "name": "get_time"}
TEXT_PATH = "/api/v1/services/aigc/text-generation/generation"

# The two chat model types: (model_type, model_name, messages, request path suffix).
CHAT_TYPES = {
    "chat": ("dashscope_chat", "qwen-plus", MESSAGES, "text-generation/generation"),
    "multimodal": (
        "dashscope_multimodal",
        "qwen-vl-max",
        MM_MESSAGES,
        "multimodal-generation/generation",
    ),
}


def config_for(server: Any, kind: str = "chat", **overrides: Any) -> dict[str, Any]:
    model_type, model_name = {
        **{k: v[:2] for k, v in CHAT_TYPES.items()},
        "embedding": ("dashscope_text_embedding", "text-embedding-v4"),
        "image": ("dashscope_image_synthesis", "wanx-v1"),
    }[kind]
    fields = {"config_name": kind, "model_type": model_type, "model_name": model_name}
    return kit.chat_config(server, "dashscope_chat", **{**fields, **overrides})


new_key = kit.PROVIDERS["dashscope_chat"].key
check_reply = kit.check_reply


@pytest.mark.parametrize("kind", list(CHAT_TYPES))
@kit.parity_cases
def test_stream_and_non_stream_agree(dashscope_server, kind, script):
    dashscope_server.set_reply(**script)
    _, _, messages, path = CHAT_TYPES[kind]
    model = load(config_for(dashscope_server, kind))
    plain, streamed = kit.check_parity(model, script, messages)
    assert plain.request_id and streamed.request_id
    plain_req, stream_req = dashscope_server.requests
    assert plain_req.path.endswith(path) and stream_req.path.endswith(path)
    assert "x-dashscope-sse" not in plain_req.headers
    assert stream_req.headers["x-dashscope-sse"] == "enable"
    assert plain_req.json["parameters"] == {"result_format": "message"}
    assert stream_req.json["parameters"] == {"result_format": "message", "incremental_output": True}


@pytest.mark.parametrize(
    ("model_name", "sent_incremental", "user_agent"),
    [("qwen-plus", True, "incremental_to_full/1"), ("qwen-omni-turbo", False, None)],
    ids=["sdk-merges", "server-cumulative"],
)
def test_cumulative_streams_become_deltas(
    dashscope_server, model_name, sent_incremental, user_agent
):
    """Explicit ``incremental_output=False``: the SDK merges deltas itself (qwen-plus) or the
    server sends cumulative text (omni models); either way the wrapper yields the same reply."""
    script = kit.PARITY_CASES["text_and_two_tools"] | {"reasoning": ["Hmm, ", "ok."]}
    dashscope_server.set_reply(**script)
    model = load(config_for(dashscope_server, model_name=model_name))
    response = model(MESSAGES, stream=True, incremental_output=False)
    assert list(response.stream) == expected_stream(script["chunks"])
    assert list(response.deltas) == script["chunks"]
    check_reply(response, script)
    request = dashscope_server.requests[-1]
    assert request.json["parameters"]["incremental_output"] is sent_incremental
    if user_agent:
        assert request.headers["user-agent"].endswith(user_agent)


def test_delta_parser_diffs_cumulative_chunks_and_accepts_deltas():
    def chunk(content, finish="null", args=None):
        message = {"role": "assistant", "content": content}
        if args is not None:
            call = {"index": 0, "id": "", "function": {"name": "f", "arguments": args}}
            message["tool_calls"] = [call]
        return {
            "output": {"choices": [{"message": message, "finish_reason": finish}]},
            "usage": {"input_tokens": 3, "output_tokens": len(content)},
            "request_id": "r1",
        }

    parse = DeltaParser(cumulative=True)
    deltas = [parse(chunk(c, args=a)) for c, a in [("Hel", '{"a"'), ("Hello", '{"a":1}')]]
    deltas.append(parse(chunk("!", "stop")))  # not an extension: taken as a delta
    assert [d.text for d in deltas] == ["Hel", "lo", "!"]
    assert [d.finish_reason for d in deltas] == [None, None, "stop"]
    assert [c["arguments"] for d in deltas[:2] for c in d.tool_calls] == ['{"a"', ":1}"]
    # No id from the server: one invented id, stable for every fragment of the call.
    ids = {c["id"] for d in deltas[:2] for c in d.tool_calls}
    assert ids == {"call_r1_0"}
    assert deltas[1].usage == (3, 5)

    parse = DeltaParser(cumulative=False)
    assert [parse(chunk(c)).text for c in ["ab", "abc"]] == ["ab", "abc"]
    # A chunk without usage (the SDK then reports 0/0) must not reset the running totals.
    bare = chunk("d")
    del bare["usage"]
    assert parse(bare).usage is None
    # A chunk without choices carries its usage only.
    usage_only = {"output": {"choices": []}, "usage": {"input_tokens": 3, "output_tokens": 9}}
    delta = parse(usage_only)
    assert (delta.text, delta.tool_calls, delta.usage) == ("", None, (3, 9))


def test_tool_call_arguments_are_assembled_from_fragments(dashscope_server):
    long_args = {"city": "Llanfairpwllgwyngyll", "days": 14, "units": ["celsius", "mm"]}
    dashscope_server.set_reply(
        text="", tool_calls=[{"id": "c9", "name": "forecast", "arguments": long_args}]
    )
    response = load(config_for(dashscope_server))(MESSAGES, stream=True)
    assert list(response.stream) == [(True, "")]
    assert response.tool_calls == [
        {"type": "tool_use", "id": "c9", "name": "forecast", "input": long_args}
    ]


def test_usage_is_recorded_for_streams_once(dashscope_server):
    dashscope_server.set_reply(chunks=["x", "y", "z"], prompt_tokens=17, completion_tokens=3)
    model = load(config_for(dashscope_server))
    response = model(MESSAGES, stream=True)
    assert response.text == "xyz"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (17, 3, 20)
    (row,) = agentscope_legacy.get_runtime().monitor.usage_rows()
    assert (row["calls"], row["prompt_tokens"], row["completion_tokens"]) == (1, 17, 3)


# -- 2. stream from the config and per call ---------------------------------------------------
@pytest.mark.parametrize(
    ("config_stream", "call_stream", "expect_stream"),
    [(True, None, True), (True, False, False), (False, True, True), (False, None, False)],
)
def test_stream_setting_and_per_call_override(
    dashscope_server, config_stream, call_stream, expect_stream
):
    model = load(config_for(dashscope_server, stream=config_stream))
    response = model(MESSAGES, stream=call_stream)
    request = dashscope_server.requests[-1]
    assert (request.headers.get("x-dashscope-sse") == "enable") is expect_stream
    assert ("incremental_output" in request.json["parameters"]) is expect_stream
    assert "stream" not in request.json["parameters"]  # the header is the only signal
    assert (response.stream is not None) is expect_stream
    assert response.text == "Hello!"


# -- 3. request building ----------------------------------------------------------------------
def test_parameters_thinking_fields_and_overrides(dashscope_server):
    config = config_for(
        dashscope_server,
        enable_thinking=True,
        thinking_budget=512,
        generate_args={"temperature": 0.2, "max_tokens": 50, "top_k": 20},
    )
    model = load(config)
    model(MESSAGES, temperature=0.9, seed=7, result_format="text")
    body = sent(dashscope_server)
    assert body["model"] == "qwen-plus"
    assert body["input"] == {"messages": MESSAGES}
    assert body["parameters"] == {
        "temperature": 0.9,  # the call wins over generate_args
        "max_tokens": 50,
        "top_k": 20,
        "seed": 7,
        "enable_thinking": True,
        "thinking_budget": 512,
        "result_format": "message",  # always: the wrapper parses choices
    }
    model(MESSAGES, enable_thinking=False)
    assert sent(dashscope_server)["parameters"]["enable_thinking"] is False
    assert model.generate_args == {"temperature": 0.2, "max_tokens": 50, "top_k": 20}


@pytest.mark.parametrize(
    ("tools", "tool_choice", "expected"),
    [
        ([WEATHER, TIME], "get_time", {"type": "function", "function": {"name": "get_time"}}),
        ([WEATHER, TIME], "auto", "auto"),
        ([WEATHER, TIME], "none", "none"),
        ([WEATHER], "required", {"type": "function", "function": {"name": "get_weather"}}),
        ([WEATHER, TIME], "required", "auto"),  # cannot be forced: logged, sent as auto
    ],
    ids=["name", "auto", "none", "required-one-tool", "required-two-tools"],
)
@pytest.mark.parametrize("kind", list(CHAT_TYPES))
def test_tools_and_tool_choice_on_the_wire(dashscope_server, kind, tools, tool_choice, expected):
    wrapped = [{"type": "function", "function": t} for t in tools]
    _, _, messages, _ = CHAT_TYPES[kind]
    model = load(config_for(dashscope_server, kind))
    model(messages, tools=[tools[0], *wrapped[1:]], tool_choice=tool_choice)
    parameters = sent(dashscope_server)["parameters"]
    assert parameters["tools"] == wrapped
    assert parameters["tool_choice"] == expected


# -- 4. format() ------------------------------------------------------------------------------
def test_format_multi_agent_and_chat_shapes(dashscope_server, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(TINY_PNG)
    system = Msg("system", "You are helpful.", role="system")
    alice = Msg("alice", "What is this?", role="user", url=[str(image), "https://x.org/a.mp3"])
    bob = Msg("bob", [{"type": "text", "text": "A cat."}], role="assistant")
    noise = Msg("carol", "see", role="user", url="https://x.org/page.html")
    model = load(config_for(dashscope_server, "multimodal"))

    assert model.format(system, [alice, bob], noise) == [
        {"role": "system", "content": [{"text": "You are helpful."}]},
        {
            "role": "user",
            "content": [
                {"image": f"file://{image}"},
                {"audio": "https://x.org/a.mp3"},
                {"text": "## Conversation History\nalice: What is this?\nbob: A cat.\ncarol: see"},
            ],
        },
    ]
    assert model.format(system, alice, bob, multi_agent_mode=False) == [
        {"role": "system", "content": [{"text": "You are helpful."}]},
        {
            "role": "user",
            "content": [
                {"text": "What is this?"},
                {"image": f"file://{image}"},
                {"audio": "https://x.org/a.mp3"},
            ],
        },
        {"role": "assistant", "content": [{"text": "A cat."}]},
    ]
    with pytest.raises(ValueError):
        model.format()


def test_format_tool_use_and_tool_result(dashscope_server):
    call = Msg(
        "assistant",
        [{"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}}],
        role="assistant",
    )
    result = Msg(
        "system",
        [{"type": "tool_result", "id": "c1", "name": "get_weather", "output": "sunny"}],
        role="system",
    )
    model = load(config_for(dashscope_server))
    messages = model.format(call, result, multi_agent_mode=False)
    assert messages == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny", "name": "get_weather"},
    ]
    model(messages)
    assert sent(dashscope_server)["input"]["messages"] == messages


@pytest.mark.parametrize("kind", list(CHAT_TYPES))
def test_local_images_are_inlined_never_uploaded(dashscope_server, tmp_path, kind):
    image = tmp_path / "cat.png"
    image.write_bytes(TINY_PNG)
    model = load(config_for(dashscope_server, kind))
    messages = model.format(Msg("alice", "What is this?", role="user", url=str(image)))
    model(messages, stream=True).text  # noqa: B018
    data_url = "data:image/png;base64," + base64.b64encode(TINY_PNG).decode()
    (request,) = dashscope_server.requests  # nothing else: no upload-policy request
    assert request.json["input"]["messages"][0]["content"][0] == {"image": data_url}
    assert "x-dashscope-ossresourceresolve" not in request.headers
    assert messages[0]["content"][0] == {"image": f"file://{image}"}  # the caller's list intact


def test_local_file_the_sdk_would_upload_is_refused(dashscope_server, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("secret")
    monkeypatch.chdir(tmp_path)
    model = load(config_for(dashscope_server, "multimodal"))
    with pytest.raises(ValueError, match="OSS"):
        model([{"role": "user", "content": [{"text": "notes.txt"}]}])
    with pytest.raises(ValueError, match="not found"):
        model([{"role": "user", "content": [{"image": "file:///nowhere/x.png"}]}])
    assert dashscope_server.requests == []


# -- 5. retries and typed errors --------------------------------------------------------------
@kit.transient_faults("429-retry-after", "500", "503-twice", arg="requests_made")
def test_transient_failures_are_retried(
    dashscope_server, retry_waits, fault, requests_made, retry_after, stream
):
    model = load(config_for(dashscope_server))
    kit.check_retried(
        dashscope_server, model, retry_waits, fault, requests_made, retry_after, stream
    )


@kit.typed_failures(arg="requests_made")
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
def test_failures_raise_typed_errors(
    dashscope_server, retry_waits, fault, error, requests_made, stream
):
    config = config_for(dashscope_server)
    model = load(config)
    err = kit.check_failure(
        dashscope_server, model, fault, error, requests_made, retry_waits, stream
    )
    assert err.request_id and err.request_id.startswith("req-")
    assert (err.provider, err.model, err.config_name) == ("dashscope", "qwen-plus", "chat")
    assert f"status={fault.status}" in str(err)
    assert config["api_key"] not in str(err) + repr(err)


def test_auth_error_message_and_key_scrubbed(dashscope_server):
    err = kit.check_echoed_key(
        dashscope_server, config_for(dashscope_server), "Invalid API-key provided: "
    )
    assert "InvalidApiKey: Invalid API-key provided: ***" in str(err)


@pytest.mark.parametrize(
    "fault", [Fault(malformed=True), Fault(empty_body=True)], ids=["truncated-json", "empty"]
)
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
def test_malformed_body_raises_response_format_error(dashscope_server, fault, stream):
    dashscope_server.add_fault(fault)
    with pytest.raises(errors.ResponseFormatError) as info:
        load(config_for(dashscope_server))(MESSAGES, stream=stream)
    assert info.value.config_name == "chat"
    assert len(dashscope_server.requests) == 1


def test_malformed_line_in_a_stream_is_a_response_format_error():
    rsp = {
        "status_code": 400,
        "code": "Unknown",
        "message": "{not json",
        "request_id": "r7",
        "headers": {"Content-Type": "text/event-stream;charset=UTF-8"},
    }
    err = error_from_response(rsp)
    assert isinstance(err, errors.ResponseFormatError) and err.request_id == "r7"
    rsp["headers"] = {"Content-Type": "text/html", "Retry-After": "3"}
    rsp["status_code"] = 502
    err = error_from_response(rsp)
    assert isinstance(err, errors.ServerError) and err.retry_after == 3.0


BAD_CALL = {"role": "assistant", "content": "", "tool_calls": ["not-an-object"]}


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "r-empty"},
        {"output": {"choices": []}, "request_id": "r-none"},
        {"output": {"choices": [{"message": BAD_CALL, "finish_reason": "stop"}]}},
    ],
    ids=["no-output", "no-choices", "bad-tool-call"],
)
def test_unexpected_shapes_are_response_format_errors(dashscope_server, body):
    dashscope_server.add_fault(Fault(status=200, body=body))
    with pytest.raises(errors.ResponseFormatError):
        load(config_for(dashscope_server))(MESSAGES)


# -- 6. failures in the middle of a stream ----------------------------------------------------
# One event per chunk: drop_after=2 lets "ab" and "cd" through.
@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault(drop_after=2), errors.ProviderConnectionError, None),
        (
            Fault(drop_after=2, stream_error={"code": "DataInspectionFailed", "message": "bad"}),
            errors.BadRequestError,
            "DataInspectionFailed: bad",
        ),
        (
            Fault(drop_after=2, stream_error={"message": "overloaded", "type": "server_error"}),
            errors.ServerError,
            "InternalError: overloaded",
        ),
    ],
    ids=["dropped", "error-event", "error-event-internal"],
)
@pytest.mark.parametrize("kind", list(CHAT_TYPES))
def test_mid_stream_failure_keeps_partial_text(dashscope_server, kind, fault, error, message):
    _, _, messages, _ = CHAT_TYPES[kind]
    model = load(config_for(dashscope_server, kind))
    err, seen, response = kit.check_partial(dashscope_server, model, fault, error, messages)
    assert isinstance(err, errors.ProviderError)
    assert seen
    assert err.config_name == kind
    if message:
        assert message in str(err)
        assert err.status == 400  # what the SDK reports for any in-stream error
    kit.check_sticky(response, err)


@kit.timeouts
def test_timeout_raises_provider_timeout_error(dashscope_server, timeout):
    model = load(config_for(dashscope_server, timeout=timeout, max_retries=0))
    kit.check_timeout(dashscope_server, model)  # an ignored timeout would be a 30 s wait


def test_break_out_of_stream_is_cancelled_and_releases_the_call(dashscope_server):
    model = load(config_for(dashscope_server))
    response = kit.break_after_first(dashscope_server, model)
    assert response.is_stream_exhausted
    del response
    gc.collect()
    assert model(MESSAGES).text == "abcdefgh"


# -- 7. keys, base URLs, connections ----------------------------------------------------------
def test_two_configs_with_two_keys_and_two_servers(dashscope_server):
    with DashScopeEmulator() as other:
        other.set_reply(text="from the other server")
        first = config_for(dashscope_server, config_name="one")
        second = config_for(other, config_name="two", model_name="qwen-max")
        read_model_configs([first, second])
        one, two = load_model_by_config_name("one"), load_model_by_config_name("two")
        answers = [m(MESSAGES, stream=s).text for m, s in ((one, False), (two, True), (one, True))]
        assert answers == ["Hello!", "from the other server", "Hello!"]
        assert [r.headers["authorization"] for r in dashscope_server.requests] == [
            f"Bearer {first['api_key']}"
        ] * 2
        (request,) = other.requests
        assert request.headers["authorization"] == f"Bearer {second['api_key']}"
        assert request.json["model"] == "qwen-max"
    import dashscope

    assert dashscope.api_key is None  # nothing process-global was set
    assert "127.0.0.1" not in dashscope.base_http_api_url


def test_missing_api_key_is_a_config_error(monkeypatch):
    message = kit.check_missing_key(monkeypatch, "dashscope_chat", "DASHSCOPE_API_KEY")
    assert "api_key" in message


def test_api_key_from_the_environment(dashscope_server, monkeypatch):
    key, config = new_key(), config_for(dashscope_server, api_key=None)
    model = kit.check_key_from_env(dashscope_server, monkeypatch, "DASHSCOPE_API_KEY", key, config)
    assert model.model_name == "qwen-plus"
    assert key not in repr(model)


@pytest.mark.parametrize(
    "bad", [{"thinking_budget": 0}, {"enable_thinking": "yes"}, {"enable_thinkng": True}]
)
def test_config_fields_are_validated(dashscope_server, bad):
    with pytest.raises(errors.ConfigError):
        read_model_configs([config_for(dashscope_server, **bad)])


def test_example_configs_validate(monkeypatch):
    from agentscope_legacy.config import read_configs
    from agentscope_legacy.models.manager import ModelManager

    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-example")
    manager = ModelManager()
    for cls in WRAPPERS:
        manager.register_model_wrapper_class(cls, exist_ok=True)
    path = Path(__file__).parents[1] / "configs" / "dashscope.yaml"
    configs = read_configs(str(path))
    assert manager.validate(configs) == []
    assert {c.data["model_type"] for c in configs} == {cls.model_type for cls in WRAPPERS}


def test_one_connection_for_sequential_calls(dashscope_server):
    model = load(config_for(dashscope_server))
    for stream in (False, True, False, True, False):
        assert model(MESSAGES, stream=stream).text == "Hello!"
    assert dashscope_server.connections == 1


def test_invocation_records_hold_no_key(dashscope_server, tmp_path):
    with kit.recorded_run(config_for(dashscope_server), tmp_path) as (model, run_dir):
        model(MESSAGES)
        model(MESSAGES, stream=True).text  # noqa: B018
        records = kit.invocations(run_dir)
        assert [r["arguments"]["messages"] for r in records] == [MESSAGES, MESSAGES]
        assert all("api_key" not in r["arguments"] for r in records)


# -- 8. embeddings ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "texts", ["hello world", ["first text", "second one here", "third"]], ids=["str", "list"]
)
def test_embeddings(dashscope_server, texts):
    model = load(config_for(dashscope_server, "embedding"))
    response = model(texts, dimension=4)
    inputs = [texts] if isinstance(texts, str) else texts
    assert response.embedding == [embedding_vector(t, 4) for t in inputs]
    words = sum(len(t.split()) for t in inputs)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (words, 0)
    assert sent(dashscope_server) == {
        "model": "text-embedding-v4",
        "parameters": {"dimension": 4},
        "input": {"texts": inputs},
    }


def test_embeddings_are_ordered_by_text_index():
    output = {
        "embeddings": [{"text_index": 1, "embedding": [1.0]}, {"text_index": 0, "embedding": [0.0]}]
    }
    assert vectors_from_output(output) == [[0.0], [1.0]]
    with pytest.raises(errors.ResponseFormatError):
        vectors_from_output({"nope": []})


def test_embedding_errors_are_typed(dashscope_server):
    dashscope_server.add_fault(Fault(status=401))
    with pytest.raises(errors.AuthenticationError):
        load(config_for(dashscope_server, "embedding"))("x")


# -- 9. image synthesis -----------------------------------------------------------------------
def test_image_synthesis_submits_a_task_and_polls_it(dashscope_server):
    config = config_for(dashscope_server, "image")
    response = load(config)("a red pixel", n=2, size="1024*1024")
    assert response.image_urls == [
        f"{dashscope_server.base_url}/files/img-{i}.png" for i in range(2)
    ]
    submit, poll = dashscope_server.requests
    assert submit.path == "/api/v1/services/aigc/text2image/image-synthesis"
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.json == {
        "model": "wanx-v1",
        "parameters": {"n": 2, "size": "1024*1024"},
        "input": {"prompt": "a red pixel"},
    }
    assert poll.method == "GET" and poll.path == "/api/v1/tasks/" + response.raw.output.task_id
    assert poll.headers["authorization"] == f"Bearer {config['api_key']}"


@pytest.mark.slow
def test_image_task_still_running_is_polled_again(dashscope_server):
    dashscope_server.set_image_task(pending_polls=1)  # the SDK then sleeps 1 s (fixed)
    response = load(config_for(dashscope_server, "image"))("a red pixel")
    assert len(response.image_urls) == 1
    assert [r.method for r in dashscope_server.requests] == ["POST", "GET", "GET"]


def test_failed_image_task_is_not_resubmitted(dashscope_server):
    dashscope_server.set_image_task(failure={"code": "InvalidParameter", "message": "bad size"})
    with pytest.raises(errors.BadRequestError, match="bad size"):
        load(config_for(dashscope_server, "image"))("a red pixel")
    assert [r.method for r in dashscope_server.requests] == ["POST", "GET"]


def test_poll_failure_is_not_resubmitted(dashscope_server):
    dashscope_server.add_fault(Fault(status=500), path_prefix="/api/v1/tasks/")
    with pytest.raises(errors.ServerError) as info:
        load(config_for(dashscope_server, "image"))("a red pixel")
    assert "task task-" in str(info.value)
    assert [r.method for r in dashscope_server.requests] == ["POST", "GET"]


def test_submission_429_is_retried(dashscope_server):
    dashscope_server.add_fault(Fault(status=429, headers={"Retry-After": "0"}))
    response = load(config_for(dashscope_server, "image"))("a red pixel")
    assert len(response.image_urls) == 1
    assert [r.method for r in dashscope_server.requests] == ["POST", "POST", "GET"]


def test_image_save_local_writes_png_in_run_dir(dashscope_server, tmp_path):
    config = config_for(dashscope_server, "image")
    agentscope_legacy.init(model_configs=[config], save_dir=str(tmp_path))
    run_dir = agentscope_legacy.get_runtime().run_dir
    (path,) = load_model_by_config_name("image")("a red pixel", save_local=True).image_urls
    assert Path(path).parent == run_dir / "images"
    assert Path(path).read_bytes() == TINY_PNG


def test_local_image_inputs_are_refused(dashscope_server, tmp_path):
    image = tmp_path / "ref.png"
    image.write_bytes(TINY_PNG)
    with pytest.raises(ValueError, match="OSS"):
        load(config_for(dashscope_server, "image"))("a red pixel", ref_img=str(image))
    assert dashscope_server.requests == []


# -- 10. the emulator's wire format -----------------------------------------------------------
def test_emulator_speaks_dashscope_sse(dashscope_server):
    dashscope_server.set_reply(chunks=["Hel", "lo"], prompt_tokens=5, completion_tokens=2)
    reply = requests.post(
        dashscope_server.api_base + "/services/aigc/text-generation/generation",
        json={
            "model": "qwen-plus",
            "input": {"messages": MESSAGES},
            "parameters": {"result_format": "message", "incremental_output": True},
        },
        headers={"Authorization": "Bearer sk-x", "X-DashScope-SSE": "enable"},
        timeout=5,
    )
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = reply.text.split("\n\n")
    assert events[-1] == ""
    head, data = events[0].rsplit("\n", 1)
    assert head == "id:1\nevent:result\n:HTTP_STATUS/200"
    first = json.loads(data.removeprefix("data:"))
    assert first["output"]["choices"][0] == {
        "finish_reason": "null",
        "message": {"role": "assistant", "content": "Hel"},
    }
    last = json.loads(events[-2].rsplit("\n", 1)[1].removeprefix("data:"))
    assert last["output"]["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
