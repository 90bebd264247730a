"""openai_chat, openai_embedding and openai_dall_e through the real ``openai`` SDK.

Every test talks to the loopback OpenAI emulator (``openai_server``); nothing in the SDK is
mocked, so these tests pin what actually goes over the wire and what the wrappers make of it.
"""

from __future__ import annotations

import base64
import gc
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy import errors
from agentscope_legacy.logging import setup_logger
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES, WEATHER, expected_stream, load, sent
from tests.emulators import STALL, TINY_PNG, Fault, embedding_vector


# -- helpers ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _reset_logger():
    """``init()`` points loguru at this test's run dir and stderr; undo that afterwards."""
    yield
    setup_logger(None, "INFO", save_log=False)


def chat_config(server: Any, **overrides: Any) -> dict[str, Any]:
    return kit.chat_config(server, "openai_chat", **overrides)


def start_run(tmp_path: Path, *configs: dict[str, Any], **kwargs: Any) -> Path:
    """``init()`` with a run dir and invocation records; returns the run dir."""
    agentscope_legacy.init(
        model_configs=list(configs), save_dir=str(tmp_path), save_api_invoke=True, **kwargs
    )
    run_dir = agentscope_legacy.get_runtime().run_dir
    assert run_dir is not None
    return run_dir


invocations = kit.invocations


def usage_rows(run_dir: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(run_dir / "agentscope.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM usage ORDER BY id")]
    finally:
        db.close()


# -- 1. stream / non-stream parity ------------------------------------------------------------
@kit.parity_cases
def test_stream_and_non_stream_agree(openai_server, script):
    openai_server.set_reply(**script)
    # The answer stream carries the answer only (never reasoning), accumulated chunk by chunk.
    kit.check_parity(load(chat_config(openai_server)), script)


def test_tool_call_arguments_are_assembled_from_fragments(openai_server):
    long_args = {"city": "Llanfairpwllgwyngyll", "days": 14, "units": ["celsius", "mm"]}
    call = {"id": "c9", "name": "forecast", "arguments": long_args}
    openai_server.set_reply(text="", tool_calls=[call])
    response = load(chat_config(openai_server))(MESSAGES, stream=True)
    assert list(response.stream) == [(True, "")]
    assert response.tool_calls == [
        {"type": "tool_use", "id": "c9", "name": "forecast", "input": long_args}
    ]


# -- 2. the stream contract -------------------------------------------------------------------
def test_one_chunk_reply_yields_exactly_one_final_tuple(openai_server):
    openai_server.set_reply(chunks=["Hello there, friend"])
    response = load(chat_config(openai_server))(MESSAGES, stream=True)
    assert list(response.stream) == [(True, "Hello there, friend")]


def test_stream_is_accumulative_and_replays(openai_server):
    chunks = ["a", "bc", "def", "ghij"]
    openai_server.set_reply(chunks=chunks)
    response = load(chat_config(openai_server))(MESSAGES, stream=True)

    first = list(response.stream)
    assert first == expected_stream(chunks)
    assert [text for _, text in first] == ["a", "abc", "abcdef", "abcdefghij"]
    assert [last for last, _ in first] == [False, False, False, True]
    assert list(response.stream) == first  # a new iterator replays the same reply
    assert list(response.deltas) == chunks
    assert len(openai_server.requests) == 1


def test_text_drains_the_stream_without_iterating(openai_server):
    chunks = ["one ", "two ", "three"]
    openai_server.set_reply(chunks=chunks, prompt_tokens=12, completion_tokens=3)
    response = load(chat_config(openai_server))(MESSAGES, stream=True)
    assert not response.is_stream_exhausted

    assert response.text == "one two three"
    assert response.is_stream_exhausted
    assert list(response.deltas) == chunks
    assert list(response.stream) == expected_stream(chunks)


def test_usage_is_available_after_the_stream_ends(openai_server):
    openai_server.set_reply(chunks=["x", "y", "z"], prompt_tokens=17, completion_tokens=3)
    response = load(chat_config(openai_server))(MESSAGES, stream=True)
    for _ in response.stream:
        pass
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (17, 3, 20)
    assert usage.time_to_first_token is not None
    assert 0 < usage.time_to_first_token <= usage.latency


@pytest.mark.parametrize(
    ("config_extra", "stream", "expected"),
    [
        ({}, False, None),
        ({}, True, {"include_usage": True}),
        ({"stream_usage": False}, True, None),
    ],
    ids=["non-stream", "stream", "stream-usage-off"],
)
def test_include_usage_only_requested_when_streaming(openai_server, config_extra, stream, expected):
    model = load(chat_config(openai_server, **config_extra))
    assert model(MESSAGES, stream=stream).text == "Hello!"
    assert sent(openai_server).get("stream_options") == expected


# -- 4. request building ----------------------------------------------------------------------
def test_generate_args_merge_and_vendor_fields_are_top_level(openai_server):
    # A config names other servers' parameters under extra_body (its generate_args are checked
    # against the Chat Completions parameters); a call's unknown kwargs go there by themselves.
    generate_args = {"temperature": 0.2, "max_tokens": 50, "extra_body": {"top_k": 20}}
    model = load(chat_config(openai_server, generate_args=generate_args))
    model(MESSAGES, temperature=0.9, seed=7, enable_thinking=False)
    body = sent(openai_server)
    assert body["temperature"] == 0.9  # the call wins over generate_args
    assert body["max_tokens"] == 50
    assert body["seed"] == 7
    # Fields the SDK does not know arrive as top-level JSON fields, not nested.
    assert body["top_k"] == 20
    assert body["enable_thinking"] is False
    assert "extra_body" not in body
    assert body["model"] == "gpt-4o-mini" and body["messages"] == MESSAGES
    model(MESSAGES, extra_body={"repetition_penalty": 1.1})
    body = sent(openai_server)
    assert body["repetition_penalty"] == 1.1 and "extra_body" not in body
    assert model.generate_args == generate_args


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        ("auto", "auto"),
        ("required", "required"),
    ],
)
def test_tools_and_tool_choice_on_the_wire(openai_server, tool_choice, expected):
    wrapped = {"type": "function", "function": {**WEATHER, "name": "get_time"}}
    model = load(chat_config(openai_server))
    model(MESSAGES, tools=[WEATHER, wrapped], tool_choice=tool_choice)
    body = sent(openai_server)
    assert body["tools"] == [{"type": "function", "function": WEATHER}, wrapped]
    assert body["tool_choice"] == expected


# -- 5. format() ------------------------------------------------------------------------------
def test_format_inlines_a_local_image_for_gpt_models(openai_server, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(TINY_PNG)
    model = load(chat_config(openai_server, model_name="gpt-4o"))
    messages = model.format(
        Msg("system", "You are helpful.", role="system"),
        Msg("alice", "What is this?", role="user", url=str(image)),
    )
    data_url = "data:image/png;base64," + base64.b64encode(TINY_PNG).decode()
    assert messages == [
        {
            "role": "system",
            "name": "system",
            "content": [{"type": "text", "text": "You are helpful."}],
        },
        {
            "role": "user",
            "name": "alice",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": data_url}},
            ],
        },
    ]
    model(messages)
    assert sent(openai_server)["messages"][1]["content"][1]["image_url"]["url"] == data_url


def test_format_for_other_models_merges_the_conversation(openai_server):
    model = load(chat_config(openai_server, model_name="qwen-local"))
    kit.check_merged_format(model, "You are helpful.")


# -- 6. retries -------------------------------------------------------------------------------
@kit.transient_faults(
    "429-retry-after",
    "500",
    "503-twice",
    extra={
        "429-retry-after-ms": (
            Fault(status=429, headers={"retry-after-ms": "150"}, times=1),
            2,
            0.15,
        )
    },
)
def test_transient_failures_are_retried(
    openai_server, retry_waits, fault, requests, retry_after, stream
):
    model = load(chat_config(openai_server))
    kit.check_retried(openai_server, model, retry_waits, fault, requests, retry_after, stream)
    assert all(r.json.get("stream", False) is stream for r in openai_server.requests)


@kit.typed_failures()
def test_failures_raise_typed_errors(openai_server, retry_waits, fault, error, requests):
    model = load(chat_config(openai_server))
    err = kit.check_failure(openai_server, model, fault, error, requests, retry_waits)
    assert (err.provider, err.model, err.config_name) == ("openai", "gpt-4o-mini", "gpt")
    assert f"status={fault.status}" in str(err)


def test_persistent_failure_on_stream_open_is_raised_at_the_call(openai_server):
    openai_server.add_fault(Fault(status=502, times=3))
    model = load(chat_config(openai_server))
    with pytest.raises(errors.ProviderError) as info:
        model(MESSAGES, stream=True)
    assert info.value.status == 502 and info.value.attempts == 3
    assert len(openai_server.requests) == 3


# -- 7. failures in the middle of a stream ----------------------------------------------------
# Events: role (empty content), then one event per chunk. drop_after=3 lets "ab" and "cd" through.
@kit.mid_stream_faults(3, {"message": "overloaded", "type": "server_error"})
def test_mid_stream_failure_keeps_partial_text_and_is_not_retried(openai_server, fault, error):
    model = load(chat_config(openai_server))
    err, seen, response = kit.check_partial(openai_server, model, fault, error)
    assert all("abcd".startswith(t) for _, t in seen)
    assert err.config_name == "gpt"
    if fault.stream_error:
        assert "overloaded" in str(err)
        assert not isinstance(err, errors.ProviderConnectionError)
    kit.check_sticky(response, err)
    with pytest.raises(error):
        list(response.deltas)


# -- 8. timeouts ------------------------------------------------------------------------------
@kit.timeouts
def test_timeout_raises_provider_timeout_error(openai_server, timeout):
    model = load(chat_config(openai_server, timeout=timeout, max_retries=0))
    err = kit.check_timeout(openai_server, model)  # an ignored timeout would be a 30 s wait
    assert err.attempts == 1


def test_timeout_is_retried(openai_server):
    openai_server.add_fault(Fault(delay=STALL))
    model = load(chat_config(openai_server, timeout=0.3, max_retries=1))
    assert model(MESSAGES).text == "Hello!"
    assert len(openai_server.requests) == 2


# -- 9. malformed replies: tests/test_parity.py -----------------------------------------------
# -- 10. cancelling a stream ------------------------------------------------------------------
def test_break_out_of_stream_finalises_once_as_cancelled(openai_server, tmp_path):
    run_dir = start_run(tmp_path, chat_config(openai_server))
    model = load_model_by_config_name("gpt")
    openai_server.set_reply(chunks=["ab", "cd", "ef", "gh"])
    response = model(MESSAGES, stream=True)

    for last, text in response.stream:
        assert (last, text) == (False, "ab")
        break

    assert response.is_stream_exhausted
    assert response.finish_reason == "cancelled"
    # "cd" was already pulled to know that "ab" was not the last piece.
    assert response.text == "abcd"
    assert list(response.stream) == [(False, "ab"), (True, "abcd")]
    response.close()
    del response
    gc.collect()

    records = invocations(run_dir)
    assert len(records) == 1
    assert records[0]["status"] == "cancelled"
    assert records[0]["response"]["text"] == "abcd"
    assert records[0]["response"]["finish_reason"] == "cancelled"
    rows = usage_rows(run_dir)
    assert [(r["status"], r["stream"]) for r in rows] == [("cancelled", 1)]
    # The connection was released: the wrapper keeps working.
    assert model(MESSAGES).text == "abcdefgh"


def test_unconsumed_stream_is_recorded_when_dropped(openai_server, tmp_path):
    run_dir = start_run(tmp_path, chat_config(openai_server))
    response = load_model_by_config_name("gpt")(MESSAGES, stream=True)
    del response
    gc.collect()
    assert [r["status"] for r in invocations(run_dir)] == ["cancelled"]
    assert len(usage_rows(run_dir)) == 1


# -- 11. recording and keeping the key secret -------------------------------------------------
def test_calls_are_recorded_in_jsonl_and_sqlite(openai_server, tmp_path):
    run_dir = start_run(tmp_path, chat_config(openai_server))
    model = load_model_by_config_name("gpt")
    openai_server.set_reply(text="first answer", prompt_tokens=11, completion_tokens=3)
    model(MESSAGES, temperature=0.5)
    openai_server.set_reply(text="second answer", prompt_tokens=13, completion_tokens=5)
    assert list(model(MESSAGES, stream=True).stream)[-1] == (True, "second answer")

    records = invocations(run_dir)
    plain, streamed = records
    assert plain["stream"] is False and streamed["stream"] is True
    assert plain["arguments"]["messages"] == MESSAGES
    assert plain["arguments"]["temperature"] == 0.5
    assert plain["response"]["choices"][0]["message"]["content"] == "first answer"
    assert streamed["arguments"]["stream"] is True
    assert streamed["response"]["text"] == "second answer"
    tokens = [(r["usage"]["prompt_tokens"], r["usage"]["completion_tokens"]) for r in records]
    assert tokens == [(11, 3), (13, 5)]
    assert plain["status"] == streamed["status"] == "ok"

    rows = usage_rows(run_dir)
    columns = (
        "config_name",
        "stream",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "status",
    )
    assert [tuple(r[c] for c in columns) for r in rows] == [
        ("gpt", 0, 11, 3, 14, "ok"),
        ("gpt", 1, 13, 5, 18, "ok"),
    ]
    assert all(r["latency"] > 0 for r in rows)
    assert rows[0]["time_to_first_token"] is None and rows[1]["time_to_first_token"] is not None

    (totals,) = agentscope_legacy.get_runtime().monitor.usage_rows()
    assert totals["config_name"] == "gpt" and totals["calls"] == 2 and totals["failures"] == 0
    tokens = (totals["prompt_tokens"], totals["completion_tokens"], totals["total_tokens"])
    assert tokens == (24, 8, 32)


@pytest.mark.parametrize("stream", [False, True])
def test_failed_call_is_recorded_as_error(openai_server, tmp_path, stream):
    run_dir = start_run(tmp_path, chat_config(openai_server))
    openai_server.add_fault(Fault(status=404))
    with pytest.raises(errors.BadRequestError):
        load_model_by_config_name("gpt")(MESSAGES, stream=stream)
    (record,) = invocations(run_dir)
    assert record["status"] == "error" and record["error"].startswith("BadRequestError")
    assert record["stream"] is stream
    assert [r["status"] for r in usage_rows(run_dir)] == ["error"]


def test_api_key_never_leaks(openai_server, tmp_path, capfd):
    config = chat_config(openai_server)
    key = config["api_key"]
    run_dir = start_run(tmp_path, config, logger_level="DEBUG")
    model = load_model_by_config_name("gpt")
    leaky = f"Incorrect API key provided: {key}"

    openai_server.add_fault(Fault(status=429, message=leaky, headers={"Retry-After": "0"}))
    assert model(MESSAGES).text == "Hello!"  # after a logged retry
    assert model(MESSAGES, stream=True).text == "Hello!"
    openai_server.add_fault(Fault(status=401, message=leaky))
    with pytest.raises(errors.AuthenticationError) as info:
        model(MESSAGES)
    openai_server.add_fault(Fault(drop_after=2))
    with pytest.raises(errors.ProviderConnectionError) as dropped:
        _ = model(MESSAGES, stream=True).text

    # The key really was used, and the server really echoed it back.
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {key}"
    assert "Incorrect API key provided: ***" in json.dumps(info.value.body)  # scrubbed too
    assert key not in json.dumps(info.value.body)
    for err in (info.value, dropped.value):
        assert key not in str(err) and key not in repr(err)
    assert "Incorrect API key provided: ***" in str(info.value)
    assert key not in repr(model)

    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"invocations.jsonl", "agentscope.db", "logging.log", ".config"} <= names
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    assert "RateLimitError" in (run_dir / "logging.log").read_text(encoding="utf-8")
    assert len(invocations(run_dir)) == 4

    out, err = capfd.readouterr()
    assert "RateLimitError" in err  # the retry warning was logged...
    assert key not in out + err  # ...without the key


def test_two_keys_side_by_side(openai_server):
    first, second, one, two = kit.load_two(chat_config, openai_server, openai_server, "gpt-4.1")
    for model in (one, two, two, one):
        model(MESSAGES)
    keys = [r.headers["authorization"] for r in openai_server.requests]
    assert keys == [f"Bearer {c['api_key']}" for c in (first, second, second, first)]
    assert [r.json["model"] for r in openai_server.requests] == [
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1",
        "gpt-4o-mini",
    ]


# -- 13. connection reuse ---------------------------------------------------------------------
def test_one_connection_for_sequential_calls(openai_server):
    model = load(chat_config(openai_server))
    for _ in range(5):
        assert model(MESSAGES).text == "Hello!"
    assert len(openai_server.requests) == 5
    assert openai_server.connections == 1
    assert load_model_by_config_name("gpt") is model  # the wrapper itself is shared too


@pytest.mark.parametrize("consume", ["all", "break"])
def test_streams_keep_the_connection_alive(openai_server, consume):
    # The SDK's own sync stream closes its connection after [DONE]; the wrapper reads the
    # body to its end, so sequential streams (finished or broken off) share one connection.
    openai_server.set_reply(chunks=["a", "b", "c", "d"])
    model = load(chat_config(openai_server))
    for _ in range(4):
        response = model(MESSAGES, stream=True)
        if consume == "all":
            assert response.text == "abcd"
        else:
            next(iter(response.stream))
            response.close()
    expected = 1 if consume == "all" else 4  # an abandoned stream's connection is not reusable
    assert openai_server.connections == expected


# -- 14. embeddings ---------------------------------------------------------------------------
def embedding_config(server: Any) -> dict[str, Any]:
    return chat_config(
        server,
        config_name="emb",
        model_type="openai_embedding",
        model_name="text-embedding-3-small",
    )


@pytest.mark.parametrize(
    "texts",
    ["hello world", ["first text", "second one here", "third"]],
    ids=["str", "list"],
)
def test_embeddings(openai_server, texts):
    model = load(embedding_config(openai_server))
    response = model(texts)
    words = kit.check_embeddings(response, texts)
    (row,) = agentscope_legacy.get_runtime().monitor.usage_rows()
    assert (row["config_name"], row["calls"], row["prompt_tokens"]) == ("emb", 1, words)
    assert sent(openai_server)["input"] == texts


def test_embedding_kwargs_reach_the_server(openai_server):
    response = load(embedding_config(openai_server))("abc", dimensions=4)
    assert sent(openai_server)["dimensions"] == 4
    assert response.embedding[0] == pytest.approx(embedding_vector("abc", 4), rel=1e-6, abs=1e-7)


# -- 15. DALL·E -------------------------------------------------------------------------------
def dalle_config(server: Any) -> dict[str, Any]:
    return chat_config(server, config_name="img", model_type="openai_dall_e", model_name="dall-e-3")


def test_dall_e_returns_urls(openai_server):
    response = load(dalle_config(openai_server))("a red pixel", n=2)
    assert response.image_urls == [f"{openai_server.base_url}/files/img-{i}.png" for i in range(2)]
    assert sent(openai_server)["prompt"] == "a red pixel"


@pytest.mark.parametrize("kwargs", [{}, {"response_format": "b64_json"}], ids=["url", "b64_json"])
def test_dall_e_save_local_writes_png_in_run_dir(openai_server, tmp_path, kwargs):
    run_dir = start_run(tmp_path, dalle_config(openai_server))
    response = load_model_by_config_name("img")("a red pixel", save_local=True, **kwargs)
    (path,) = response.image_urls
    assert Path(path).parent == run_dir / "images"
    assert Path(path).read_bytes() == TINY_PNG


def test_dall_e_save_local_in_a_replay_calls_no_network(openai_server, tmp_path):
    """A replayed image reply is saved from the data it carries; a link is kept as it is (a
    replay downloads nothing). It used to fail: the replayed reply has no SDK object."""
    from agentscope_legacy import replay

    recorded = start_run(tmp_path / "first", dalle_config(openai_server))
    model = load_model_by_config_name("img")
    model("a red pixel", response_format="b64_json")
    (link,) = model("a blue pixel").image_urls
    run_dir = start_run(tmp_path / "again", allow_replace=True)  # a new run, same configs
    openai_server.clear()
    with replay.replaying(recorded) as recording:
        (saved,) = model("a red pixel", response_format="b64_json", save_local=True).image_urls
        kept = model("a blue pixel", save_local=True).image_urls
    assert recording.answered == 2 and openai_server.requests == []
    assert Path(saved).parent == run_dir / "images" and Path(saved).read_bytes() == TINY_PNG
    assert kept == [link]


def test_dall_e_b64_without_saving_gives_a_data_url(openai_server):
    response = load(dalle_config(openai_server))("a red pixel", response_format="b64_json")
    assert response.image_urls == ["data:image/png;base64," + base64.b64encode(TINY_PNG).decode()]


# -- 16. missing keys -------------------------------------------------------------------------
def test_missing_api_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    fields = {"model_name": "gpt-4o"}
    message = kit.check_missing_key(monkeypatch, "openai_chat", "OPENAI_API_KEY", **fields)
    assert "api_key" in message


def test_unset_env_var_in_api_key_fails_when_building(openai_server, monkeypatch):
    monkeypatch.delenv("MY_UNSET_VAR", raising=False)
    config = chat_config(openai_server, config_name="envkey", api_key="${MY_UNSET_VAR}")
    read_model_configs([config])  # loading an unused config must not fail
    with pytest.raises(errors.ConfigError) as info:
        load_model_by_config_name("envkey")
    assert "MY_UNSET_VAR" in str(info.value)
    assert openai_server.requests == []
