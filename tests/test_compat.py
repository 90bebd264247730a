"""0.x compatibility: errors old ``except`` clauses catch, memory, hooks, config repeats,
piped user input and the opt-in ``agentscope`` alias (``agentscope_legacy.compat``)."""

from __future__ import annotations

import pytest

from agentscope_legacy import errors


@pytest.mark.parametrize(
    "cls",
    [
        errors.ProviderError,
        errors.AuthenticationError,
        errors.BadRequestError,
        errors.RateLimitError,
        errors.ServerError,
        errors.ProviderConnectionError,
        errors.ProviderTimeoutError,
        errors.ResponseFormatError,
    ],
)
def test_provider_errors_are_runtime_errors_as_in_0x(cls):
    with pytest.raises(RuntimeError):
        raise cls("boom", provider="openai", status=500)


def test_config_errors_are_value_errors_as_in_0x():
    from agentscope_legacy.models import load_model_by_config_name, read_model_configs

    read_model_configs([], clear_existing=True)
    with pytest.raises(ValueError, match="cannot find"):
        load_model_by_config_name("no-such-config")


# -- item 1: memory ------------------------------------------------------------------------------


def _msgs(*texts):
    from agentscope_legacy.message import Msg

    return [Msg("a", t, "user") for t in texts]


def test_temporary_memory_has_the_0x_api():
    from agentscope_legacy.agents.memory import MemoryBase, TemporaryMemory

    memory = TemporaryMemory()
    assert isinstance(memory, MemoryBase)
    one, two, three = _msgs("one", "two", "three")
    memory.add(one)
    memory.add([three, two, three])  # a list; three once
    memory.add(None)
    memory.add(one)  # same id: kept once
    assert [m.content for m in memory.get_memory()] == ["one", "three", "two"]
    assert [m.content for m in memory.get_memory(recent_n=2)] == ["three", "two"]
    odd = memory.get_memory(filter_func=lambda i, m: i % 2 == 0)
    assert [m.content for m in odd] == ["one", "two"]
    assert memory.size() == len(memory) == 3
    memory.delete(0)
    memory.delete([0, 7])  # 7 is skipped with a warning, as 0.1.x
    assert [m.content for m in memory] == ["two"]
    memory.add(one)  # deleted, so no longer a duplicate
    assert memory[-1].content == "one" and [m.content for m in memory[:1]] == ["two"]
    memory.clear()
    assert memory.size() == 0 and not memory


def test_memory_rejects_what_is_not_a_message():
    from agentscope_legacy.agents.memory import TemporaryMemory

    with pytest.raises(ValueError, match="expected a Msg"):
        TemporaryMemory().add(42)
    with pytest.raises(ValueError, match="not a message"):
        TemporaryMemory().add({"bogus": 1})


def test_memory_export_and_load_round_trip(tmp_path):
    from agentscope_legacy.agents.memory import TemporaryMemory

    memory = TemporaryMemory()
    memory.add(_msgs("one", "two"))
    path = tmp_path / "memory.json"
    assert memory.export(file_path=str(path)) is None
    assert [m.content for m in memory.export(to_mem=True)] == ["one", "two"]
    with pytest.raises(ValueError, match="file_path"):
        memory.export()
    other = TemporaryMemory()
    other.add(_msgs("zero"))
    other.load(str(path))
    assert [m.content for m in other] == ["zero", "one", "two"]
    other.load(path.read_text(), overwrite=True)  # a JSON string too
    assert [(m.id, m.content) for m in other] == [(m.id, m.content) for m in memory]
    with pytest.raises(ValueError, match="not a file nor JSON"):
        other.load("no such file, not JSON")


def test_agents_remember_through_memory_add():
    from agentscope_legacy.agents import AgentBase
    from agentscope_legacy.agents.memory import TemporaryMemory
    from agentscope_legacy.message import Msg

    class Echo(AgentBase):
        def reply(self, x=None):
            self.memory.add(x)
            msg = Msg(self.name, f"echo {x.content}", "assistant")
            self.memory.add(msg)
            return msg

    agent = Echo("echo")
    assert isinstance(agent.memory, TemporaryMemory)
    question = Msg("user", "hi", "user")
    agent(question)
    agent.observe(question)  # heard again (a broadcast): kept once
    assert [m.content for m in agent.memory.get_memory()] == ["hi", "echo hi"]
    assert AgentBase("quiet", use_memory=False).memory is None


# -- item 2: hooks -------------------------------------------------------------------------------


class _Scripted:
    """An agent class whose reply says 'reply to <input>' (no model)."""

    @staticmethod
    def make():
        from agentscope_legacy.agents import AgentBase
        from agentscope_legacy.message import Msg

        class Replier(AgentBase):
            def reply(self, x=None):
                self._remember(x)
                msg = Msg(self.name, f"reply to {x.content}", "assistant")
                self.speak(msg)
                return msg

        return Replier


def test_reply_hooks_replace_input_and_output():
    from agentscope_legacy.message import Msg

    agent = _Scripted.make()("bot")
    seen = []

    def pre(agent_, x):
        seen.append(x.content)
        x.content = x.content.upper()
        return x

    agent.register_hook("pre_reply", "upper", pre)
    agent.register_hook("post_reply", "sign", lambda a, m: Msg(m.name, m.content + "!", m.role))
    agent.register_hook("post_reply", "nothing", lambda a, m: None)  # None: keep it
    original = Msg("user", "hi", "user")
    out = agent(original)
    assert out.content == "reply to HI!" and original.content == "hi"  # hooks got a copy
    assert seen == ["hi"]
    agent.remove_hook("pre_reply", "upper")
    assert agent(Msg("user", "ho", "user")).content == "reply to ho!"
    with pytest.raises(ValueError, match="no pre_reply hook"):
        agent.remove_hook("pre_reply", "upper")
    with pytest.raises(ValueError, match="unknown hook type"):
        agent.register_hook("pre_replay", "x", pre)
    agent.clear_hooks()
    assert agent(Msg("user", "x", "user")).content == "reply to x"


def test_speak_hooks_see_each_chunk_and_change_what_is_printed(capsys):
    from agentscope_legacy.agents import AgentBase

    agent = AgentBase("bot")
    calls = []

    def pre_speak(agent_, msg, stream, last):
        calls.append((msg.content, stream, last))
        msg.content = msg.content.replace("secret", "******")
        return msg

    agent.register_pre_speak_hook("mask", pre_speak)  # the 0.1.x per-type name
    agent.register_hook("post_speak", "count", lambda a: calls.append("done"))
    agent.speak(iter([(False, "the secret"), (True, "the secret is out")]))
    agent.speak("a secret")
    out = capsys.readouterr().out
    assert "secret" not in out and "the ****** is out" in out and "a ******" in out
    assert calls == [
        ("the secret", True, False),
        ("the secret is out", True, True),
        "done",
        ("a secret", False, True),
        "done",
    ]


def test_observe_hooks_and_class_hooks():
    from agentscope_legacy.agents import AgentBase
    from agentscope_legacy.message import Msg

    Replier = _Scripted.make()
    a, b = Replier("a"), Replier("b")
    log = []
    Replier.register_class_hook("pre_reply", "log", lambda agent, x: log.append(agent.name))
    b.register_hook(
        "pre_observe", "tag", lambda agent, x: Msg(x.name, "[heard] " + x.content, x.role)
    )
    b.register_hook("post_observe", "count", lambda agent: log.append("observed"))
    a.reset_audience([b])
    a(Msg("user", "hi", "user"))
    assert log == ["a", "observed"]  # b's hooks are b's own: a has none
    assert b.memory[-1].content == "[heard] reply to hi"
    b(Msg("user", "yo", "user"))  # its own input is not an observation
    assert log == ["a", "observed", "b"]
    assert AgentBase("other")._hooks_for("pre_reply") == []  # not on other classes
    Replier.clear_class_hooks()
    a(Msg("user", "again", "user"))
    assert log == ["a", "observed", "b", "observed"]


def test_a_subclass_calling_super_reply_runs_the_hooks_once():
    Replier = _Scripted.make()

    class Polite(Replier):
        def reply(self, x=None):
            msg = super().reply(x)
            msg.content += ", please"
            return msg

    from agentscope_legacy.message import Msg

    agent = Polite("p")
    calls = []
    agent.register_hook("pre_reply", "count", lambda a, x: calls.append(1))
    assert agent(Msg("user", "hi", "user")).content == "reply to hi, please"
    assert calls == [1]


# -- item 12: UserAgent with piped input ---------------------------------------------------------


def test_user_agent_reads_piped_lines_then_stops_cleanly(monkeypatch, capsys):
    import io

    from agentscope_legacy.agents import UserAgent
    from agentscope_legacy.agents.user_agent import UserInputEnded

    monkeypatch.setattr("sys.stdin", io.StringIO("hi\r\nsecond line\n"))
    user = UserAgent("me")
    assert [user().content, user().content] == ["hi", "second line"]
    with pytest.raises(UserInputEnded) as ended:
        user()
    assert ended.value.code == 0
    captured = capsys.readouterr()
    assert captured.out == "me: hi\nme: second line\n"
    assert "end of input" in captured.err and "'me'" in captured.err


@pytest.mark.parametrize("stdin", ["closed", "absent"])
def test_user_agent_with_a_closed_or_absent_stdin_is_a_clear_error(monkeypatch, stdin):
    import io

    from agentscope_legacy.agents import UserAgent, UserInputError

    stream = None
    if stdin == "closed":
        stream = io.StringIO("never read")
        stream.close()
    monkeypatch.setattr("sys.stdin", stream)
    with pytest.raises(UserInputError, match="stdin is closed or absent"):
        UserAgent("me")()


def test_user_agent_not_interactive_never_reads_stdin(monkeypatch):
    import io

    from agentscope_legacy.agents import UserAgent, UserInputError

    monkeypatch.setattr("sys.stdin", io.StringIO("would be read\n"))
    with pytest.raises(UserInputError, match="not interactive"):
        UserAgent("me", interactive=False)()
    with pytest.raises(UserInputError, match="1 scripted input"):  # a script, used up
        user = UserAgent("me", inputs=["only"])
        user()
        user()


# -- item 7: config loading order and repeats ----------------------------------------------------


def _echo_wrapper():
    from agentscope_legacy.models import ModelResponse, ModelWrapperBase

    class EchoWrapper(ModelWrapperBase):
        model_type = "compat_echo"

        def __init__(self, config_name, model_name=None, **kwargs):
            super().__init__(config_name=config_name, model_name=model_name)

        def __call__(self, prompt, **kwargs):
            return ModelResponse(text=f"echo {prompt}")

    return EchoWrapper


def test_a_wrapper_class_registered_after_init_serves_its_configs(tmp_path):
    import agentscope_legacy
    from agentscope_legacy.models import load_model_by_config_name

    configs = [
        {"config_name": "echo", "model_type": "compat_echo", "model_name": "e"},
        {"config_name": "typo", "model_type": "openai_caht"},
    ]
    agentscope_legacy.init(model_configs=configs, disable_saving=True)
    agentscope_legacy.register_model_wrapper_class(_echo_wrapper())
    assert load_model_by_config_name("echo")("hi").text == "echo hi"
    with pytest.raises(errors.ConfigError, match="did you mean 'openai_chat'") as info:
        load_model_by_config_name("typo")  # checked when built, with the did-you-mean
    assert (info.value.config_name, info.value.field) == ("typo", "model_type")


def test_init_again_with_identical_configs_warns_and_a_different_one_fails():
    import agentscope_legacy
    from agentscope_legacy.models import load_model_by_config_name

    config = {"config_name": "gpt", "model_type": "openai_chat", "api_key": "sk-x"}
    agentscope_legacy.init(model_configs=[config], disable_saving=True)
    built = load_model_by_config_name("gpt")
    with pytest.warns(UserWarning, match="'gpt' is loaded again unchanged"):
        agentscope_legacy.init(model_configs=[dict(config)], disable_saving=True)
    assert load_model_by_config_name("gpt") is built  # kept, not rebuilt
    with pytest.raises(errors.ConfigError, match="duplicate config_name"):
        agentscope_legacy.init(model_configs=[{**config, "stream": True}], disable_saving=True)
    agentscope_legacy.init(
        model_configs=[{**config, "stream": True, "replace": True}], disable_saving=True
    )
    assert load_model_by_config_name("gpt").stream is True


def test_fields_0x_ignored_load_with_a_deprecation_warning_and_typos_stay_errors():
    from agentscope_legacy.models import get_config_by_name, read_model_configs

    with pytest.warns(DeprecationWarning, match="field 'args' is ignored"):
        read_model_configs({"config_name": "old", "model_type": "openai_chat", "args": {}})
    assert "args" not in get_config_by_name("old")
    with pytest.raises(errors.ConfigError, match="did you mean 'stream'"):
        read_model_configs({"config_name": "new", "model_type": "openai_chat", "strem": True})


def test_read_model_configs_still_refuses_unknown_types_at_load():
    from agentscope_legacy.models import read_model_configs

    with pytest.raises(errors.ConfigError, match="unknown model_type 'openai_caht'"):
        read_model_configs({"config_name": "t", "model_type": "openai_caht"})
