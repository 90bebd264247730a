"""The condition language of experiment files: declared tests, never eval."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentscope_legacy.experiment.conditions import describe, evaluate, field_value, problems
from agentscope_legacy.message import Msg

JUDGE = Msg(
    "judge",
    "I agree: Alice wins 8 to 6.",
    "assistant",
    metadata={"verdict": "stop", "score": 8, "notes": {"tags": ["a", "b"]}, "quoted": "7"},
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"contains": "agree"}, True),
        ({"contains": "AGREE"}, False),
        ({"contains": "AGREE", "ignore_case": True}, True),
        ({"equals": "I agree: Alice wins 8 to 6."}, True),
        ({"regex": r"wins \d+ to \d+"}, True),
        ({"regex": "^alice", "ignore_case": True}, False),
        ({"field": "name", "equals": "judge"}, True),
        ({"field": "name", "in": ["host", "judge"]}, True),
        ({"field": "role", "equals": "user"}, False),
        ({"field": "metadata.verdict", "equals": "stop"}, True),
        ({"field": "metadata.verdict", "equals": "STOP", "ignore_case": True}, True),
        ({"field": "metadata.score", "gte": 8}, True),
        ({"field": "metadata.score", "gt": 8}, False),
        ({"field": "metadata.score", "lt": 8.5}, True),
        ({"field": "metadata.quoted", "lte": 7}, True),  # numeric strings compare as numbers
        ({"field": "metadata.verdict", "gt": 1}, False),  # not a number: false, no error
        ({"field": "metadata.notes.tags", "contains": "b"}, True),
        ({"field": "metadata.notes.tags.0", "equals": "a"}, True),
        ({"field": "metadata.missing", "exists": False}, True),
        ({"field": "metadata.verdict", "exists": True}, True),
        ({"field": "metadata.missing", "equals": None}, False),
        ({"all": [{"contains": "agree"}, {"field": "metadata.score", "gte": 7}]}, True),
        ({"any": [{"contains": "nope"}, {"field": "name", "equals": "judge"}]}, True),
        ({"not": {"contains": "agree"}}, False),
    ],
)
def test_evaluate(condition, expected):
    assert not problems(condition)
    assert evaluate(condition, JUDGE) is expected


def test_no_message_yet_fails_every_test_but_not_exists():
    assert evaluate({"contains": ""}, None) is False
    assert evaluate({"exists": False}, None) is True
    assert evaluate({"not": {"contains": "x"}}, None) is True


def test_field_value_reads_message_attributes_and_metadata():
    assert field_value(JUDGE, "content") == JUDGE.content
    assert field_value(JUDGE, "metadata.notes.tags") == ["a", "b"]
    assert field_value(JUDGE, "metadata.notes.tags.5") is None
    assert field_value(Msg("a", [{"type": "text", "text": "block"}], "user")) == "block"


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ({"contains": "a", "equals": "b"}, (), "exactly one test"),
        ({"field": "content"}, (), "found none"),
        ({"regex": "("}, ("regex",), "invalid regular expression"),
        (
            {"all": [{"contains": "a"}, {"regex": "[", "ignore_case": True}]},
            ("all", 1, "regex"),
            "invalid",
        ),
        ({"not": {"contains": "a"}, "field": "name"}, ("field",), "does not apply to 'not'"),
    ],
)
def test_problems(condition, path, message):
    found = problems(condition)
    assert any(p == path and message in m for p, m in found), found


def test_describe():
    assert describe({"field": "metadata.verdict", "equals": "stop"}) == (
        "metadata.verdict equals 'stop'"
    )
    assert describe({"not": {"all": [{"contains": "a"}, {"regex": "b"}]}}) == (
        "not (content contains 'a' and content regex 'b')"
    )


words = st.sampled_from(["agree", "stop", "7", "Alice", "x"])
leaf = st.one_of(
    st.builds(lambda w: {"contains": w}, words),
    st.builds(lambda w: {"field": "metadata.verdict", "equals": w}, words),
    st.builds(lambda n: {"field": "metadata.score", "gte": n}, st.integers(0, 10)),
)
conditions = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@given(conditions)
def test_combinators_follow_boolean_logic(condition):
    value = evaluate(condition, JUDGE)
    assert evaluate({"not": {"not": condition}}, JUDGE) is value
    assert evaluate({"all": [condition]}, JUDGE) is value
    assert evaluate({"any": [condition, {"not": condition}]}, JUDGE) is True
    assert problems(condition) == []


def test_a_catastrophically_backtracking_regex_is_stopped(monkeypatch):
    from agentscope_legacy.errors import ConfigError
    from agentscope_legacy.experiment import conditions

    # The pattern (2**100 paths for the stdlib engine): the regex engine needs none.
    assert evaluate({"regex": "^(a+)+$"}, Msg("judge", "a" * 100 + "!", "assistant")) is False
    monkeypatch.setattr(conditions, "REGEX_TIMEOUT", 0.05)  # a real test takes microseconds
    reply = Msg("judge", "a" * 5000 + "!", "assistant")
    # One that backtracks exponentially on any backtracking engine: stopped, a ConfigError.
    with pytest.raises(ConfigError) as info:
        evaluate({"regex": "(a|aa)+$"}, reply)
    assert "{regex: '(a|aa)+$'}" in str(info.value)
    assert "5,001 characters" in str(info.value) and "backtracks" in str(info.value)
    # Flags still apply.
    assert evaluate({"regex": "^A+!$", "ignore_case": True}, reply) is True
