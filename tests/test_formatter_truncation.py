"""Truncation to ``max_tokens``: properties over random conversations, for every formatter.

The counter is deterministic and offline: a quarter of the characters of the formatted JSON.
Every message carries a marker (``[m<i>]``, ``[call<k>]``, ``[result<k>]``) that names the input
message it came from, so the properties read the formatted output directly:

* the result fits (or a ValueError says that even the minimum does not);
* the system prompt is kept;
* the kept messages keep their relative order, and the dropped ones are the oldest;
* a tool call is never kept without its results, nor a result without its call;
* nothing is dropped that did not have to be (an input that fits comes back unchanged).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from loguru import logger

from agentscope_legacy.formatter import (
    AnthropicChatFormatter,
    OpenAIChatFormatter,
    OpenAIMultiAgentFormatter,
)
from agentscope_legacy.formatter._base import truncation_groups
from agentscope_legacy.message import Msg, text_block, tool_result_block, tool_use_block
from agentscope_legacy.token import TokenCounterBase
from tests.test_formatter_golden import FORMATTERS

MARKER = re.compile(r"\[(m|call|result)(\d+)\]")


class QuarterCharCounter(TokenCounterBase):
    """Tokens = characters of the JSON (messages and tools) / 4, rounded up."""

    def __init__(self) -> None:
        self.calls = 0

    async def count(self, messages: list[dict[str, Any]], tools: Any = None) -> int:
        self.calls += 1
        return math.ceil(len(json.dumps([messages, tools or []], ensure_ascii=False)) / 4)


def count(messages: list[dict[str, Any]], tools: Any = None) -> int:
    return asyncio.run(QuarterCharCounter().count(messages, tools))


def run(formatter: Any, msgs: list[Msg], **kwargs: Any) -> list[dict[str, Any]]:
    return asyncio.run(formatter.format(msgs, **kwargs))


@st.composite
def conversations(draw: st.DrawFn) -> list[Msg]:
    """A system prompt (or not), then plain turns and tool episodes (parallel calls, results
    in one or several messages, in any order)."""
    msgs: list[Msg] = []
    if draw(st.booleans()):
        msgs.append(Msg("system", "[m0] " + "s" * draw(st.integers(0, 300)), "system"))
    calls = 0
    for _ in range(draw(st.integers(0, 10))):
        i = len(msgs)
        if draw(st.integers(0, 2)) < 2:
            name, role = draw(st.sampled_from([("Alice", "user"), ("Bob", "assistant")]))
            msgs.append(Msg(name, f"[m{i}] " + "x" * draw(st.integers(0, 300)), role))
            continue
        ids = list(range(calls, calls + draw(st.integers(1, 3))))
        calls += len(ids)
        uses = [tool_use_block(f"id{c}", f"tool{c}", {"q": f"[call{c}]"}) for c in ids]
        msgs.append(Msg("Bob", [text_block(f"[m{i}] calling"), *uses], "assistant"))
        results = [
            tool_result_block(f"id{c}", f"[result{c}] " + "r" * draw(st.integers(0, 200)))
            for c in draw(st.permutations(ids))
        ]
        if draw(st.booleans()):
            msgs.append(Msg("system", results, "system"))
        else:
            msgs += [Msg("system", [r], "system") for r in results]
    return msgs


def origin(msgs: list[Msg]) -> dict[str, int]:
    """Marker -> index of the input message it is in."""
    where: dict[str, int] = {}
    for i, msg in enumerate(msgs):
        for match in MARKER.finditer(json.dumps(msg.content)):
            where.setdefault(match.group(0), i)
    return where


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    cls=st.sampled_from(FORMATTERS),
    msgs=conversations(),
    fraction=st.floats(0.3, 1.1),
)
def test_truncation_properties(cls, msgs, fraction):
    full = run(cls(), msgs)
    budget = max(1, int(count(full) * fraction))
    formatter = cls(token_counter=QuarterCharCounter(), max_tokens=budget)
    head, groups = truncation_groups(msgs)
    try:
        result = run(formatter, msgs)
    except ValueError as exc:
        event("even the minimum does not fit")
        # Only when even the minimum does not fit: the system prompt alone, or the newest
        # group when there is no system prompt.
        minimum = head if head else (groups[-1] if groups else [])
        assert count(run(cls(), [msgs[i] for i in minimum])) > budget, exc
        return

    assert count(result) <= budget  # it fits
    if count(full) <= budget:
        event("fits as it is")
        assert result == full  # truncated only when needed
        return
    event("truncated")

    where = origin(msgs)
    text = json.dumps(result, ensure_ascii=False)
    found = [m.group(0) for m in MARKER.finditer(text)]
    kept = sorted({where[m] for m in found})
    # Relative order: markers appear in the order of their messages.
    positions = [where[m] for m in found]
    assert positions == sorted(positions)
    # The system prompt is kept.
    if head:
        assert 0 in kept
    # Calls and results travel together.
    kept_calls = {m[5:-1] for m in found if m.startswith("[call")}
    kept_results = {m[7:-1] for m in found if m.startswith("[result")}
    assert kept_calls == kept_results
    # The oldest went first: what is kept (but the system prompt) is a run of newest groups,
    # and adding back the newest dropped group would not fit.
    kept_groups = [g for g in groups if set(g) & set(kept)]
    assert kept_groups == groups[len(groups) - len(kept_groups) :]
    assert all(set(g) <= set(kept) for g in kept_groups)
    dropped = groups[: len(groups) - len(kept_groups)]
    assert dropped, "something must have been dropped"
    bigger = sorted(head + dropped[-1] + [i for g in kept_groups for i in g])
    assert count(run(cls(), [msgs[i] for i in bigger])) > budget
    assert result == run(cls(), [msgs[i] for i in sorted(kept)])


def test_an_input_that_fits_is_returned_unchanged_and_counted_once():
    msgs = [Msg("system", "Be brief.", "system"), Msg("Alice", "Hi!", "user")]
    counter = QuarterCharCounter()
    formatter = OpenAIChatFormatter(token_counter=counter, max_tokens=10_000)
    assert run(formatter, msgs) == run(OpenAIChatFormatter(), msgs)
    assert counter.calls == 1


def test_no_counter_or_no_budget_means_no_truncation():
    msgs = [Msg("Alice", "x" * 4000, "user")]
    full = run(OpenAIChatFormatter(), msgs)
    assert run(OpenAIChatFormatter(max_tokens=1), msgs) == full
    assert run(OpenAIChatFormatter(token_counter=QuarterCharCounter()), msgs) == full


def test_truncation_is_logged_with_counts():
    records: list[Any] = []
    sink = logger.add(lambda m: records.append(m.record["message"]), level="INFO")
    try:
        msgs = [
            Msg("system", "Be brief.", "system"),
            Msg("Alice", "old " * 100, "user"),
            Msg("Bob", "older reply " * 50, "assistant"),
            Msg("Alice", "What now?", "user"),
        ]
        formatter = OpenAIMultiAgentFormatter(token_counter=QuarterCharCounter(), max_tokens=120)
        result = run(formatter, msgs)
    finally:
        logger.remove(sink)
    assert "What now?" in json.dumps(result) and "older reply" not in json.dumps(result)
    logged = [r for r in records if "max_tokens=120" in r]
    assert len(logged) == 1  # one line per truncation, however many steps it took
    assert "removed the oldest 2 message(s), 2 kept" in logged[0]
    took, now = map(int, re.search(r"took (\d+) tokens.*now (\d+) tokens", logged[0]).groups())
    assert took > 120 >= now


def test_a_tool_call_goes_with_its_results():
    msgs = [
        Msg("system", "sys", "system"),
        Msg("Bob", [tool_use_block("a", "f"), tool_use_block("b", "f")], "assistant"),
        Msg("system", [tool_result_block("a", "A" * 400)], "system"),
        Msg("system", [tool_result_block("b", "B" * 10)], "system"),
        Msg("Alice", "and now?", "user"),
    ]
    full = run(AnthropicChatFormatter(), msgs)
    budget = count(full) - 1
    result = run(
        AnthropicChatFormatter(token_counter=QuarterCharCounter(), max_tokens=budget), msgs
    )
    assert result == run(AnthropicChatFormatter(), [msgs[0], msgs[4]])


def test_tools_count_against_the_budget():
    msgs = [Msg("Alice", "first " * 60, "user"), Msg("Alice", "second", "user")]
    tools = [{"type": "function", "function": {"name": "f", "description": "d" * 200}}]
    full = run(OpenAIChatFormatter(), msgs)
    formatter = OpenAIChatFormatter(token_counter=QuarterCharCounter(), max_tokens=count(full) + 5)
    assert run(formatter, msgs) == full
    assert run(formatter, msgs, tools=tools) == run(OpenAIChatFormatter(), msgs[1:])


def test_a_system_prompt_that_does_not_fit_is_an_error():
    msgs = [Msg("system", "rules " * 200, "system"), Msg("Alice", "hi", "user")]
    formatter = OpenAIChatFormatter(token_counter=QuarterCharCounter(), max_tokens=50)
    with pytest.raises(ValueError, match="max_tokens=50: the system prompt alone takes"):
        run(formatter, msgs)


def test_a_newest_message_that_does_not_fit_alone_is_an_error():
    msgs = [Msg("Alice", "hi", "user"), Msg("Alice", "long " * 200, "user")]
    formatter = OpenAIChatFormatter(token_counter=QuarterCharCounter(), max_tokens=50)
    with pytest.raises(ValueError, match="the newest message .* alone takes"):
        run(formatter, msgs)
