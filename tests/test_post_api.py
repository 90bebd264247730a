"""post_api_chat and post_api_embedding: real ``requests`` against loopback servers.

Most tests use the OpenAI emulator (``openai_server``) as the POST endpoint; a tiny 0.x-style
server below answers any JSON body with the old ``{"data": {"response": ...}}`` envelope and
never streams, for what the OpenAI emulator cannot show (custom body keys, ignored ``stream``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy import errors
from agentscope_legacy.logging import setup_logger
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests import chat_kit as kit
from tests.chat_kit import MESSAGES
from tests.emulators import (
    STALL,
    Fault,
    JSONReply,
    LoopbackServer,
    RecordedRequest,
    StreamReply,
    embedding_vector,
)


class LegacyServer(LoopbackServer):
    """Answers every POST with a 0.x envelope around an OpenAI-shaped completion."""

    text = "legacy reply"

    def handle(self, req: RecordedRequest) -> JSONReply:
        completion = {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
        return JSONReply({"code": 200, "data": {"response": completion}})


class SSEServer(LoopbackServer):
    """Streams ``events`` verbatim, for SSE framing the OpenAI emulator never produces."""

    events: list[bytes] = []

    def handle(self, req: RecordedRequest) -> StreamReply:
        return StreamReply(list(self.events))


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[LegacyServer]:
    with LegacyServer() as server:
        yield server


@pytest.fixture(scope="module")
def sse_server() -> Iterator[SSEServer]:
    with SSEServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_logger():
    """``init()`` points loguru at this test's run dir and stderr; undo that afterwards."""
    yield
    setup_logger(None, "INFO", save_log=False)


# -- helpers ----------------------------------------------------------------------------------
def new_secret() -> str:
    return f"secret-post-key-{uuid.uuid4().hex}"


def post_config(url: str, **overrides: Any) -> dict[str, Any]:
    config = {
        "config_name": "p",
        "model_type": "post_api_chat",
        "api_url": url,
        "headers": {"Authorization": f"Bearer {new_secret()}"},
        "json_args": {"model": "m1", "temperature": 0.1},
        "retry_interval": 0.01,
    }
    config.update(overrides)
    return config


def chat_url(server: Any) -> str:
    return server.base_url + "/v1/chat/completions"


load = kit.load


def chat_model(server: Any, **overrides: Any) -> Any:
    return load(post_config(chat_url(server), **overrides))


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    return kit.refused_server().base_url + "/v1/chat/completions"


def tokens(response: Any) -> tuple[int, int, int]:
    usage = response.usage
    return usage.prompt_tokens, usage.completion_tokens, usage.total_tokens


# -- the request ------------------------------------------------------------------------------
def test_body_is_messages_json_args_and_call_kwargs_and_headers_are_sent(openai_server):
    config = post_config(chat_url(openai_server))
    model = load(config)
    model(MESSAGES, temperature=0.7, max_tokens=5)
    (request,) = openai_server.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.json == {
        "messages": MESSAGES,
        "model": "m1",
        "temperature": 0.7,  # the call wins over json_args
        "max_tokens": 5,
    }
    assert request.headers["authorization"] == config["headers"]["Authorization"]
    assert request.headers["content-type"] == "application/json"
    assert model.json_args == {"model": "m1", "temperature": 0.1}
    assert model.model_name == "m1"


def test_generate_args_sit_between_json_args_and_call_kwargs(openai_server):
    model = chat_model(openai_server, generate_args={"temperature": 0.5, "seed": 1})
    model(MESSAGES, seed=2)
    assert openai_server.requests[-1].json == {
        "messages": MESSAGES,
        "model": "m1",
        "temperature": 0.5,
        "seed": 2,
    }


# -- replies, streamed or not -----------------------------------------------------------------
@kit.parity_cases
def test_stream_and_non_stream_agree(openai_server, script):
    openai_server.set_reply(**script)
    read_model_configs(
        [
            post_config(chat_url(openai_server)),
            post_config(chat_url(openai_server), config_name="ps", stream=True),
        ]
    )
    plain = load_model_by_config_name("p")(MESSAGES)
    streamed = load_model_by_config_name("ps")(MESSAGES, stream_options={"include_usage": True})
    items = list(streamed.stream)
    assert plain.stream is None
    assert items == kit.expected_stream(script["chunks"])
    for response in (plain, streamed):
        kit.check_reply(response, script)
    plain_body, stream_body = (r.json for r in openai_server.requests)
    assert "stream" not in plain_body
    assert stream_body["stream"] is True


def test_stream_per_call_override(openai_server):
    model = chat_model(openai_server, stream=True)
    assert model(MESSAGES, stream=False).stream is None
    assert "stream" not in openai_server.requests[-1].json
    response = chat_model(openai_server, config_name="q")(MESSAGES, stream=True)
    assert list(response.stream)[-1] == (True, "Hello!")
    assert openai_server.requests[-1].json["stream"] is True


def test_custom_messages_key_and_legacy_envelope(legacy_server):
    legacy_server.clear()
    model = load(post_config(legacy_server.base_url + "/generate", messages_key="prompt"))
    response = model(MESSAGES, top_p=0.5)
    assert response.text == "legacy reply"
    assert tokens(response) == (3, 2, 5)
    (request,) = legacy_server.requests
    assert request.path == "/generate"
    assert request.json == {"prompt": MESSAGES, "model": "m1", "temperature": 0.1, "top_p": 0.5}


def test_stream_request_answered_with_plain_json_is_one_chunk(legacy_server):
    legacy_server.clear()
    model = load(post_config(legacy_server.base_url + "/generate", stream=True))
    response = model(MESSAGES)
    assert list(response.stream) == [(True, "legacy reply")]
    assert tokens(response) == (3, 2, 5)
    assert legacy_server.requests[-1].json["stream"] is True


def test_one_session_keeps_the_connection_alive(openai_server):
    model = chat_model(openai_server)
    for _ in range(4):
        assert model(MESSAGES).text == "Hello!"
    assert len(openai_server.requests) == 4
    assert openai_server.connections == 1


# -- retries and typed errors -----------------------------------------------------------------
@kit.transient_faults("500", "503-twice", "429-retry-after")
def test_transient_failures_are_retried(
    openai_server, retry_waits, fault, requests, retry_after, stream
):
    model = chat_model(openai_server)
    kit.check_retried(openai_server, model, retry_waits, fault, requests, retry_after, stream)


@kit.typed_failures("400", "404", "401", "429-persists", "500-persists", "429-retry-after-too-long")
def test_failures_raise_typed_errors(openai_server, retry_waits, fault, error, requests):
    err = kit.check_failure(
        openai_server, chat_model(openai_server), fault, error, requests, retry_waits
    )
    assert (err.provider, err.config_name, err.model) == ("post_api", "p", "m1")


@pytest.mark.parametrize("max_retries", [0, 2])
def test_connection_refused(retry_waits, max_retries):
    model = load(post_config(closed_port_url(), max_retries=max_retries))
    with pytest.raises(errors.ProviderConnectionError) as info:
        model(MESSAGES)
    assert not isinstance(info.value, errors.ProviderTimeoutError)
    assert info.value.attempts == max_retries + 1
    # Each retry after the configured backoff (0.01 s, then 0.02 s), no longer wait.
    waits = retry_waits.seconds()
    assert len(waits) == max_retries and all(w <= 0.01 * 2**i for i, w in enumerate(waits))


@pytest.mark.parametrize("timeout", [0.3, {"connect": 1, "read": 0.3}], ids=["number", "mapping"])
def test_timeout(openai_server, timeout):
    openai_server.add_fault(Fault(delay=STALL))  # an ignored timeout would be a 30 s wait
    model = chat_model(openai_server, timeout=timeout, max_retries=0)
    started = time.perf_counter()
    with pytest.raises(errors.ProviderTimeoutError) as info:
        model(MESSAGES)
    assert time.perf_counter() - started >= 0.25
    assert info.value.attempts == 1
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault(malformed=True),
        Fault(empty_body=True),
        Fault(status=200, body={"unexpected": True}),
        Fault(status=200, body={"choices": []}),
        Fault(status=200, body={"choices": [{"message": "not an object"}]}),
        Fault(status=200, body={"choices": [{"message": {"tool_calls": [{"id": "x"}]}}]}),
        Fault(status=200, body={"choices": [{"message": {"content": "x"}}], "usage": "n/a"}),
    ],
    ids=[
        "truncated-json",
        "empty-body",
        "no-choices",
        "empty-choices",
        "message-not-object",
        "tool-call-without-function",
        "usage-not-object",
    ],
)
def test_malformed_reply_raises_response_format_error(openai_server, fault):
    openai_server.add_fault(fault)
    with pytest.raises(errors.ResponseFormatError) as info:
        chat_model(openai_server)(MESSAGES)
    assert info.value.config_name == "p"
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(drop_after=3), errors.ProviderConnectionError),
        (Fault(drop_after=3, stream_error={"message": "overloaded"}), errors.ProviderError),
    ],
    ids=["dropped", "error-event"],
)
def test_mid_stream_failure(openai_server, fault, error):
    openai_server.set_reply(chunks=["ab", "cd", "ef"])
    openai_server.add_fault(fault)
    response = chat_model(openai_server)(MESSAGES, stream=True)
    with pytest.raises(error) as info:
        list(response.stream)
    assert info.value.partial_text == "abcd"
    assert len(openai_server.requests) == 1
    with pytest.raises(error) as again:
        _ = response.text
    assert again.value is info.value


def chunk_event(content: str, eol: bytes = b"\n") -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + eol + eol


def test_sse_framing_variants(sse_server):
    split_event = chunk_event("C").replace(b'"delta": ', b'"delta":\ndata: ')
    sse_server.events = [
        b": keep-alive comment\n\n",
        chunk_event("A"),
        b"event: message\nid: 7\n" + chunk_event("B", b"\r\n"),  # other fields, CRLF
        split_event,  # one JSON document over two data: lines
        chunk_event("D").replace(b"data: ", b"data:"),  # no space after the colon
        b'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 4}}\n\n',
        chunk_event("E")[:-1],  # the stream ends without a blank line nor [DONE]
    ]
    model = load(post_config(sse_server.base_url + "/sse", stream=True))
    response = model(MESSAGES)
    assert [text for _, text in response.stream] == ["A", "AB", "ABC", "ABCD", "ABCDE"]
    assert tokens(response) == (4, 4, 8)


@pytest.mark.parametrize(
    "bad_event",
    [b"data: {not json\n\n", b"data: [1, 2]\n\n", b'data: {"choices": ["x"]}\n\n'],
    ids=["not-json", "not-an-object", "choice-not-object"],
)
def test_malformed_sse_event(sse_server, bad_event):
    sse_server.events = [chunk_event("ab"), chunk_event("cd"), bad_event, chunk_event("ef")]
    response = load(post_config(sse_server.base_url + "/sse", stream=True))(MESSAGES)
    with pytest.raises(errors.ResponseFormatError) as info:
        _ = response.text
    assert info.value.partial_text == "abcd"
    assert info.value.config_name == "p"


# -- secrets ----------------------------------------------------------------------------------
def test_authorization_value_never_leaks(openai_server, tmp_path, capfd):
    config = post_config(chat_url(openai_server))
    secret = config["headers"]["Authorization"].split()[1]
    agentscope_legacy.init(
        model_configs=[config],
        save_dir=str(tmp_path),
        save_api_invoke=True,
        logger_level="DEBUG",
    )
    run_dir: Path = agentscope_legacy.get_runtime().run_dir
    model = load_model_by_config_name("p")
    leaky = f"invalid token {secret}"

    openai_server.add_fault(Fault(status=429, message=leaky, headers={"Retry-After": "0"}))
    assert model(MESSAGES).text == "Hello!"
    assert model(MESSAGES, stream=True).text == "Hello!"
    openai_server.add_fault(Fault(status=401, message=leaky))
    with pytest.raises(errors.AuthenticationError) as info:
        model(MESSAGES)

    assert openai_server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert "invalid token ***" in info.value.body  # the server did echo it, scrubbed...
    assert secret not in info.value.body and secret not in info.value.message
    assert secret not in str(info.value) and secret not in repr(info.value)  # ...we did not
    assert "invalid token ***" in str(info.value)
    assert secret not in repr(model)

    records = [json.loads(line) for line in (run_dir / "invocations.jsonl").open()]
    assert [r["status"] for r in records] == ["ok", "ok", "error"]
    assert records[0]["arguments"]["messages"] == MESSAGES
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert "RateLimitError" in err
    assert secret not in out + err


# -- embeddings -------------------------------------------------------------------------------
def embedding_model(server: Any, **overrides: Any) -> Any:
    config = post_config(
        server.base_url + "/v1/embeddings",
        config_name="pe",
        model_type="post_api_embedding",
        json_args={"model": "e", "encoding_format": "float"},
        **overrides,
    )
    return load(config)


@pytest.mark.parametrize(
    "texts", ["hello world", ["one", "two words", "three more words"]], ids=["str", "list"]
)
def test_embeddings(openai_server, texts):
    response = embedding_model(openai_server)(texts)
    words = kit.check_embeddings(response, texts)
    assert openai_server.requests[-1].json == {
        "input": texts,
        "model": "e",
        "encoding_format": "float",
    }
    (row,) = agentscope_legacy.get_runtime().monitor.usage_rows()
    assert (row["config_name"], row["calls"], row["prompt_tokens"]) == ("pe", 1, words)


def test_embeddings_custom_key_and_kwargs(openai_server):
    model = embedding_model(openai_server, messages_key="input")
    response = model(["abc"], dimensions=4)
    assert openai_server.requests[-1].json["dimensions"] == 4
    assert response.embedding[0] == pytest.approx(embedding_vector("abc", 4), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(
    "body",
    [{"object": "list"}, {"data": [{"index": 0}]}, {"data": ["not an object"]}],
    ids=["no-data", "no-embedding", "item-not-object"],
)
def test_malformed_embedding_reply(openai_server, body):
    openai_server.add_fault(Fault(status=200, body=body))
    with pytest.raises(errors.ResponseFormatError):
        embedding_model(openai_server)("x")
    assert len(openai_server.requests) == 1
