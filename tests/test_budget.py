"""Budgets: a config's ``budget`` and the run's ``init(budget=...)`` stop further calls with a
QuotaExceededError, checked before each call (no request is sent), never mid-stream.

Every reply here costs 9 prompt + 10 completion tokens (19 in all).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy import experiment
from agentscope_legacy.errors import ConfigError, QuotaExceededError, ServerError
from agentscope_legacy.models import ModelWrapperBase, load_model_by_config_name
from agentscope_legacy.monitor import Budget
from tests.emulators.base import Fault

MESSAGES = [{"role": "user", "content": "Hi"}]
PROMPT, COMPLETION = 9, 10


@pytest.fixture
def emu(openai_server):
    openai_server.set_reply(text="Hello there, friend.", prompt_tokens=PROMPT, completion_tokens=10)
    return openai_server


def config(server: Any, name: str = "gpt", **fields: Any) -> dict[str, Any]:
    return {
        "config_name": name,
        "model_type": "openai_chat",
        "model_name": "gpt-4o-mini",
        "base_url": server.base_url + "/v1",
        "api_key": "sk-budget-test-0001",
        "max_retries": 0,
        **fields,
    }


def start(tmp_path: Path, *configs: dict[str, Any], **init: Any) -> Path:
    agentscope_legacy.init(model_configs=list(configs), save_dir=str(tmp_path), **init)
    return agentscope_legacy.get_runtime().run_dir


def chat_requests(server: Any) -> int:
    return sum(r.path.endswith("/chat/completions") for r in server.requests)


# -- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("budget", "field", "message"),
    [
        ({"max_tokens": -1}, "budget.max_tokens", ">= 0"),
        ({"max_calls": 2.5}, "budget.max_calls", "integer"),
        ({"max_calls": "10"}, "budget.max_calls", "integer"),
        ({"max_token": 10}, "budget", "did you mean 'max_tokens'"),
        ({"max_cost": 1.0}, "budget.max_cost", "needs prices"),
        ({"max_cost": 1.0, "prompt_price": -2}, "budget.prompt_price", ">= 0"),
        ([100], "budget", "expected object"),
    ],
)
def test_a_bad_config_budget_is_a_config_error_at_load_time(tmp_path, budget, field, message):
    path = tmp_path / "models.yaml"
    path.write_text(
        "- config_name: gpt\n  model_type: openai_chat\n  budget: " + json.dumps(budget) + "\n"
    )
    with pytest.raises(ConfigError) as info:
        agentscope_legacy.init(model_configs=str(path), disable_saving=True)
    text = str(info.value)
    assert f"{path}:3: config 'gpt'" in text and message in text, text
    assert any(i.field.startswith(field) for i in info.value.issues), info.value.issues


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"max_tokens": -5}, "budget.max_tokens"),
        ({"max_cost": 3}, "needs prices"),
        ({"max_calls": True}, "expected a number"),
        ({"limit": 3}, "unknown budget field"),
        ("lots", "expected a mapping"),
    ],
)
def test_a_bad_run_budget_is_a_config_error(budget, message):
    with pytest.raises(ConfigError) as info:
        agentscope_legacy.init(disable_saving=True, budget=budget)
    assert message in str(info.value)


def test_a_valid_budget_loads_and_is_saved_with_the_run(emu, tmp_path):
    budget = {"max_tokens": 1000, "max_calls": 10, "max_cost": 0.5, "prompt_price": 0.15}
    run_dir = start(tmp_path, config(emu, budget=budget), budget={"max_calls": 99})
    model = load_model_by_config_name("gpt")
    assert model.budget == Budget(**budget)
    state = json.loads((run_dir / ".config").read_text())
    assert state["monitor"]["budget"]["max_calls"] == 99


# -- per config -------------------------------------------------------------------------------
def test_max_calls_refuses_the_next_call_before_it_is_sent(emu, tmp_path):
    run_dir = start(tmp_path, config(emu, budget={"max_calls": 2}))
    model = load_model_by_config_name("gpt")
    model(MESSAGES)
    model(MESSAGES, stream=True).text  # noqa: B018
    with pytest.raises(QuotaExceededError) as info:
        model(MESSAGES)
    err = info.value
    assert (err.config_name, err.scope, err.limit, err.maximum, err.used) == (
        "gpt",
        "config",
        "max_calls",
        2,
        2,
    )
    assert str(err) == (
        "budget exceeded for config 'gpt': max_calls is 2 and 2 calls have been used "
        "(2 calls); the call to 'gpt' was not made"
    )
    assert chat_requests(emu) == 2  # checked before the call: nothing was sent
    # Refused calls are not usage: two rows; and the refusal is in the log, not silent.
    agentscope_legacy.get_runtime().monitor.close()
    db = sqlite3.connect(run_dir / "agentscope.db")
    assert db.execute("SELECT count(*) FROM usage").fetchone() == (2,)
    db.close()
    assert "budget exceeded for config 'gpt'" in (run_dir / "logging.log").read_text()


def test_max_tokens_counts_prompt_and_completion(emu, tmp_path):
    start(tmp_path, config(emu, budget={"max_tokens": 30}))
    model = load_model_by_config_name("gpt")
    model(MESSAGES)  # 0 used before: 19 after
    model(MESSAGES)  # 19 < 30: allowed, 38 after (the call that crosses the limit completes)
    with pytest.raises(QuotaExceededError) as info:
        model(MESSAGES)
    assert "max_tokens is 30 and 38 tokens have been used" in str(info.value)
    assert chat_requests(emu) == 2
    spent = agentscope_legacy.get_runtime().monitor.spent("gpt")
    assert (spent.calls, spent.tokens) == (2, 38)


def test_max_cost_uses_the_config_prices(emu, tmp_path):
    budget = {"max_cost": 0.0002, "prompt_price": 2.0, "completion_price": 10.0}
    start(tmp_path, config(emu, budget=budget))
    model = load_model_by_config_name("gpt")
    model(MESSAGES)
    model(MESSAGES)
    with pytest.raises(QuotaExceededError) as info:
        model(MESSAGES)
    per_call = (PROMPT * 2.0 + COMPLETION * 10.0) / 1_000_000
    assert info.value.used == pytest.approx(2 * per_call)
    assert "max_cost is 0.0002 and 0.000236 has been used" in str(info.value)


def test_a_stream_that_started_finishes_and_the_next_call_is_refused(emu, tmp_path):
    start(tmp_path, config(emu, budget={"max_tokens": 5}))
    model = load_model_by_config_name("gpt")
    first, second = model(MESSAGES, stream=True), model(MESSAGES, stream=True)  # 0 used yet
    assert [t for _, t in first.stream][-1] == "Hello there, friend."  # 19 > 5: not cut
    assert second.text == "Hello there, friend."
    with pytest.raises(QuotaExceededError):
        model(MESSAGES, stream=True)
    assert chat_requests(emu) == 2


def test_failed_calls_count_as_calls(emu, tmp_path):
    start(tmp_path, config(emu, budget={"max_calls": 1}))
    emu.add_fault(Fault(status=500))
    model = load_model_by_config_name("gpt")
    with pytest.raises(ServerError):
        model(MESSAGES)
    with pytest.raises(QuotaExceededError):
        model(MESSAGES)


def test_budgets_are_per_config(emu, tmp_path):
    start(
        tmp_path,
        config(emu, "small", budget={"max_calls": 1}),
        config(emu, "free"),
    )
    small, free = load_model_by_config_name("small"), load_model_by_config_name("free")
    small(MESSAGES)
    for _ in range(3):
        free(MESSAGES)
    with pytest.raises(QuotaExceededError, match="config 'small'"):
        small(MESSAGES)


# -- per run ----------------------------------------------------------------------------------
def test_the_run_budget_covers_every_config(emu, tmp_path):
    start(tmp_path, config(emu, "a"), config(emu, "b"), budget={"max_calls": 3})
    a, b = load_model_by_config_name("a"), load_model_by_config_name("b")
    a(MESSAGES)
    b(MESSAGES)
    a(MESSAGES)
    with pytest.raises(QuotaExceededError) as info:
        b(MESSAGES)
    assert info.value.scope == "run" and info.value.config_name == "b"
    assert "budget exceeded for the run (all configs): max_calls is 3" in str(info.value)


def test_the_run_cost_uses_config_prices_else_the_run_prices(emu, tmp_path):
    start(
        tmp_path,
        config(emu, "priced", budget={"prompt_price": 1000.0, "completion_price": 1000.0}),
        config(emu, "unpriced"),
        budget={"max_cost": 0.1, "prompt_price": 1.0, "completion_price": 1.0},
    )
    load_model_by_config_name("unpriced")(MESSAGES)  # 19 tokens at 1 per 1M
    load_model_by_config_name("priced")(MESSAGES)  # 19 tokens at 1000 per 1M
    spent = agentscope_legacy.get_runtime().monitor.spent()
    assert spent.cost == pytest.approx(19 / 1e6 + 19 * 1000 / 1e6)
    load_model_by_config_name("unpriced")(MESSAGES)  # 0.019 < 0.1: allowed
    for _ in range(5):  # 0.019 each: 0.114 in all after the fifth
        load_model_by_config_name("priced")(MESSAGES)
    with pytest.raises(QuotaExceededError, match="max_cost is 0.1"):
        load_model_by_config_name("unpriced")(MESSAGES)


def test_a_new_run_starts_from_zero(emu, tmp_path):
    start(tmp_path, config(emu, budget={"max_calls": 1}))
    load_model_by_config_name("gpt")(MESSAGES)
    start(tmp_path / "second", config(emu, budget={"max_calls": 1}), allow_replace=True)
    load_model_by_config_name("gpt")(MESSAGES)


def test_max_calls_holds_under_32_concurrent_callers(emu, tmp_path):
    emu.add_fault(Fault(delay=0.05, times=100))  # replies overlap
    start(tmp_path, config(emu, budget={"max_calls": 10}))
    model = load_model_by_config_name("gpt")
    barrier, outcomes = threading.Barrier(32), []

    def caller() -> None:
        barrier.wait(timeout=30)
        try:
            outcomes.append(model(MESSAGES).text)
        except QuotaExceededError:
            outcomes.append("refused")

    threads = [threading.Thread(target=caller) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("refused") == 22 and chat_requests(emu) == 10


@pytest.mark.skipif(not hasattr(ModelWrapperBase, "acall"), reason="no async API yet")
def test_the_async_path_is_checked_too(emu, tmp_path):
    start(tmp_path, config(emu, budget={"max_calls": 1}))
    model = load_model_by_config_name("gpt")

    async def main() -> None:
        await model.acall(MESSAGES)
        with pytest.raises(QuotaExceededError):
            await model.acall(MESSAGES, stream=True)

    asyncio.run(main())
    assert chat_requests(emu) == 1


def test_an_experiment_stops_at_its_budget(emu, tmp_path):
    doc = {
        "model_configs": [config(emu, "m", stream=True, budget={"max_calls": 3})],
        "agents": {
            "ping": {"class": "DialogAgent", "model": "m", "sys_prompt": "You are ping."},
            "pong": {"class": "DialogAgent", "model": "m", "sys_prompt": "You are pong."},
        },
        "pipeline": [{"loop": {"max_rounds": 10, "steps": ["ping", "pong"]}}],
        "run": {"save_dir": str(tmp_path), "name": "budget"},
    }
    with pytest.raises(QuotaExceededError, match="max_calls is 3"):
        experiment.load(doc).run(quiet=True)
    (run_dir,) = tmp_path.iterdir()
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == 3 and chat_requests(emu) == 3
    assert (run_dir / "usage.txt").exists()  # the run still reports its usage
