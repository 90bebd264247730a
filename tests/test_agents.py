"""Agents: DialogAgent's memory window, DictDialogAgent's JSON contract and re-asks,
UserAgent's scripted and interactive input, and speak() closing a stream on Ctrl-C."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema.exceptions import SchemaError

import agentscope_legacy
from agentscope_legacy.agents import (
    AgentBase,
    DialogAgent,
    DictDialogAgent,
    UserAgent,
    UserInputError,
)
from agentscope_legacy.agents._json_reply import find_json_object, format_instruction
from agentscope_legacy.errors import ResponseParsingError
from agentscope_legacy.message import Msg
from agentscope_legacy.models import read_model_configs
from agentscope_legacy.models.response import Delta, ModelResponse

VERDICT = {
    "type": "object",
    "properties": {"verdict": {"enum": ["continue", "stop"]}, "score": {"type": "integer"}},
    "required": ["verdict"],
}


@pytest.fixture
def emu(openai_server):
    read_model_configs(
        {
            "config_name": "emu",
            "model_type": "openai_chat",
            "model_name": "m",
            "base_url": openai_server.base_url + "/v1",
            "api_key": "sk-test-agents-0001",
            "stream": True,
            "max_retries": 0,
        }
    )
    return openai_server


def prompt_text(request) -> str:
    return "\n".join(m["content"] or "" for m in request.json["messages"])


# -- DialogAgent -------------------------------------------------------------------------------
def test_dialog_agent_streams_its_reply_and_remembers_it(emu, capsys):
    emu.set_reply(text="Hello there")
    agent = DialogAgent("a", "Be brief.", "emu")
    msg = agent(Msg("user", "Hi", "user"))
    assert (msg.name, msg.content, msg.role) == ("a", "Hello there", "assistant")
    assert capsys.readouterr().out == "a: Hello there\n"
    assert [m.content for m in agent.memory] == ["Hi", "Hello there"]


def test_two_speakers_get_plain_chat_turns(emu):
    """A user and one assistant (what `chat` and examples/conversation.yaml are): the prompt is
    chat turns, not the multi-agent history block."""
    emu.set_reply(text="Paris.")
    agent = DialogAgent("assistant", "Be brief.", "emu")
    agent(Msg("user", "Capital of France?", "user"))
    agent(Msg("user", "And of Italy?", "user"))
    assert emu.requests[-1].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]


def test_more_speakers_get_the_multi_agent_history(emu):
    emu.set_reply(text="Agreed.")
    bob = DialogAgent("bob", "You are Bob.", "emu")
    # Alice's reply has the assistant role too: for Bob it is not his own turn.
    bob.observe(Msg("moderator", "Topic: tea.", "user"))
    bob(Msg("alice", "Tea is best.", "assistant"))
    messages = emu.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "moderator: Topic: tea." in messages[1]["content"]
    assert "alice: Tea is best." in messages[1]["content"]
    # Two speakers in the same role cannot be told apart by role: history too.
    carol = DialogAgent("carol", "You are Carol.", "emu")
    carol.observe(Msg("ann", "Hi.", "user"))
    carol(Msg("ben", "Hello.", "user"))
    assert "ben: Hello." in emu.requests[-1].json["messages"][1]["content"]


@pytest.mark.parametrize("mode", [True, False])
def test_an_explicit_multi_agent_mode_is_kept(emu, mode):
    agent = DialogAgent("a", "sys", "emu", multi_agent_mode=mode)
    agent(Msg("user", "Hi", "user"))
    messages = emu.requests[-1].json["messages"]
    assert ("## Conversation History" in messages[-1]["content"]) is mode


def test_memory_window_keeps_only_the_last_messages_in_the_prompt(emu):
    agent = DialogAgent("a", "sys", "emu", memory_window=2)
    for text in ("one", "two", "three"):
        agent.observe(Msg("u", text, "user"))
    agent(None)
    sent = prompt_text(emu.requests[-1])
    assert "three" in sent and "two" in sent and "one" not in sent
    with pytest.raises(ValueError, match="memory_window"):
        DialogAgent("a", "sys", "emu", memory_window=0)


# -- DictDialogAgent ---------------------------------------------------------------------------
def test_dict_agent_parses_a_fenced_json_reply_into_metadata(emu, capsys):
    emu.set_reply(text='Sure!\n```json\n{"verdict": "stop", "score": 8}\n```')
    judge = DictDialogAgent("judge", "Judge.", "emu", schema=VERDICT, use_structured_output=False)
    msg = judge(Msg("u", "go", "user"))
    verdict = {"verdict": "stop", "score": 8}
    assert msg.metadata == {**verdict, "structured_output": verdict}
    assert msg.content.startswith("Sure!")
    assert len(emu.requests) == 1
    sent = prompt_text(emu.requests[0])
    assert "JSON object" in sent and '"verdict"' in sent  # the format instruction is sent


def test_dict_agent_content_field_becomes_the_content(emu):
    emu.set_reply(text='{"verdict": "continue", "score": 3}')
    judge = DictDialogAgent("judge", "Judge.", "emu", schema=VERDICT, content_field="verdict")
    assert judge(None).content == "continue"


def test_dict_agent_re_asks_with_the_validation_error(emu):
    replies = iter(['{"verdict": "maybe"}', '{"verdict": "stop"}'])
    emu.set_reply_fn(lambda body: {"text": next(replies)})
    judge = DictDialogAgent(
        "judge", "Judge.", "emu", schema=VERDICT, max_retries=2, use_structured_output=False
    )
    msg = judge(Msg("u", "go", "user"))
    assert msg.get_structured_data() == {"verdict": "stop"} and msg.metadata["verdict"] == "stop"
    assert len(emu.requests) == 2
    retry = prompt_text(emu.requests[1])
    assert '{"verdict": "maybe"}' in retry  # its own bad reply
    assert "could not be used" in retry and "'maybe' is not one of" in retry
    assert [m.content for m in judge.memory] == ["go", '{"verdict": "stop"}']  # no failed tries


def test_dict_agent_keeps_going_with_a_recorded_parse_error(emu):
    emu.set_reply(text="I refuse to answer in JSON.")
    judge = DictDialogAgent(
        "judge", "Judge.", "emu", schema=VERDICT, max_retries=1, use_structured_output=False
    )
    msg = judge(None)
    assert len(emu.requests) == 2
    assert msg.content == "I refuse to answer in JSON."
    assert msg.metadata == {"parse_error": "the reply contains no JSON object", "attempts": 2}


def test_dict_agent_can_raise_instead(emu):
    emu.set_reply(text='{"score": 1}')
    judge = DictDialogAgent(
        "judge", "Judge.", "emu", schema=VERDICT, max_retries=0, on_parse_error="raise"
    )
    with pytest.raises(ResponseParsingError, match="'verdict' is a required property"):
        judge(None)


def test_dict_agent_rejects_bad_settings(emu):
    with pytest.raises(ValueError):
        DictDialogAgent("j", "s", "emu", on_parse_error="ignore")
    with pytest.raises(SchemaError):
        DictDialogAgent("j", "s", "emu", schema={"type": 5})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('The answer: {"a": {"b": [1, 2]}} -- done', {"a": {"b": [1, 2]}}),
        ('```json\n{"a": "in fence"}\n```\nalso {"a": "outside"}', {"a": "in fence"}),
        ('{not json} then {"a": 2}', {"a": 2}),
        ('["a list"] and {"a": 3}', {"a": 3}),
    ],
)
def test_find_json_object(text, expected):
    assert find_json_object(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [("no braces here", "no JSON object"), ("{broken: json", "no valid JSON object")],
)
def test_find_json_object_says_what_is_wrong(text, problem):
    with pytest.raises(ValueError, match=problem):
        find_json_object(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    value=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    before=st.text(alphabet=st.characters(blacklist_characters="{}`"), max_size=20),
    after=st.text(max_size=20),
)
def test_find_json_object_finds_any_embedded_object(value, before, after):
    assert find_json_object(before + json.dumps(value) + after) == value


def test_format_instruction_shows_an_example_and_the_fields():
    text = format_instruction(VERDICT)
    assert '{"verdict": "continue", "score": 0}' in text
    assert '"verdict": one of "continue", "stop"' in text
    assert '"score": integer (optional)' in text


# -- UserAgent ---------------------------------------------------------------------------------
def test_user_agent_uses_scripted_inputs_then_fails_clearly(capsys):
    user = UserAgent("me", inputs=["first", 2])
    assert [user().content, user().content] == ["first", "2"]
    assert capsys.readouterr().out == "me: first\nme: 2\n"
    with pytest.raises(UserInputError, match="not interactive.*2 scripted input"):
        user()


def test_user_agent_reads_the_terminal_when_interactive(monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda: "typed")
    user = UserAgent("me", inputs=["scripted"], interactive=True)
    msg = user(Msg("bot", "question?", "assistant"))
    assert (msg.content, msg.role) == ("typed", "user")
    captured = capsys.readouterr()
    assert captured.err == "User Input: " and captured.out == "me: typed\n"
    assert [m.content for m in user.memory] == ["question?", "typed"]


def test_user_agent_input_fn_and_eof(monkeypatch):
    assert UserAgent("me", input_fn=lambda hint: hint.upper(), input_hint="hi> ")().content == (
        "HI> "
    )

    def eof():
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(UserInputError, match="EOF"):
        UserAgent("me", interactive=True)()


# -- AgentBase ---------------------------------------------------------------------------------
class Echo(AgentBase):
    def reply(self, x=None, **kwargs):
        return Msg(self.name, x.content if x else "", "assistant")


def test_ctrl_c_while_printing_a_stream_closes_it(monkeypatch):
    closed = []

    def source():
        try:
            yield from (Delta("Hel"), Delta("lo"), Delta(" world"))
        finally:
            closed.append(True)

    class InterruptingOut(io.StringIO):
        def write(self, text):
            if text == "lo":
                raise KeyboardInterrupt
            return super().write(text)

    monkeypatch.setattr("sys.stdout", InterruptingOut())
    response = ModelResponse(stream=source())
    with pytest.raises(KeyboardInterrupt):
        Echo("a").speak(response)
    assert closed == [True]
    assert response.is_stream_exhausted and response.finish_reason == "cancelled"


def test_agents_package_keeps_its_names():
    from agentscope_legacy import agents

    assert {"AgentBase", "DialogAgent", "DictDialogAgent", "UserAgent"} <= set(agents.__all__)
    built = agentscope_legacy.init(
        agent_configs=[{"class": "UserAgent", "args": {"name": "u", "inputs": ["x"]}}],
        disable_saving=True,
    )
    assert isinstance(built[0], UserAgent) and built[0]().content == "x"
