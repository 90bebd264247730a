"""Endpoint pools (``models/_pool.py``) on the wire: several loopback emulators behind one
config_name, through the real SDKs; one endpoint answering 429/500, dropping the connection,
hanging or refusing connections."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy._secrets import scrub
from agentscope_legacy.errors import (
    AllEndpointsFailedError,
    BadRequestError,
    ConfigError,
    ProviderError,
    QuotaExceededError,
)
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models._pool import EndpointPool
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import STALL, Fault
from tests.emulators.openai_compat import OpenAIEmulator

MESSAGES = [{"role": "user", "content": "hi"}]
KEYS = ["sk-pool-key-aaaa-0001", "sk-pool-key-bbbb-0002", "sk-pool-key-cccc-0003"]


@pytest.fixture(scope="module")
def servers() -> Iterator[list[OpenAIEmulator]]:
    started = [OpenAIEmulator().start() for _ in range(3)]
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def emus(servers: list[OpenAIEmulator]) -> Iterator[list[OpenAIEmulator]]:
    for server in servers:
        server.clear()
    yield servers
    for server in servers:
        server.clear()  # ends any stall left by the test


def chats(server: Any) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.requests)


def entry(server: Any, i: int, **fields: Any) -> dict[str, Any]:
    return {"base_url": server.base_url + "/v1", "api_key": KEYS[i], **fields}


def pool_config(endpoints: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "config_name": "pool",
        "model_type": "openai_chat",
        "model_name": "gpt-4o-mini",
        "max_retries": 0,
        "retry_interval": 0.0,
        "endpoints": endpoints,
        **fields,
    }


def load(config: dict[str, Any]) -> EndpointPool:
    read_model_configs([config], clear_existing=True)
    model = load_model_by_config_name(config["config_name"])
    assert isinstance(model, EndpointPool)
    return model


def first_is(failing: Any, healthy: Any, **fields: Any) -> EndpointPool:
    """A pool that tries ``failing`` first (least_busy: the heavier of two idle endpoints)."""
    endpoints = [entry(failing, 0, weight=10), entry(healthy, 1, weight=1)]
    return load(pool_config(endpoints, routing="least_busy", **fields))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- routing ----------------------------------------------------------------------------------
def test_weighted_routing_spreads_calls_by_weight(emus: list[OpenAIEmulator]) -> None:
    random.seed(17)
    model = load(pool_config([entry(emus[0], 0, weight=3), entry(emus[1], 1, weight=1)]))
    for _ in range(120):
        assert model(MESSAGES).text == "Hello!"
    heavy, light = chats(emus[0]), chats(emus[1])
    # 90/30 expected; a ratio over 1.8 is > 2.5 standard deviations from an even split's.
    assert heavy + light == 120 and heavy > 1.8 * light > 0
    # Each endpoint got its own key.
    for i in (0, 1):
        assert emus[i].requests[-1].headers["authorization"] == f"Bearer {KEYS[i]}"
    assert [s["calls"] for s in model.endpoint_stats()] == [heavy, light]


def test_least_busy_sends_to_the_idle_endpoint(emus: list[OpenAIEmulator]) -> None:
    model = load(
        pool_config([entry(emus[0], 0, weight=5), entry(emus[1], 1)], routing="least_busy")
    )
    held = model(MESSAGES, stream=True)  # open on the heavier endpoint until consumed
    held_iter = iter(held.stream)
    next(held_iter)
    assert chats(emus[0]) == 1 and model.endpoint_stats()[0]["in_flight"] == 1
    assert model(MESSAGES).text == "Hello!"
    assert chats(emus[1]) == 1  # the busy endpoint was passed over
    list(held_iter)
    assert [s["in_flight"] for s in model.endpoint_stats()] == [0, 0]


def test_one_client_per_endpoint_built_once(emus: list[OpenAIEmulator]) -> None:
    model = load(pool_config([entry(emus[0], 0), entry(emus[1], 1)]))
    clients = [id(e.wrapper.client) for e in model._endpoints]
    for _ in range(6):
        model(MESSAGES)
    assert len(set(clients)) == 2
    assert [id(e.wrapper.client) for e in model._endpoints] == clients
    assert load_model_by_config_name("pool") is model


# -- failover ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, message="slow down"),
        Fault(status=500),
        Fault(status=503),
        Fault(drop_after=0),  # the connection closed mid-reply
        Fault(delay=STALL),  # hangs past the config's timeout
    ],
    ids=["429", "500", "503", "dropped", "hang"],
)
def test_failover_to_the_next_endpoint(emus: list[OpenAIEmulator], fault: Fault) -> None:
    emus[1].set_reply(text="from the healthy one")
    emus[0].add_fault(fault)
    model = first_is(emus[0], emus[1], timeout=0.5)
    assert model(MESSAGES).text == "from the healthy one"
    assert chats(emus[0]) == 1 and chats(emus[1]) == 1
    stats = model.endpoint_stats()
    assert stats[0]["failures"] == 1 and stats[0]["calls"] == 0 and stats[1]["calls"] == 1


def test_failover_on_refused_connection(emus: list[OpenAIEmulator]) -> None:
    endpoints = [
        {"base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": KEYS[0], "weight": 10},
        entry(emus[0], 1),
    ]
    model = load(pool_config(endpoints, routing="least_busy"))
    assert model(MESSAGES).text == "Hello!"
    assert "ProviderConnectionError" in model.endpoint_stats()[0]["last_error"]


def test_concurrent_calls_with_a_failing_endpoint_all_succeed(
    emus: list[OpenAIEmulator],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    emus[0].add_fault(Fault(status=500, times=20))
    model = load(pool_config([entry(emus[i], i) for i in range(3)], cooldown={"failures": 99}))
    with ThreadPoolExecutor(8) as workers:
        texts = list(workers.map(lambda _: model(MESSAGES).text, range(64)))
    assert texts == ["Hello!"] * 64
    stats = model.endpoint_stats()
    assert sum(s["calls"] for s in stats) == 64 and [s["in_flight"] for s in stats] == [0, 0, 0]
    assert stats[0]["failures"] == min(chats(emus[0]), 20)


def test_request_errors_are_not_failed_over(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=400, message="bad request"))
    model = first_is(emus[0], emus[1])
    with pytest.raises(BadRequestError):
        model(MESSAGES)
    assert chats(emus[1]) == 0  # another endpoint would refuse it too


def test_every_endpoint_failing_is_one_typed_error(emus: list[OpenAIEmulator]) -> None:
    port = closed_port()
    emus[0].add_fault(Fault(status=500, message="boom zero", times=10))
    emus[1].add_fault(Fault(status=429, message="quota one", times=10))
    endpoints = [
        entry(emus[0], 0),
        entry(emus[1], 1),
        {"base_url": f"http://127.0.0.1:{port}/v1", "api_key": KEYS[2]},
    ]
    model = load(pool_config(endpoints, max_retries=1))
    with pytest.raises(AllEndpointsFailedError) as info:
        model(MESSAGES)
    err = info.value
    assert isinstance(err, ProviderError) and err.attempts == 2  # the retry policy: 2 rounds
    assert chats(emus[0]) == 2 and chats(emus[1]) == 2
    assert set(err.errors) == {e["base_url"] for e in endpoints}
    text = str(err)
    assert "all 3 endpoints failed" in text and "config=pool" in text
    for needle in ("boom zero", "quota one", f"127.0.0.1:{port}", "ServerError", "RateLimitError",
                   "ProviderConnectionError"):
        assert needle in text
    for key in KEYS:
        assert key not in text and key not in repr(err) and key not in repr(model)


def test_every_endpoint_failing_non_retryable_mix_is_not_retried(
    emus: list[OpenAIEmulator],
) -> None:
    emus[0].add_fault(Fault(status=500, times=10))
    model = load(pool_config([entry(emus[0], 0)], max_retries=3))
    with pytest.raises(AllEndpointsFailedError) as info:
        model(MESSAGES)
    assert info.value.status == 500 and info.value.retryable
    assert chats(emus[0]) == 4  # one endpoint, four rounds


def test_cooldown_after_repeated_failures(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=500, times=100))
    model = first_is(emus[0], emus[1], cooldown={"failures": 2, "seconds": 60})
    for _ in range(6):
        assert model(MESSAGES).text == "Hello!"
    assert chats(emus[0]) == 2  # out after its second failure in a row
    assert chats(emus[1]) == 6
    assert model.endpoint_stats()[0]["cooling_for"] > 50


def test_cooldown_ends_and_one_more_failure_cools_again(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=500, times=100))
    model = first_is(emus[0], emus[1], cooldown={"failures": 2, "seconds": 0.2})
    model(MESSAGES)
    model(MESSAGES)
    assert chats(emus[0]) == 2
    import time

    time.sleep(0.25)
    model(MESSAGES)  # back on probation: tried, fails once, out again
    model(MESSAGES)
    assert chats(emus[0]) == 3


def test_a_429_retry_after_cools_that_endpoint(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=429, headers={"retry-after": "30"}))
    model = first_is(emus[0], emus[1])
    for _ in range(3):
        model(MESSAGES)
    assert chats(emus[0]) == 1 and chats(emus[1]) == 3


def test_all_cooling_endpoints_are_still_tried(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=500, times=1))
    model = load(pool_config([entry(emus[0], 0)], cooldown={"failures": 1, "seconds": 60}))
    with pytest.raises(AllEndpointsFailedError):
        model(MESSAGES)
    assert model(MESSAGES).text == "Hello!"  # cooling, but the only one


# -- client-side rate limits -------------------------------------------------------------------
def test_rpm_is_enforced_before_sending(emus: list[OpenAIEmulator]) -> None:
    model = load(pool_config([entry(emus[0], 0, rpm=2), entry(emus[1], 1, rpm=100)]))
    for _ in range(8):
        model(MESSAGES)
    assert chats(emus[0]) <= 2 and chats(emus[0]) + chats(emus[1]) == 8


def test_full_windows_wait_within_the_deadline_else_fail(emus: list[OpenAIEmulator]) -> None:
    model = load(pool_config([entry(emus[0], 0, rpm=1)], deadline=0.5))
    model(MESSAGES)
    with pytest.raises(AllEndpointsFailedError) as info:
        model(MESSAGES)
    assert chats(emus[0]) == 1  # refused on the client, never sent
    assert "client-side limit (rpm=1" in str(info.value)


def test_tpm_counts_the_tokens_of_finished_calls(emus: list[OpenAIEmulator]) -> None:
    emus[0].set_reply(prompt_tokens=5, completion_tokens=2)  # 7 tokens a call
    model = load(pool_config([entry(emus[0], 0, tpm=10), entry(emus[1], 1)], routing="least_busy"))
    for _ in range(5):
        model(MESSAGES)
    assert chats(emus[0]) == 2  # 7, then 14 >= 10: full for a minute
    assert model.endpoint_stats()[0]["prompt_tokens"] == 10


# -- streams ----------------------------------------------------------------------------------
def test_stream_fails_over_before_the_first_chunk(emus: list[OpenAIEmulator]) -> None:
    emus[1].set_reply(chunks=["one ", "two ", "three"])
    emus[0].add_fault(Fault(status=500))
    model = first_is(emus[0], emus[1])
    response = model(MESSAGES, stream=True)
    assert [text for _, text in response.stream][-1] == "one two three"
    assert chats(emus[0]) == 1 and chats(emus[1]) == 1


def test_stream_failing_after_its_first_chunk_is_not_failed_over(
    emus: list[OpenAIEmulator],
) -> None:
    emus[0].set_reply(chunks=["one ", "two ", "three ", "four"])
    emus[0].add_fault(Fault(drop_after=2))
    model = first_is(emus[0], emus[1])
    response = model(MESSAGES, stream=True)
    with pytest.raises(ProviderError) as info:
        list(response.stream)
    assert info.value.partial_text and info.value.partial_text.startswith("one ")
    assert chats(emus[1]) == 0
    assert [s["in_flight"] for s in model.endpoint_stats()] == [0, 0]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_async_call_and_stream_fail_over(emus: list[OpenAIEmulator]) -> None:
    emus[1].set_reply(chunks=["a", "b", "c"])
    emus[0].add_fault(Fault(status=503, times=2))
    model = first_is(emus[0], emus[1])

    async def main() -> tuple[str, str]:
        reply = await model.acall(MESSAGES)
        streamed = await model.acall(MESSAGES, stream=True)
        return reply.text, await streamed.get_text()

    assert run(main()) == ("abc", "abc")
    assert chats(emus[0]) == 2 and chats(emus[1]) == 2
    assert [s["in_flight"] for s in model.endpoint_stats()] == [0, 0]


def test_async_every_endpoint_failing(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=500, times=5))
    emus[1].add_fault(Fault(status=502, times=5))
    model = load(pool_config([entry(emus[0], 0), entry(emus[1], 1)]))
    with pytest.raises(AllEndpointsFailedError) as info:
        run(model.acall(MESSAGES))
    assert len(info.value.errors) == 2


# -- a second provider ------------------------------------------------------------------------
def test_anthropic_pool_fails_over() -> None:
    with AnthropicEmulator() as bad, AnthropicEmulator() as good:
        bad.add_fault(Fault(status=529, times=3))  # Anthropic's "overloaded"
        good.set_reply(text="claude here")
        config = {
            "config_name": "claude",
            "model_type": "anthropic_chat",
            "model_name": "claude-sonnet-4-6",
            "max_retries": 0,
            "routing": "least_busy",
            "endpoints": [
                {"base_url": bad.base_url, "api_key": "sk-ant-pool-0001", "weight": 2},
                {"base_url": good.base_url, "api_key": "sk-ant-pool-0002"},
            ],
        }
        model = load(config)
        assert model(MESSAGES).text == "claude here"
        assert model(MESSAGES, stream=True).text == "claude here"
        headers = good.requests[-1].headers  # the SDK sends the key as x-api-key or a bearer
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        assert len(bad.requests) == 2 and sent == "sk-ant-pool-0002"


def _poolable() -> list[str]:
    """The chat types whose configs take ``base_url`` and ``api_key`` (what a pool sets)."""
    from tests.test_parity import CHAT_TYPES, KEYLESS

    return [t for t, (emulator, fields) in CHAT_TYPES.items()
            if t not in KEYLESS and "base_url" in fields(emulator())]


@pytest.mark.parametrize("model_type", _poolable())
def test_every_poolable_provider_fails_over_through_its_sdk(model_type: str) -> None:
    """A refused first endpoint, then the provider's emulator: streamed and not, through the
    provider's real SDK (each endpoint a wrapper of its own)."""
    from tests.test_parity import CHAT_TYPES

    emulator, fields = CHAT_TYPES[model_type]
    server = emulator()
    server.clear()
    server.set_reply(text="pooled reply")
    given = fields(server)
    good = given.pop("base_url")
    bad = good.replace(f":{server.port}", f":{closed_port()}", 1)
    assert bad != good
    config = {"config_name": f"pool-{model_type}", "model_type": model_type, **given,
              "max_retries": 0, "routing": "least_busy",
              "endpoints": [{"base_url": bad, "api_key": f"{KEYS[0]}-{model_type}", "weight": 10},
                            {"base_url": good, "api_key": f"{KEYS[1]}-{model_type}"}]}
    model = load(config)
    assert model(MESSAGES).text == "pooled reply"
    assert model(MESSAGES, stream=True).text == "pooled reply"
    stats = model.endpoint_stats()
    assert stats[1]["calls"] == 2 and "ProviderConnectionError" in stats[0]["last_error"]
    server.clear()


# -- usage, budgets, secrets ------------------------------------------------------------------
def test_usage_rows_name_the_endpoint_and_hold_no_key(
    emus: list[OpenAIEmulator], tmp_path: Path
) -> None:
    emus[0].add_fault(Fault(status=500, times=100))
    secret_url = emus[1].base_url.replace("http://", "http://user:sk-url-secret-9999@") + "/v1"
    endpoints = [entry(emus[0], 0, weight=10), {"base_url": secret_url, "api_key": KEYS[1]}]
    agentscope_legacy.init(
        model_configs=[pool_config(endpoints, routing="least_busy")],
        save_dir=str(tmp_path),
        save_api_invoke=True,
    )
    run_dir = agentscope_legacy.get_runtime().run_dir
    model = load_model_by_config_name("pool")
    model(MESSAGES)
    assert model(MESSAGES, stream=True).text == "Hello!"
    db = sqlite3.connect(run_dir / "agentscope.db")
    rows = db.execute("SELECT endpoint, status, total_tokens FROM usage").fetchall()
    label = model.endpoints[1]
    assert "sk-url-secret-9999" not in label and label.endswith(f":{emus[1].port}/v1")
    assert rows == [(label, "ok", 7), (label, "ok", 7)]
    lines = (run_dir / "invocations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["endpoint"] for r in records] == [label, label]
    for path in run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (*KEYS, "sk-url-secret-9999"):
                assert secret.encode() not in data, path


def test_a_database_from_before_pools_gains_the_endpoint_column(tmp_path: Path) -> None:
    from agentscope_legacy.monitor import Monitor

    db = sqlite3.connect(tmp_path / "agentscope.db")
    db.execute(
        "CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,"
        " config_name TEXT NOT NULL, model_type TEXT NOT NULL, model_name TEXT NOT NULL,"
        " stream INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
        " completion_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,"
        " latency REAL NOT NULL, time_to_first_token REAL, status TEXT NOT NULL, error TEXT)"
    )
    db.commit()
    db.close()
    monitor = Monitor(run_dir=tmp_path)
    monitor.close()
    columns = [row[1] for row in sqlite3.connect(tmp_path / "agentscope.db").execute(
        "PRAGMA table_info(usage)")]
    assert columns[-1] == "endpoint"


def test_a_failed_over_call_is_one_call_of_the_budget(emus: list[OpenAIEmulator]) -> None:
    emus[0].add_fault(Fault(status=500, times=10))
    model = first_is(emus[0], emus[1], budget={"max_calls": 2})
    model(MESSAGES)
    model(MESSAGES)
    with pytest.raises(QuotaExceededError):
        model(MESSAGES)
    assert chats(emus[1]) == 2


def test_endpoint_keys_are_registered_as_secrets(emus: list[OpenAIEmulator]) -> None:
    load(pool_config([entry(emus[0], 0), entry(emus[1], 1)]))
    assert KEYS[0] not in scrub(f"leaked {KEYS[0]} and {KEYS[1]}")
    assert KEYS[1] not in scrub(f"leaked {KEYS[1]}")


# -- validation at load time ------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


BAD_ENTRIES = [
    ("- {api_key: sk-x}", "endpoints[0].base_url", "missing required field"),
    ("- {base_url: http://a, rpm: 0}", "endpoints[0].rpm", ">= 1"),
    ("- {base_url: http://a, weight: -1}", "endpoints[0].weight", "> 0"),
    ("- {base_url: http://a, tpm: lots}", "endpoints[0].tpm", "expected integer"),
    ("- {base_url: http://a, weigth: 2}", "endpoints[0].weigth", "did you mean 'weight'"),
    ("- {base_url: http://a}\n    - {base_url: http://a}", "endpoints[1].base_url", "same"),
]


@pytest.mark.parametrize(("entries", "field", "message"), BAD_ENTRIES)
def test_bad_endpoint_entries_name_file_config_and_field(
    tmp_path: Path, entries: str, field: str, message: str
) -> None:
    path = write(
        tmp_path,
        "- config_name: pool\n  model_type: openai_chat\n  model_name: m\n  endpoints:\n"
        f"    {entries}\n",
    )
    with pytest.raises(ConfigError) as info:
        read_model_configs(str(path))
    text = str(info.value)
    assert "models.yaml" in text and "config 'pool'" in text
    assert f"field '{field}'" in text and message in text


def test_bad_endpoint_values_do_not_show_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "- config_name: pool\n  model_type: openai_chat\n  endpoints:\n"
        "    - {base_url: http://a, api_key: 12345678901}\n",
    )
    with pytest.raises(ConfigError) as info:
        read_model_configs(str(path))
    assert "endpoints[0].api_key" in str(info.value) and "12345678901" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"routing": "least_busy"}, "routing", "only applies with `endpoints`"),
        ({"cooldown": {"failures": 2}}, "cooldown", "only applies with `endpoints`"),
        ({"endpoints": [], "routing": "fastest"}, "endpoints", "invalid value"),
        ({"endpoints": [{"base_url": "http://a"}], "routing": "fastest"}, "routing", "one of"),
        ({"endpoints": [{"base_url": "http://a"}], "cooldown": {"failures": 0}},
         "cooldown.failures", ">= 1"),
        ({"endpoints": [{"base_url": "http://a"}], "cooldown": {"second": 1}},
         "cooldown.second", "did you mean 'seconds'"),
    ],
)
def test_pool_fields_are_validated(fields: dict[str, Any], field: str, message: str) -> None:
    config = {"config_name": "p", "model_type": "openai_chat", **fields}
    with pytest.raises(ConfigError) as info:
        read_model_configs([config])
    text = str(info.value)
    assert f"field '{field}'" in text and message in text


def test_a_wrapper_without_base_url_cannot_be_pooled() -> None:
    config = {
        "config_name": "local",
        "model_type": "llamacpp_chat",
        "model_path": "m.gguf",
        "endpoints": [{"base_url": "http://a"}],
    }
    from agentscope_legacy.models.manager import ModelManager

    cls = ModelManager().wrapper_class("llamacpp_chat")
    if "base_url" in cls.json_schema()["properties"]:
        pytest.skip("llamacpp_chat takes base_url")
    with pytest.raises(ConfigError) as info:
        read_model_configs([config])
    assert "cannot be served by an endpoint pool" in str(info.value)
