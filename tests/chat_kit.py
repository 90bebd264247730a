"""What every provider's chat tests share: configs, the parity table, the checks of a reply.

A provider's test file (tests/test_<provider>.py) keeps only what is its own: its wire shapes,
its quirks, its fault tables. Everything that is the same for every chat type lives here:

- ``chat_config(server, model_type, **fields)``: a config for the loopback emulator ``server``
  (the provider's defaults from ``PROVIDERS``, fast retries), ``fields`` winning;
- ``load``, ``sent``, ``new_key``, ``expected_stream``, ``tool_blocks``;
- ``PARITY_CASES`` (one table of scripted replies) and ``check_parity``, which runs one case
  streamed and not and checks both replies against the provider's expected shapes;
- the fault checks every provider repeats: ``check_retried``, ``check_partial``,
  ``check_two_configs`` and ``refused_server``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

import agentscope_legacy
from agentscope_legacy import errors
from agentscope_legacy.logging import setup_logger
from agentscope_legacy.message import Msg
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators import STALL, TINY_PNG, Fault, embedding_vector

MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL_A = {"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
CALL_B = {"id": "call_b", "name": "get_time", "arguments": {"tz": "Europe/Paris"}}


def new_key(prefix: str = "sk-test-") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def zhipuai_key() -> str:
    """ZhipuAI keys are ``<id>.<secret>``."""
    return f"{uuid.uuid4().hex[:12]}.{new_key('')}"


class Provider(NamedTuple):
    config_name: str
    key: Callable[[], str] | None  # None: the provider needs no key
    fields: Callable[[Any], dict[str, Any]]  # the emulator -> model name, base URL


PROVIDERS: dict[str, Provider] = {
    "openai_chat": Provider(
        "gpt",
        new_key,
        lambda s: {"model_name": "gpt-4o-mini", "base_url": s.base_url + "/v1"},
    ),
    "anthropic_chat": Provider(
        "claude",
        lambda: new_key("sk-ant-test-"),
        lambda s: {"model_name": "claude-sonnet-4-6", "base_url": s.base_url},
    ),
    "gemini_chat": Provider(
        "gem",
        lambda: new_key("AIza-test-"),
        lambda s: {"model_name": "gemini-2.5-flash", "base_url": s.base_url},
    ),
    "zhipuai_chat": Provider(
        "glm",
        zhipuai_key,
        lambda s: {"model_name": "glm-4.5", "base_url": s.base_url + "/api/paas/v4"},
    ),
    "dashscope_chat": Provider(
        "chat",
        lambda: new_key("sk-ds-"),
        lambda s: {"model_name": "qwen-plus", "base_url": s.base_url + "/api/v1"},
    ),
    "ollama_chat": Provider(
        "llama", None, lambda s: {"model_name": "llama3.2", "host": s.base_url}
    ),
    "litellm_chat": Provider(
        "lite",
        lambda: new_key("sk-lite-"),
        lambda s: {"model_name": "openai/gpt-4o-mini", "api_base": s.base_url + "/v1"},
    ),
}


def chat_config(server: Any, model_type: str, /, **fields: Any) -> dict[str, Any]:
    """A ``model_type`` config for the emulator ``server``: the provider's defaults (name, key,
    model, base URL), two fast retries, then ``fields`` (which may even change the model type)."""
    provider = PROVIDERS[model_type]
    config = {"config_name": provider.config_name, "model_type": model_type}
    if provider.key is not None:
        config["api_key"] = provider.key()
    config.update(provider.fields(server), retry_interval=0.01, max_retries=2)
    config.update(fields)
    return config


def load(config: dict[str, Any], clear: bool = False) -> Any:
    read_model_configs([config], clear_existing=clear)
    return load_model_by_config_name(config["config_name"])


def sent(server: Any, index: int = -1) -> dict[str, Any]:
    """The JSON body of a request the emulator received."""
    return server.requests[index].json


def expected_stream(chunks: list[str]) -> list[tuple[bool, str]]:
    """The documented accumulative sequence for a reply streamed as ``chunks``."""
    if not chunks:
        return [(True, "")]
    items, text = [], ""
    for i, chunk in enumerate(chunks):
        text += chunk
        items.append((i == len(chunks) - 1, text))
    return items


def tool_blocks(calls: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    blocks = [
        {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
        for c in calls
    ]
    return blocks or None


# -- stream / non-stream parity ---------------------------------------------------------------
PARITY_CASES: dict[str, dict[str, Any]] = {
    "text": {
        "chunks": ["The quick", " brown", " fox."],
        "prompt_tokens": 9,
        "completion_tokens": 4,
    },
    "text_cjk": {"chunks": ["你好", "，世界", "!"], "prompt_tokens": 9, "completion_tokens": 4},
    "reasoning": {
        "chunks": ["The answer", " is 42."],
        "reasoning": ["Let me ", "think it ", "through."],
        "prompt_tokens": 7,
        "completion_tokens": 12,
    },
    "tools_only": {
        "chunks": [],
        "tool_calls": [CALL_A],
        "prompt_tokens": 20,
        "completion_tokens": 8,
    },
    "text_and_two_tools": {
        "chunks": ["Checking ", "both."],
        "tool_calls": [CALL_A, CALL_B],
        "prompt_tokens": 30,
        "completion_tokens": 15,
    },
    "reasoning_and_tools": {
        "chunks": ["On it."],
        "reasoning": ["Need ", "weather."],
        "tool_calls": [CALL_A],
        "prompt_tokens": 11,
        "completion_tokens": 9,
    },
    "default_usage": {"chunks": ["Fine", " defaults."], "reasoning": ["Let me ", "think."]},
}
# The emulators' usage when a script names none.
DEFAULT_TOKENS = {"prompt_tokens": 5, "completion_tokens": 2}
# ``@parity_cases`` parametrises a test over ``script``, one per case.
parity_cases = pytest.mark.parametrize("script", PARITY_CASES.values(), ids=list(PARITY_CASES))
OPENAI_FINISH = ("tool_calls", "stop")  # (with tool calls, without)


def check_reply(
    response: Any,
    script: dict[str, Any],
    finish: tuple[str, str] = OPENAI_FINISH,
    request_id: str | None = None,
    ids: bool = True,
) -> None:
    """``response`` is the reply ``script`` scripted: text, reasoning, tool calls (with the
    scripted ids, or without ``ids`` when the provider sends none), the provider's
    ``finish`` reasons, the exact usage (not estimated), and a request id starting with
    ``request_id`` (when given)."""
    calls = script.get("tool_calls", [])
    assert response.text == "".join(script["chunks"])
    assert response.reasoning == ("".join(script["reasoning"]) if "reasoning" in script else None)
    if ids:
        assert response.tool_calls == tool_blocks(calls)
    else:
        assert [(c["name"], c["input"]) for c in response.tool_calls or []] == [
            (c["name"], c["arguments"]) for c in calls
        ]
    assert response.finish_reason == (finish[0] if calls else finish[1])
    tokens = {**DEFAULT_TOKENS, **script}
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        tokens["prompt_tokens"],
        tokens["completion_tokens"],
        tokens["prompt_tokens"] + tokens["completion_tokens"],
    )
    assert not usage.estimated
    if request_id is not None:
        assert response.request_id and response.request_id.startswith(request_id)


def check_parity(
    model: Any, script: dict[str, Any], messages: Any = MESSAGES, **shapes: Any
) -> tuple[Any, Any]:
    """Call ``model`` without and with streaming; both replies must be ``script``'s (see
    ``check_reply`` for the provider's ``shapes``), the stream accumulative and answer-only
    (never the reasoning), the tool-call ids the same. Returns (plain, streamed)."""
    plain = model(messages)
    streamed = model(messages, stream=True)
    items = list(streamed.stream)
    assert plain.stream is None
    assert items == expected_stream(script["chunks"])
    for response in (plain, streamed):
        check_reply(response, script, **shapes)
    assert [c["id"] for c in plain.tool_calls or []] == [c["id"] for c in streamed.tool_calls or []]
    return plain, streamed


# -- stream from the config and per call -----------------------------------------------------
stream_settings = pytest.mark.parametrize(
    ("config_stream", "call_stream", "expect_stream"),
    [(True, None, True), (True, False, False), (False, True, True), (False, None, False)],
)


def check_stream_setting(
    server: Any,
    model: Any,
    call_stream: bool | None,
    expect_stream: bool,
    streamed: Callable[[Any], bool] = lambda request: request.json.get("stream", False),
) -> Any:
    """A call with ``stream=call_stream`` streams (on the wire, as ``streamed`` reads the
    request, and in the reply) exactly when ``expect_stream``. Returns the request."""
    response = model(MESSAGES, stream=call_stream)
    request = server.requests[-1]
    assert streamed(request) is expect_stream
    assert (response.stream is not None) is expect_stream
    assert response.text == "Hello!"
    return request


# -- faults -----------------------------------------------------------------------------------
malformed_faults = pytest.mark.parametrize(
    "fault", [Fault(malformed=True), Fault(empty_body=True)], ids=["json", "empty"]
)


def mid_stream_faults(
    drop_after: int, stream_error: dict[str, Any], error: type = errors.ProviderError
) -> Any:
    """Parametrises ``(fault, error)``: the stream dropped after ``drop_after`` events, or an
    in-stream ``stream_error`` event there (raising ``error``)."""
    return pytest.mark.parametrize(
        ("fault", "error"),
        [
            (Fault(drop_after=drop_after), errors.ProviderConnectionError),
            (Fault(drop_after=drop_after, stream_error=stream_error), error),
        ],
        ids=["dropped", "error-event"],
    )


# The HTTP failures every provider maps the same way: (fault, error, requests made).
TYPED_FAILURES = {
    "429-persists": (Fault(status=429, headers={"Retry-After": "0"}, times=5), "RateLimitError", 3),
    "500-persists": (Fault(status=500, times=5), "ServerError", 3),
    "401": (Fault(status=401), "AuthenticationError", 1),
    "403": (Fault(status=403), "AuthenticationError", 1),
    "404": (Fault(status=404), "BadRequestError", 1),
    "400": (Fault(status=400), "BadRequestError", 1),
    # Too long to wait: raised at once.
    "429-retry-after-too-long": (
        Fault(status=429, headers={"Retry-After": "300"}),
        "RateLimitError",
        1,
    ),
}


def typed_failures(*names: str, arg: str = "requests") -> Any:
    """Parametrises ``(fault, error, <arg>)`` over the ``TYPED_FAILURES`` named (all without
    names)."""
    names = names or tuple(TYPED_FAILURES)
    rows = [TYPED_FAILURES[n] for n in names]
    return pytest.mark.parametrize(
        ("fault", "error", arg),
        [(fault, getattr(errors, error), requests) for fault, error, requests in rows],
        ids=list(names),
    )


def check_failure(
    server: Any,
    model: Any,
    fault: Any,
    error: type,
    requests: int,
    retry_waits: Any = None,
    stream: bool = False,
) -> Any:
    """A failing server: ``error`` after ``requests`` attempts, each retry after a short wait
    (Retry-After: 0, or the backoff; nobody waits for a long Retry-After). Returns the error."""
    server.add_fault(fault)
    with pytest.raises(error) as info:
        model(MESSAGES, stream=stream)
    err = info.value
    if retry_waits is not None:
        assert len(retry_waits) == requests - 1
        assert all(w <= 0.02 for w in retry_waits.seconds())
    assert len(server.requests) == requests == err.attempts
    assert err.status == fault.status
    return err


def check_echoed_key(
    server: Any,
    config: dict[str, Any],
    message: str,
    error: type = errors.AuthenticationError,
    status: int = 401,
    header: tuple[str, str] = ("authorization", "Bearer {key}"),
    **fault: Any,
) -> Any:
    """The server rejects the key and echoes it (``message`` + the key): ``error``, not retried,
    the key sent in ``header`` and found nowhere in the error. Returns the error."""
    key = config["api_key"]
    server.add_fault(Fault(status=status, message=message + key, **fault))
    with pytest.raises(error) as info:
        load(config)(MESSAGES)
    err = info.value
    assert len(server.requests) == 1
    assert server.requests[0].headers[header[0]] == header[1].format(key=key)
    assert key not in str(err) and key not in repr(err)
    return err


@contextlib.contextmanager
def recorded_run(config: dict[str, Any], tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """``init()`` with ``config`` and invocation records in ``tmp_path``; yields (the model,
    the run dir). Afterwards no file of the run holds the key, and the logger is reset."""
    try:
        agentscope_legacy.init(model_configs=[config], save_dir=str(tmp_path), save_api_invoke=True)
        run_dir = agentscope_legacy.get_runtime().run_dir
        assert run_dir is not None
        yield load_model_by_config_name(config["config_name"]), run_dir
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert config["api_key"].encode() not in path.read_bytes(), path
    finally:
        setup_logger(None, "INFO", save_log=False)


def invocations(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "invocations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def recorded_calls(
    server: Any, config: dict[str, Any], tmp_path: Path, call: dict[str, Any] = CALL_A
) -> list[dict[str, Any]]:
    """A recorded run (``recorded_run``: no file holds the key) of one call and one stream of
    a reply with reasoning and ``call``; both records carry the usage. Returns the records."""
    with recorded_run(config, tmp_path) as (model, run_dir):
        server.set_reply(reasoning="hmm", tool_calls=[call], prompt_tokens=11)
        model(MESSAGES)
        assert model(MESSAGES, stream=True).text == "Hello!"
        records = invocations(run_dir)
    assert [r["usage"]["prompt_tokens"] for r in records] == [11, 11]
    return records


def check_malformed(server: Any, model: Any, fault: Any, stream: bool = False) -> Any:
    """A malformed or empty reply is a ResponseFormatError, never retried. Returns it."""
    server.add_fault(fault)
    with pytest.raises(errors.ResponseFormatError) as info:
        _ = model(MESSAGES, stream=stream).text
    assert len(server.requests) == 1
    return info.value


def check_timeout(server: Any, model: Any, at_least: float | None = 0.25) -> Any:
    """A stalled server: the configured timeout (not a 30 s wait) raises after ``at_least``
    seconds, without retries (``max_retries=0``). Returns the error."""
    server.add_fault(Fault(delay=STALL))
    started = time.perf_counter()
    with pytest.raises(errors.ProviderTimeoutError) as info:
        model(MESSAGES)
    if at_least is not None:
        assert time.perf_counter() - started >= at_least
    assert len(server.requests) == 1
    return info.value


def check_refused(config: dict[str, Any], attempts: int = 2, stream: bool = False) -> None:
    """A config pointing at ``refused_server()``: a connection error after ``attempts``."""
    with pytest.raises(errors.ProviderConnectionError) as info:
        load(config)(MESSAGES, stream=stream)
    assert info.value.attempts == attempts


def check_waits(retry_waits: Any, requests: int, retry_after: float | None, started: float) -> None:
    """The retries waited what the server asked for (and did wait), else a short backoff."""
    waits = retry_waits.seconds()
    assert len(waits) == requests - 1
    if retry_after is None:  # backoff from retry_interval 0.01: at most 0.01 s, then 0.02 s
        assert all(w <= 0.01 * 2**i for i, w in enumerate(waits))
    else:  # what the server asked for, and the wait did happen
        assert waits == [retry_after] * (requests - 1)
        assert time.perf_counter() - started >= sum(waits)


# Failures a retry gets past: (fault, requests made, the Retry-After waited or None: backoff).
TRANSIENT_FAULTS = {
    "429-retry-after": (Fault(status=429, headers={"Retry-After": "0.1"}, times=2), 3, 0.1),
    "500": (Fault(status=500), 2, None),
    "503": (Fault(status=503), 2, None),
    "503-twice": (Fault(status=503, times=2), 3, None),
}


def transient_faults(
    *names: str, extra: dict[str, Any] | None = None, arg: str = "requests"
) -> Callable[[Any], Any]:
    """Parametrises ``(fault, <arg>, retry_after)`` over the ``TRANSIENT_FAULTS`` named and the
    provider's ``extra`` rows, and ``stream`` over a call and the opening of a stream."""
    rows = {**{n: TRANSIENT_FAULTS[n] for n in names}, **(extra or {})}
    faults = pytest.mark.parametrize(
        ("fault", arg, "retry_after"), list(rows.values()), ids=list(rows)
    )
    streams = pytest.mark.parametrize("stream", [False, True], ids=["call", "stream-open"])
    return lambda test: streams(faults(test))


def check_retried(
    server: Any,
    model: Any,
    retry_waits: Any,
    fault: Any,
    requests: int,
    retry_after: float | None,
    stream: bool,
    messages: Any = MESSAGES,
) -> None:
    """A transient ``fault`` is retried (``requests`` in all) and the call then succeeds."""
    server.set_reply(chunks=["all ", "good"])
    server.add_fault(fault)
    started = time.perf_counter()
    response = model(messages, stream=stream)
    assert response.text == "all good"
    check_waits(retry_waits, requests, retry_after, started)
    assert len(server.requests) == requests


def check_partial(
    server: Any, model: Any, fault: Any, error: type, messages: Any = MESSAGES
) -> tuple[Any, list[Any], Any]:
    """A stream of "ab", "cd", "ef", "gh" failing after "cd" (``fault``) raises ``error`` with
    the partial text and is never retried. Returns (error, items seen, response)."""
    server.set_reply(chunks=["ab", "cd", "ef", "gh"])
    server.add_fault(fault)
    response = model(messages, stream=True)
    seen = []
    with pytest.raises(error) as info:
        for item in response.stream:
            seen.append(item)
    err = info.value
    assert err.partial_text == "abcd"
    assert all(not last for last, _ in seen)
    assert len(server.requests) == 1  # never retried midway
    return err, seen, response


def check_sticky(response: Any, err: Any) -> None:
    """The failure sticks: the text is never silently partial."""
    with pytest.raises(type(err)) as again:
        _ = response.text
    assert again.value is err


def check_embeddings(response: Any, texts: str | list[str]) -> int:
    """One vector per text, the emulator's vector of it; usage counts the words (returned)."""
    inputs = [texts] if isinstance(texts, str) else texts
    assert len(response.embedding) == len(inputs)
    for vector, text in zip(response.embedding, inputs, strict=True):
        assert vector == pytest.approx(embedding_vector(text), rel=1e-6, abs=1e-7)
    words = sum(len(t.split()) for t in inputs)
    assert response.usage.prompt_tokens == words
    return words


def break_after_first(server: Any, model: Any) -> Any:
    """Stop iterating a stream of "ab", "cd", "ef", "gh" after its first item: the reply is
    cancelled. Returns it."""
    server.set_reply(chunks=["ab", "cd", "ef", "gh"])
    response = model(MESSAGES, stream=True)
    for item in response.stream:
        assert item == (False, "ab")
        break
    assert response.finish_reason == "cancelled"
    return response


def openai_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool call as an OpenAI-shaped assistant message carries it."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def load_two(
    config: Callable[..., dict[str, Any]], server: Any, other: Any, model_name: str
) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    """Configs "one" (for ``server``) and "two" (for ``other``, with ``model_name``), each
    with its own key, loaded side by side: (first config, second config, one, two)."""
    first = config(server, config_name="one")
    second = config(other, config_name="two", model_name=model_name)
    read_model_configs([first, second])
    return first, second, load_model_by_config_name("one"), load_model_by_config_name("two")


def check_two_configs(
    config: Callable[..., dict[str, Any]], server: Any, other: Any, model_name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two configs of one type, each with its own key and server, answer side by side; the
    ``authorization`` header carries each one's key. Returns the two configs."""
    first, second, one, two = load_two(config, server, other, model_name)
    other.set_reply(text="from two")
    assert [m(MESSAGES).text for m in (one, two, one)] == ["Hello!", "from two", "Hello!"]
    assert [r.headers["authorization"] for r in server.requests] == [
        f"Bearer {first['api_key']}"
    ] * 2
    (request,) = other.requests
    assert request.headers["authorization"] == f"Bearer {second['api_key']}"
    assert request.json["model"] == model_name
    return first, second


timeouts = pytest.mark.parametrize(
    "timeout", [0.3, {"connect": 1, "read": 0.3}], ids=["number", "mapping"]
)


def png_file(tmp_path: Path) -> Path:
    image = tmp_path / "cat.png"
    image.write_bytes(TINY_PNG)
    return image


def check_merged_format(model: Any, system: str) -> None:
    """The common format() strategies: a multi-agent history merged into one user turn under
    the system prompt, or one message per Msg."""
    prompt = Msg("system", system, role="system")
    history = [Msg("alice", "hi", role="user"), Msg("bob", "hello", role="assistant")]
    assert model.format(prompt, history) == [
        {"role": "system", "content": system},
        {"role": "user", "content": "## Conversation History\nalice: hi\nbob: hello"},
    ]
    assert model.format(prompt, history, multi_agent_mode=False) == [
        {"role": "system", "content": system},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


# -- keys -------------------------------------------------------------------------------------
def check_missing_key(monkeypatch: Any, model_type: str, variable: str, **fields: Any) -> str:
    """No key in the config nor in ``variable``: a ConfigError naming both the variable and the
    config, raised when the model is built. Returns its message."""
    monkeypatch.delenv(variable, raising=False)
    read_model_configs([{"config_name": "nokey", "model_type": model_type, **fields}])
    with pytest.raises(errors.ConfigError) as info:
        load_model_by_config_name("nokey")
    message = str(info.value)
    assert variable in message and "nokey" in message
    return message


def check_key_from_env(
    server: Any,
    monkeypatch: Any,
    variable: str,
    key: str,
    config: dict[str, Any],
    header: tuple[str, str] = ("authorization", "Bearer {key}"),
) -> Any:
    """A config without a key (``api_key`` left out, or None) takes it from ``variable`` and
    sends it in ``header``. Returns the model."""
    monkeypatch.setenv(variable, key)
    if config.get("api_key") is not None:
        del config["api_key"]
    model = load(config)
    assert model(MESSAGES).text == "Hello!"
    assert server.requests[-1].headers[header[0]] == header[1].format(key=key)
    return model


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused_server() -> Any:
    """A stand-in emulator whose address refuses connections."""
    base_url = f"http://127.0.0.1:{closed_port()}"
    return SimpleNamespace(base_url=base_url, api_base=base_url + "/api/v1")
