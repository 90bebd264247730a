"""gemini_chat and gemini_embedding through the real ``google-genai`` SDK.

Every test talks to the loopback Gemini emulator (``gemini_server``); nothing in the SDK is
mocked, so these tests pin what goes over the wire and what the wrappers make of it.
"""

from __future__ import annotations

import base64
import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

from agentscope_legacy import errors
from agentscope_legacy.logging import setup_logger
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models.gemini import (
    GeminiChatWrapper,
    split_system,
    tool_choice_to_gemini,
    tools_to_gemini,
)
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, expected_stream, load, sent
from tests.emulators import STALL, TINY_PNG, Fault, embedding_vector, gemini_fixtures
from tests.emulators.gemini import GeminiEmulator, google_status

gemini_server = gemini_fixtures.gemini_server

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"anyOf": [{"const": "celsius"}, {"const": "fahrenheit"}]},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
}
CALL_A = {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)
    yield
    setup_logger(None, "INFO", save_log=False)


# -- helpers ----------------------------------------------------------------------------------
def chat_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "gemini_chat", **overrides)


new_key = kit.PROVIDERS["gemini_chat"].key


# -- 1. stream / non-stream parity ------------------------------------------------------------
@kit.parity_cases
def test_stream_and_non_stream_agree(gemini_server, script):
    gemini_server.set_reply(**script)
    model = load(chat_config(gemini_server, include_thoughts=True))
    kit.check_parity(model, script, request_id="resp-emu")  # answer only, never thoughts
    paths = [r.path for r in gemini_server.requests]
    assert paths == [
        "/v1/models/gemini-2.5-flash:generateContent",
        "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    ]
    assert gemini_server.errors == []


def test_thoughts_tokens_count_as_completion(gemini_server):
    # The emulator reports half of the completion tokens as thoughtsTokenCount.
    gemini_server.set_reply(text="ok", reasoning="hmm", prompt_tokens=3, completion_tokens=10)
    response = load(chat_config(gemini_server))(MESSAGES)
    usage = response.raw.usage_metadata
    assert (usage.candidates_token_count, usage.thoughts_token_count) == (5, 5)
    assert response.usage.completion_tokens == 10


def test_calls_without_ids_get_stable_invented_ids(gemini_server):
    calls = [
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
        {"name": "get_time", "arguments": {}},
    ]
    gemini_server.set_reply(text="", tool_calls=calls)
    model = load(chat_config(gemini_server))
    plain = model(MESSAGES)
    streamed = model(MESSAGES, stream=True)
    assert list(streamed.stream) == [(True, "")]
    # Gemini sent no ids at all.
    parts = plain.raw.candidates[0].content.parts
    assert [p.function_call.id for p in parts] == [None, None]
    expected = [
        {"type": "tool_use", "id": "call_0", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_1", "name": "get_time", "input": {}},
    ]
    assert plain.tool_calls == streamed.tool_calls == expected


def test_finish_reasons_are_unified(gemini_server):
    model = load(chat_config(gemini_server))
    for finish in ("length", "content_filter"):  # MAX_TOKENS and SAFETY on the wire
        gemini_server.set_reply(text="cut", finish_reason=finish)
        assert model(MESSAGES).finish_reason == finish
        streamed = model(MESSAGES, stream=True)
        assert streamed.text == "cut" and streamed.finish_reason == finish


def test_blocked_prompt_gives_empty_text_and_content_filter(gemini_server):
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 4},
    }
    gemini_server.add_fault(Fault(status=200, body=blocked))
    response = load(chat_config(gemini_server))(MESSAGES)
    assert (response.text, response.finish_reason, response.tool_calls) == (
        "",
        "content_filter",
        None,
    )
    assert response.usage.prompt_tokens == 4


# -- 2. the stream contract -------------------------------------------------------------------
def test_stream_is_accumulative_and_replays(gemini_server):
    chunks = ["a", "bc", "def", "ghij"]
    gemini_server.set_reply(chunks=chunks, prompt_tokens=12, completion_tokens=4)
    response = load(chat_config(gemini_server))(MESSAGES, stream=True)
    first = list(response.stream)
    assert first == expected_stream(chunks)
    assert list(response.stream) == first
    assert list(response.deltas) == chunks
    assert response.usage.time_to_first_token is not None
    assert len(gemini_server.requests) == 1


def test_one_chunk_reply_yields_exactly_one_final_tuple(gemini_server):
    gemini_server.set_reply(chunks=["Hello there, friend"])
    response = load(chat_config(gemini_server))(MESSAGES, stream=True)
    assert list(response.stream) == [(True, "Hello there, friend")]


def test_stream_setting_and_per_call_override(gemini_server):
    for config_stream in (True, False):
        model = load(
            chat_config(gemini_server, config_name=f"s{config_stream}", stream=config_stream)
        )
        for call_stream in (None, True, False):
            expect_stream = config_stream if call_stream is None else call_stream
            response = model(MESSAGES, stream=call_stream)
            path = gemini_server.requests[-1].path
            assert (":streamGenerateContent?alt=sse" in path) is expect_stream
            assert (response.stream is not None) is expect_stream
            assert response.text == "Hello!"


def test_break_out_of_stream_cancels_and_wrapper_keeps_working(gemini_server):
    model = load(chat_config(gemini_server))
    response = kit.break_after_first(gemini_server, model)
    assert response.text == "abcd"
    del response
    gc.collect()
    assert model(MESSAGES).text == "abcdefgh"
    assert model(MESSAGES, stream=True).text == "abcdefgh"


# -- 3. request building ----------------------------------------------------------------------
def test_generate_args_system_and_contents_on_the_wire(gemini_server):
    generate_args = {"temperature": 0.2, "max_tokens": 50, "top_p": 0.9, "stop": "END"}
    model = load(chat_config(gemini_server, generate_args=generate_args))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "parts": [{"text": "again"}]},
        {"role": "user", "content": [{"type": "text", "text": "and again"}]},
    ]
    model(messages, temperature=0.7, seed=3, topK=20)
    body = sent(gemini_server)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        # Adjacent turns of one role are merged: Gemini expects alternation.
        {"role": "user", "parts": [{"text": "again"}, {"text": "and again"}]},
    ]
    assert body["generationConfig"] == {
        "temperature": 0.7,  # the call wins over generate_args
        "maxOutputTokens": 50,
        "topP": 0.9,
        "topK": 20,
        "seed": 3,
        "stopSequences": ["END"],
    }
    assert "tools" not in body and "toolConfig" not in body
    assert model.generate_args == generate_args


def test_lone_system_prompt_is_sent_as_a_user_turn(gemini_server):
    load(chat_config(gemini_server))([{"role": "system", "content": "Say hi."}])
    body = sent(gemini_server)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hi."}]}]
    assert "systemInstruction" not in body


def test_legacy_generation_config_and_string_parts(gemini_server):
    model = load(chat_config(gemini_server))
    model([{"role": "user", "parts": "hi"}], generation_config={"candidate_count": 1})
    body = sent(gemini_server)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["generationConfig"] == {"candidateCount": 1}


def test_unknown_generate_arg_fails_before_any_request(gemini_server):
    model = load(chat_config(gemini_server))
    with pytest.raises(ValueError, match="max_tokenz"):
        model(MESSAGES, max_tokenz=5)
    assert gemini_server.requests == []


THINKING_CASES = [
    # (config fields, call kwargs, (thinking_budget, include_thoughts) sent or None)
    ({"thinking_budget": 1024, "include_thoughts": True}, {}, (1024, True)),
    ({"thinking_budget": 1024, "include_thoughts": True}, {"thinking_budget": 0}, (0, True)),
    ({}, {"include_thoughts": True}, (None, True)),
    ({}, {"thinking_config": {"thinking_budget": 5}}, (5, None)),
    ({}, {}, None),
]


def test_thinking_config_on_the_wire(gemini_server):
    models = {}
    for config_extra, call_kwargs, expected in THINKING_CASES:
        key = json.dumps(config_extra)
        if key not in models:
            models[key] = load(
                chat_config(gemini_server, config_name=f"t{len(models)}", **config_extra)
            )
        models[key](MESSAGES, **call_kwargs)
        thinking = sent(gemini_server).get("generationConfig", {}).get("thinkingConfig")
        if expected is None:
            assert thinking is None
            continue
        # The SDK sends these inner keys in snake_case; accept camelCase too.
        budget = thinking.get("thinking_budget", thinking.get("thinkingBudget"))
        include = thinking.get("include_thoughts", thinking.get("includeThoughts"))
        assert (budget, include) == expected, (config_extra, call_kwargs)


TOOL_CHOICES = [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ("get_time", {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
    (
        {"type": "function", "function": {"name": "get_weather"}},
        {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
    ),
    (None, None),
]


def test_tools_and_tool_choice_on_the_wire(gemini_server):
    wrapped = {"type": "function", "function": {"name": "get_time", "description": "Now."}}
    model = load(chat_config(gemini_server))
    for tool_choice, expected in TOOL_CHOICES:
        model(MESSAGES, tools=[WEATHER, wrapped, {"google_search": {}}], tool_choice=tool_choice)
        body = sent(gemini_server)
        declarations = [
            # Arbitrary JSON Schema passes through untouched (anyOf, const, ...).
            {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters_json_schema": WEATHER["parameters"],
            },
            {"name": "get_time", "description": "Now."},
        ]
        # The SDK puts native tools before function declarations on the wire.
        assert sorted(body["tools"], key=json.dumps) == sorted(
            [{"functionDeclarations": declarations}, {"googleSearch": {}}], key=json.dumps
        )
        assert body.get("toolConfig") == (
            None if expected is None else {"functionCallingConfig": expected}
        ), tool_choice
    assert len(gemini_server.requests) == len(TOOL_CHOICES)


def test_tool_round_trip_messages(gemini_server):
    gemini_server.set_reply(tool_calls=[CALL_A], text="")
    model = load(chat_config(gemini_server))
    first = model(MESSAGES, tools=[WEATHER])
    call = first.tool_calls[0]
    history = [
        Msg("user", "Weather in Paris?", role="user"),
        Msg("assistant", [call], role="assistant"),
        Msg(
            "system",
            [{"type": "tool_result", "id": call["id"], "name": call["name"], "output": "sunny"}],
            role="system",
        ),
    ]
    gemini_server.set_reply(text="It is sunny.")
    assert model(model.format(history, multi_agent_mode=False)).text == "It is sunny."
    assert sent(gemini_server)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": CALL_A["arguments"]}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}
            ],
        },
    ]


def test_pure_request_helpers():
    assert tool_choice_to_gemini("required") == {"function_calling_config": {"mode": "ANY"}}
    assert tools_to_gemini([{"name": "f"}]) == [{"function_declarations": [{"name": "f"}]}]
    system, contents = split_system(
        [
            {"role": "system", "content": "s1"},
            {"role": "system", "parts": [{"text": "s2"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"x": 1}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c", "name": "f", "content": "42"},
        ]
    )
    assert system == [{"text": "s1"}, {"text": "s2"}]
    assert contents == [
        {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"x": 1}}}]},
        {
            "role": "user",
            "parts": [{"function_response": {"name": "f", "response": {"output": "42"}}}],
        },
    ]
    with pytest.raises(ValueError, match="unsupported role"):
        split_system([{"role": "narrator", "content": "x"}])


# -- 4. format() ------------------------------------------------------------------------------
def test_format_multi_agent_with_images(gemini_server, tmp_path):
    image = kit.png_file(tmp_path)
    model = load(chat_config(gemini_server))
    msgs = [
        Msg("system", "You are helpful.", role="system"),
        Msg("alice", "What is this?", role="user", url=str(image)),
        Msg("bob", "A photo:", role="assistant", url="https://example.com/dog.jpg?size=2"),
        Msg("carol", None, role="user", url=["https://example.com/page.html", "talk.mp3"]),
    ]
    b64 = base64.b64encode(TINY_PNG).decode()
    contents = model.format(*msgs)
    assert contents == [
        {"role": "system", "parts": [{"text": "You are helpful."}]},
        {
            "role": "user",
            "parts": [
                {"inline_data": {"mime_type": "image/png", "data": b64}},
                {
                    "file_data": {
                        "mime_type": "image/jpeg",
                        "file_uri": "https://example.com/dog.jpg?size=2",
                    }
                },
                # A web page is not media; audio (like video and PDF) is sent as a file.
                {"file_data": {"mime_type": "audio/mpeg", "file_uri": "talk.mp3"}},
                {"text": "## Conversation History\nalice: What is this?\nbob: A photo:"},
            ],
        },
    ]
    model(contents)
    body = sent(gemini_server)
    assert body["systemInstruction"] == {"parts": [{"text": "You are helpful."}]}
    (turn,) = body["contents"]
    assert turn["role"] == "user"
    inline = turn["parts"][0]["inlineData"]
    assert inline["mime_type"] == "image/png"
    # The SDK decodes the base64 and re-encodes it URL-safe.
    assert base64.urlsafe_b64decode(inline["data"]) == TINY_PNG
    assert turn["parts"][1]["fileData"]["file_uri"] == "https://example.com/dog.jpg?size=2"
    assert turn["parts"][3]["text"].startswith("## Conversation History\n")


def test_format_chat_mode_roles(gemini_server):
    model = load(chat_config(gemini_server))
    msgs = [
        Msg("system", "Rules.", role="system"),
        Msg("alice", "hi", role="user"),
        Msg("bot", "hello", role="assistant"),
        Msg("system", "Late note.", role="system"),
        Msg("alice", [{"type": "image", "url": "data:image/png;base64,AAAA"}], role="user"),
    ]
    contents = model.format(msgs, multi_agent_mode=False)
    assert contents == [
        {"role": "system", "parts": [{"text": "Rules."}]},
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "Late note."}]},
        {"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": "AAAA"}}]},
    ]
    model(contents)
    body = sent(gemini_server)
    assert body["systemInstruction"] == {"parts": [{"text": "Rules."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][2]["parts"][1]["inlineData"]["data"] == "AAAA"


def test_format_needs_a_message(gemini_server):
    model = load(chat_config(gemini_server))
    with pytest.raises(ValueError):
        model.format()
    with pytest.raises(TypeError):
        model.format("not a msg")


# -- 5. retries and errors --------------------------------------------------------------------
RETRY_INFO_429 = {
    "error": {
        "code": 429,
        "message": "Quota exceeded",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.15s"}],
    }
}


@pytest.mark.parametrize(
    ("fault", "requests", "retry_after"),
    [
        (Fault(status=429, headers={"Retry-After": "0.1"}, times=2), 3, 0.1),
        (Fault(status=429, body=RETRY_INFO_429), 2, 0.15),
        (Fault(status=500, times=1), 2, None),
        (Fault(status=503, times=2), 3, None),
    ],
    ids=["429-retry-after", "429-retry-info", "500", "503-twice"],
)
def test_transient_failures_are_retried(gemini_server, retry_waits, fault, requests, retry_after):
    model = load(chat_config(gemini_server))
    for stream in (False, True):  # a call, and the opening of a stream
        gemini_server.clear()
        retry_waits.clear()
        kit.check_retried(gemini_server, model, retry_waits, fault, requests, retry_after, stream)


@kit.typed_failures()
def test_failures_raise_typed_errors(gemini_server, retry_waits, fault, error, requests):
    config = chat_config(gemini_server)
    err = kit.check_failure(gemini_server, load(config), fault, error, requests, retry_waits)
    assert (err.provider, err.model, err.config_name) == ("gemini", "gemini-2.5-flash", "gem")
    assert err.body["error"]["status"] == google_status(fault.status)
    assert google_status(fault.status) in str(err)
    assert config["api_key"] not in str(err)


def test_auth_error_echoing_the_key_is_scrubbed(gemini_server):
    config = chat_config(gemini_server)
    key = config["api_key"]
    header = ("x-goog-api-key", "{key}")
    err = kit.check_echoed_key(
        gemini_server, config, "API key not valid: ", errors.BadRequestError, 400, header
    )
    # The server did echo it (the body keeps the message), scrubbed like the text (issue 11).
    assert "API key not valid: ***" in json.dumps(err.body)
    assert key not in json.dumps(err.body)
    assert "API key not valid: ***" in str(err)


MID_STREAM_FAILURES = [
    (Fault(drop_after=2), errors.ProviderConnectionError),
    (Fault(drop_after=2, stream_error={"message": "overloaded", "code": 503}), errors.ServerError),
    (
        Fault(drop_after=2, stream_error={"message": "slow down", "code": 429}),
        errors.RateLimitError,
    ),
]


def test_mid_stream_failure_keeps_partial_text_and_is_not_retried(gemini_server):
    model = load(chat_config(gemini_server))
    for fault, error in MID_STREAM_FAILURES:  # events: one per chunk; 2 let "ab", "cd" through
        gemini_server.clear()
        err, seen, response = kit.check_partial(gemini_server, model, fault, error)
        assert seen == [(False, "ab")]  # "cd" arrived but is held back until the next piece
        assert err.config_name == "gem"
        if fault.stream_error:
            assert fault.stream_error["message"] in str(err)
            assert err.status == fault.stream_error["code"]
        kit.check_sticky(response, err)


@kit.timeouts
def test_timeout_raises_provider_timeout_error(gemini_server, timeout):
    model = load(chat_config(gemini_server, timeout=timeout, max_retries=0))
    kit.check_timeout(gemini_server, model)  # an ignored timeout would be a 30 s wait
    assert gemini_server.requests[0].headers["x-server-timeout"] == "1"


def test_timeout_is_retried(gemini_server):
    gemini_server.add_fault(Fault(delay=STALL))
    model = load(chat_config(gemini_server, timeout=0.3, max_retries=1))
    assert model(MESSAGES).text == "Hello!"
    assert len(gemini_server.requests) == 2


def test_connection_refused_is_a_connection_error():
    server = GeminiEmulator().start()
    config = chat_config(server, max_retries=1)
    server.stop()
    model = load(config)
    with pytest.raises(errors.ProviderConnectionError) as info:
        model(MESSAGES)
    assert info.value.attempts == 2


def test_sdk_retry_options_are_ignored(gemini_server):
    retry = {"attempts": 5, "initial_delay": 0.01}
    gemini_server.add_fault(Fault(status=500, times=10))
    model = load(chat_config(gemini_server, client_args={"retry_options": retry}, max_retries=0))
    with pytest.raises(errors.ServerError):
        model(MESSAGES)
    assert len(gemini_server.requests) == 1


# -- 6. clients, keys and configs -------------------------------------------------------------
def test_two_keys_and_base_urls_side_by_side(gemini_server):
    other = GeminiEmulator().start()
    try:
        first = chat_config(gemini_server, config_name="one")
        second = chat_config(other, config_name="two", model_name="gemini-2.5-pro")
        read_model_configs([first, second])
        one, two = load_model_by_config_name("one"), load_model_by_config_name("two")
        other.set_reply(text="from two")
        for model in (one, two, two, one):
            model(MESSAGES)
        assert [r.headers["x-goog-api-key"] for r in gemini_server.requests] == [
            first["api_key"]
        ] * 2
        assert [r.headers["x-goog-api-key"] for r in other.requests] == [second["api_key"]] * 2
        assert {r.path for r in other.requests} == {"/v1/models/gemini-2.5-pro:generateContent"}
        assert two(MESSAGES).text == "from two" and one(MESSAGES).text == "Hello!"
    finally:
        other.stop()


def test_no_process_global_state(gemini_server):
    before = dict(os.environ)
    read_model_configs([chat_config(gemini_server), chat_config(gemini_server, config_name="b")])
    one, two = load_model_by_config_name("gem"), load_model_by_config_name("b")
    assert dict(os.environ) == before  # no key or base URL exported for the SDK
    assert one.client is not two.client  # one client per wrapper...
    gc.collect()
    assert one(MESSAGES).text == two(MESSAGES).text == "Hello!"  # ...kept alive by it
    keys = {r.headers["x-goog-api-key"] for r in gemini_server.requests}
    assert len(keys) == 2


def test_one_connection_for_sequential_calls(gemini_server):
    model = load(chat_config(gemini_server))
    for _ in range(3):
        assert model(MESSAGES).text == "Hello!"
    assert model(MESSAGES, stream=True).text == "Hello!"
    assert gemini_server.connections == 1


def test_client_args_api_version_and_headers(gemini_server):
    config = chat_config(
        gemini_server, api_version="v1beta", client_args={"headers": {"x-team": "blue"}}
    )
    load(config)(MESSAGES)
    request = gemini_server.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-team"] == "blue"


def test_unknown_client_args_are_a_config_error(gemini_server):
    read_model_configs([chat_config(gemini_server, client_args={"max_retries": 3})])
    with pytest.raises(errors.ConfigError, match="max_retries"):
        load_model_by_config_name("gem")


def test_missing_api_key_is_a_config_error(monkeypatch):
    fields = {"model_name": "gemini-2.5-flash"}
    message = kit.check_missing_key(monkeypatch, "gemini_chat", "GEMINI_API_KEY", **fields)
    assert "api_key" in message


@pytest.mark.parametrize("var", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_api_key_from_the_environment(gemini_server, monkeypatch, var):
    header = ("x-goog-api-key", "{key}")
    config = chat_config(gemini_server)
    kit.check_key_from_env(gemini_server, monkeypatch, var, new_key(), config, header)


def test_key_never_in_run_files(gemini_server, tmp_path):
    config = chat_config(gemini_server)
    key = config["api_key"]
    with kit.recorded_run(config, tmp_path) as (model, run_dir):
        fault = Fault(status=429, message=f"bad {key}", headers={"Retry-After": "0"})
        gemini_server.add_fault(fault)
        assert model(MESSAGES).text == "Hello!"
        assert model(MESSAGES, stream=True).text == "Hello!"
        assert key not in repr(model)
        records = kit.invocations(run_dir)
        assert [r["status"] for r in records] == ["ok", "ok"]
        contents = records[0]["arguments"]["contents"]
        assert contents == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_example_configs_load(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", new_key())
    path = Path(__file__).resolve().parents[1] / "configs" / "gemini.yaml"
    names = read_model_configs(str(path))
    assert names
    for name in names:
        model = load_model_by_config_name(name)
        assert model.model_type in ("gemini_chat", "gemini_embedding")


# -- 7. embeddings ----------------------------------------------------------------------------
EMBEDDING = {"config_name": "emb", "model_type": "gemini_embedding"}


def embedding_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return chat_config(server, **{**EMBEDDING, "model_name": "gemini-embedding-001", **overrides})


def test_embeddings(gemini_server):
    model = load(embedding_config(gemini_server))
    for texts in ("hello world", ["first text", "second one here", "third"]):
        response = model(texts)
        inputs = [texts] if isinstance(texts, str) else texts
        assert len(response.embedding) == len(inputs)
        for vector, text in zip(response.embedding, inputs, strict=True):
            assert vector == pytest.approx(embedding_vector(text), rel=1e-6, abs=1e-7)
        request = gemini_server.requests[-1]
        # Always the batch endpoint, even for one string.
        assert request.path == "/v1/models/gemini-embedding-001:batchEmbedContents"
        assert [r["content"]["parts"][0]["text"] for r in request.json["requests"]] == inputs
        assert response.usage.prompt_tokens == 0  # Gemini reports no usage for embeddings


def test_embedding_kwargs_and_usage(gemini_server):
    gemini_server.embedding_usage = True
    model = load(embedding_config(gemini_server, generate_args={"task_type": "retrieval_query"}))
    response = model(["a b", "c"], output_dimensionality=3, title="T")
    (first, second) = sent(gemini_server)["requests"]
    assert first["taskType"] == "RETRIEVAL_QUERY" and first["outputDimensionality"] == 3
    assert first["model"] == "models/gemini-embedding-001"
    assert response.embedding[1] == pytest.approx(embedding_vector("c", 3), rel=1e-6, abs=1e-7)
    assert response.usage.prompt_tokens == 3


def test_embedding_errors_are_typed(gemini_server):
    gemini_server.add_fault(Fault(status=429, times=5, headers={"Retry-After": "0"}))
    with pytest.raises(errors.RateLimitError):
        load(embedding_config(gemini_server))("x")
    assert len(gemini_server.requests) == 3


def test_embedding_does_not_stream(gemini_server):
    with pytest.raises(ValueError, match="does not support streaming"):
        load(embedding_config(gemini_server))("x", stream=True)


def test_missing_sdk_names_the_extra(monkeypatch):
    import sys

    from agentscope_legacy.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(MissingDependencyError) as info:
        GeminiChatWrapper("g", "gemini-2.5-flash", api_key=new_key())
    assert "google-genai" in str(info.value) and "[gemini]" in str(info.value)
