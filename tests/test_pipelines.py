"""0.x pipelines (functions and classes) and msghub."""

from __future__ import annotations

import pytest

import agentscope_legacy
from agentscope_legacy.agents import AgentBase
from agentscope_legacy.message import Msg
from agentscope_legacy.msghub import msghub
from agentscope_legacy.pipelines import (
    ForLoopPipeline,
    IfElsePipeline,
    SequentialPipeline,
    SwitchPipeline,
    WhileLoopPipeline,
    forlooppipeline,
    ifelsepipeline,
    sequential_pipeline,
    sequentialpipeline,
    switchpipeline,
    whilelooppipeline,
)


def add(n):
    return lambda x: x + n


def test_sequential_runs_in_order_and_accepts_one_callable():
    assert sequentialpipeline([add(1), lambda x: x * 10], 1) == 20
    assert sequentialpipeline(add(5), 1) == 6
    assert sequential_pipeline is sequentialpipeline
    assert SequentialPipeline([add(1), add(2)])(0) == 3
    with pytest.raises(ValueError, match="No operators provided."):
        sequentialpipeline([], 1)


def test_if_else_and_switch():
    assert ifelsepipeline(lambda x: x > 0, add(1), add(-1), 5) == 6
    assert ifelsepipeline(lambda x: x > 0, add(1), add(-1), -5) == -6
    assert ifelsepipeline(lambda x: False, add(1), x=7) == 7  # default else: identity
    assert IfElsePipeline(lambda x: True, [add(1), add(1)])(0) == 2
    cases = {"a": add(1), "b": [add(2), add(3)]}
    assert switchpipeline(lambda x: "b", cases, x=0) == 5
    assert switchpipeline(lambda x: "zzz", cases, add(100), 0) == 100
    assert SwitchPipeline(lambda x: "a", cases)(0) == 1


def test_loops():
    assert forlooppipeline(add(1), 10, x=0) == 10
    assert forlooppipeline(add(1), 10, lambda x: x >= 3, 0) == 3
    assert ForLoopPipeline(add(2), 3)(0) == 6
    assert whilelooppipeline(add(1), lambda i, x: i < 4, 0) == 4
    assert whilelooppipeline(add(1), x=0) == 0  # default condition: never
    assert WhileLoopPipeline(add(1), lambda i, x: x < 7)(5) == 7


class Parrot(AgentBase):
    """Replies with what it heard last, so that tests can see who heard what."""

    def reply(self, x=None, **kwargs):
        self.observe(x)
        heard = self.memory[-1].content if self.memory else "nothing"
        msg = Msg(self.name, f"{self.name} heard {heard}", "assistant")
        self.observe(msg)
        return msg


def contents(agent):
    return [m.content for m in agent.memory]


def test_msghub_shares_replies_and_the_announcement():
    a, b, c = Parrot("a"), Parrot("b"), Parrot("c")
    hello = Msg("host", "hello", "user")
    with msghub([a, b, c], announcement=hello):
        sequentialpipeline([a, b], None)
    assert contents(c) == ["hello", "a heard hello", "b heard a heard hello"]
    assert contents(a) == ["hello", "a heard hello", "b heard a heard hello"]
    a(None)  # outside the hub nobody else hears it
    assert len(contents(b)) == 3


def test_msghub_add_delete_broadcast_and_no_auto_broadcast():
    a, b, c = Parrot("a"), Parrot("b"), Parrot("c")
    with msghub([a, b]) as hub:
        hub.add(c)
        a(None)
        hub.delete(b)
        hub.broadcast(Msg("host", "news", "user"))
        c(None)
    assert contents(b) == ["a heard nothing"]
    assert contents(a)[-2:] == ["news", "c heard news"]
    d, e = Parrot("d"), Parrot("e")
    with msghub([d, e], broadcast=False) as hub:
        d(None)
        hub.broadcast(Msg("host", "only this", "user"))
    assert contents(e) == ["only this"]


def test_nested_hubs_restore_the_outer_audience():
    a, b, c = Parrot("a"), Parrot("b"), Parrot("c")
    with msghub([a, b, c]):
        with msghub([a, b]):
            a(None)
        assert "a heard nothing" not in contents(c)
        a(None)
        assert contents(c) == ["a heard a heard nothing"]
    assert a._audience == [] and b._audience == []


def test_msghub_is_the_function_at_the_top_level():
    import agentscope_legacy.msghub as module  # noqa: F401  (importing it must not shadow it)

    assert agentscope_legacy.msghub is msghub
    assert "msghub" in agentscope_legacy.__all__
