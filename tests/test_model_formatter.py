"""Chat models that own a formatter (issue 13 part 1), on the wire against the emulators.

``await model(msgs)`` with ``Msg`` objects sends what the provider's Chat formatter makes of
them; ``formatter=`` a MultiAgent one switches the prompt to multi-agent history with no change
to the calling code (reference 001), ReActAgent included; ``model.stream(messages, tools,
options)`` is the async generator of accumulative ChatResponses; ``generate_kwargs`` takes a
GenerateOptions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agentscope_legacy import formatter as formatters
from agentscope_legacy.agents import ReActAgent
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.message import Msg
from agentscope_legacy.model import ChatModelBase, ChatResponse, GenerateOptions, OpenAIChatModel
from tests.test_chat_model import CALL, PROVIDERS, TOOLS, text_of

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

#: provider -> the prefix of its formatters' class names.
PREFIX = {
    "openai": "OpenAI",
    "dashscope": "DashScope",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "ollama": "Ollama",
}
DEBATE = [
    Msg("alice", "I think 42.", "assistant"),
    Msg("carol", "No, 41.", "assistant"),
    Msg("user", "Who is right?", "user"),
]


@pytest.fixture(params=list(PROVIDERS))
def provider(request):
    """(name, emulator, factory(**kwargs) -> model), the emulator cleared."""
    emulator_factory, make, _ = PROVIDERS[request.param]
    server = emulator_factory()
    server.clear()
    yield request.param, server, lambda **kw: make(server, **kw)
    server.clear()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def chat_formatter(name: str) -> Any:
    return getattr(formatters, f"{PREFIX[name]}ChatFormatter")()


def multi_agent_formatter(name: str) -> Any:
    return getattr(formatters, f"{PREFIX[name]}MultiAgentFormatter")()


def wire_messages(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "dashscope":
        return body["input"]["messages"]
    if name == "gemini":
        return body["contents"]
    return body["messages"]


def wire_roles(name: str, body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in wire_messages(name, body)]


def wire_temperature(name: str, body: dict[str, Any]) -> Any:
    if name == "dashscope":
        return body["parameters"].get("temperature")
    if name == "gemini":
        return body["generationConfig"].get("temperature")
    if name == "ollama":
        return body["options"].get("temperature")
    return body.get("temperature")


def last_body(server: Any) -> dict[str, Any]:
    return server.requests[-1].json


# -- Msg in, the provider's formatted messages on the wire -----------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_msgs_are_formatted_by_the_providers_chat_formatter(provider, stream):
    name, server, make = provider
    server.set_reply(text="Carol is.")
    model = make(stream=stream)
    assert type(model.formatter).__name__ == f"{PREFIX[name]}ChatFormatter"
    msgs = [Msg("system", "You judge.", "system"), *DEBATE]

    async def ask(messages: Any) -> ChatResponse:
        res = await model(messages)
        return [c async for c in res][-1] if stream else res

    from_msgs = run(ask(msgs))
    body_from_msgs = last_body(server)
    from_dicts = run(ask(run(chat_formatter(name).format(msgs))))  # the formatted path, as before
    assert text_of(from_msgs) == text_of(from_dicts) == "Carol is."
    assert body_from_msgs == last_body(server)
    assert len(server.requests) == 2


def test_a_single_msg_is_a_list_of_one(provider):
    name, server, make = provider
    server.set_reply(text="Hello.")
    reply = run(make(stream=False)(Msg("user", "Hi!", "user")))
    assert text_of(reply) == "Hello."
    (message,) = wire_messages(name, last_body(server))
    assert "Hi!" in json.dumps(message)


def test_msgs_with_tools_and_structured_output(provider):
    name, server, make = provider
    server.set_reply(text="Let me check.", tool_calls=[CALL])
    model = make(stream=False)
    reply = run(model([Msg("user", "Weather in Paris?", "user")], tools=TOOLS))
    (block,) = [b for b in reply.content if b["type"] == "tool_use"]
    assert block["input"] == {"city": "Paris"}
    if name == "ollama":  # no forced tool: structured output is asked for as JSON text
        server.set_reply(text='{"city": "Paris"}')
    else:
        server.set_reply(tool_calls=[{"id": "s1", "name": "generate_structured_output",
                                      "arguments": {"city": "Paris"}}])  # fmt: skip
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    res = run(model([Msg("user", "Which city?", "user")], structured_model=schema))
    assert res.metadata["structured_output"] == {"city": "Paris"}
    assert "Which city?" in json.dumps(last_body(server))


# -- reference 001: switching to multi-agent mode is passing the MultiAgent formatter --------------
async def agent_code(model: ChatModelBase) -> str:
    """What an agent does; the same for both modes (reference 001: no agent code changes)."""
    res = await model([Msg("system", "You are Bob.", "system"), *DEBATE])
    if not isinstance(res, ChatResponse):
        res = [chunk async for chunk in res][-1]
    return text_of(res)


def check_multi_agent_prompt(name: str, body: dict[str, Any]) -> None:
    roles = wire_roles(name, body)
    assert "assistant" not in roles and "model" not in roles  # the turns are history now
    history = json.dumps(wire_messages(name, body)[-1])
    assert "<history>" in history and "alice: I think 42." in history
    assert "carol: No, 41." in history


@pytest.mark.parametrize("stream", [False, True])
def test_the_multi_agent_formatter_switch_changes_no_agent_code(provider, stream):
    name, server, make = provider
    server.set_reply(text="Carol is.")
    assert run(agent_code(make(stream=stream))) == "Carol is."
    chat_body = last_body(server)
    assert wire_roles(name, chat_body).count("model" if name == "gemini" else "assistant") >= 1
    assert "<history>" not in json.dumps(chat_body)

    model = make(stream=stream, formatter=multi_agent_formatter(name))
    assert run(agent_code(model)) == "Carol is."
    check_multi_agent_prompt(name, last_body(server))


@pytest.mark.parametrize("stream", [False, True])
def test_react_agent_takes_the_models_formatter(provider, stream, capsys):
    name, server, make = provider
    server.set_reply(text="Carol is.")
    model = make(stream=stream, formatter=multi_agent_formatter(name))
    agent = ReActAgent("bob", "You are Bob.", model)  # the agent is not told of the mode
    assert agent.formatter is model.formatter
    agent.observe(DEBATE[:2])
    reply = agent(DEBATE[2])
    assert reply.get_text_content() == "Carol is."
    check_multi_agent_prompt(name, last_body(server))

    plain = ReActAgent("bob", "You are Bob.", make(stream=stream))
    assert type(plain.formatter).__name__ == f"{PREFIX[name]}ChatFormatter"
    explicit = ReActAgent("bob", "You are Bob.", model, formatter=chat_formatter(name))
    assert type(explicit.formatter).__name__ == f"{PREFIX[name]}ChatFormatter"


# -- model.stream(messages, tools, options) -------------------------------------------------------
@pytest.mark.parametrize("flag", [False, True])
def test_stream_method_yields_accumulative_responses(provider, flag):
    name, server, make = provider
    server.set_reply(chunks=["1, ", "2, ", "3, ", "4, ", "5"], prompt_tokens=6, completion_tokens=5)
    model = make(stream=flag)  # the method streams whatever the flag

    async def main() -> list[ChatResponse]:
        options = GenerateOptions(temperature=0.25)
        return [c async for c in model.stream([Msg("user", "Count.", "user")], [], options)]

    chunks = run(main())
    texts = [text_of(c) for c in chunks]
    assert texts[-1] == "1, 2, 3, 4, 5" and len(chunks) >= 5
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert [c.is_last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (6, 5)
    assert wire_temperature(name, last_body(server)) == 0.25
    assert bool(model.stream) is flag  # the flag is unchanged


def test_stream_method_with_tools_and_a_mapping_of_options(provider):
    name, server, make = provider
    server.set_reply(text="Checking.", tool_calls=[CALL])
    model = make(stream=False)

    async def main() -> ChatResponse:
        generator = model.stream(
            [Msg("user", "Weather?", "user")], tools=TOOLS, options={"temperature": 0.5}
        )
        return [c async for c in generator][-1]

    final = run(main())
    assert [b["name"] for b in final.content if b["type"] == "tool_use"] == ["get_weather"]
    assert wire_temperature(name, last_body(server)) == 0.5
    with pytest.raises(ConfigError, match="temprature"):
        formatted = run(chat_formatter(name).format(DEBATE))  # dicts: the formatted path
        run(model.stream(formatted, options={"temprature": 1}).__anext__())


def test_stopping_the_stream_method_early_cancels_the_reply(provider):
    _, server, make = provider
    server.set_reply(chunks=["a", "b", "c", "d", "e", "f"])

    async def main() -> ChatResponse:
        generator = make(stream=False).stream([Msg("user", "Go.", "user")])
        async for chunk in generator:
            if text_of(chunk):
                break
        await generator.aclose()
        return chunk

    chunk = run(main())
    assert chunk.is_last is False and text_of(chunk)


# -- GenerateOptions as generate_kwargs ------------------------------------------------------------
def test_generate_options_as_generate_kwargs(provider):
    name, server, make = provider
    server.set_reply(text="Hi.")
    model = make(stream=False, generate_kwargs=GenerateOptions(temperature=0.75))
    run(model([Msg("user", "Hi!", "user")]))
    assert wire_temperature(name, last_body(server)) == 0.75
    run(model([Msg("user", "Hi!", "user")], temperature=0.5))  # a call's argument wins
    assert wire_temperature(name, last_body(server)) == 0.5


def test_generate_kwargs_of_the_wrong_type_is_a_clear_error():
    with pytest.raises(TypeError, match="generate_kwargs must be a mapping or a GenerateOptions"):
        OpenAIChatModel("gpt-4o-mini", api_key="sk-x", base_url="http://127.0.0.1:9/v1",
                        generate_kwargs=[("temperature", 1)])  # fmt: skip


# -- the flag, bad input ---------------------------------------------------------------------------
def test_the_stream_flag_still_reads_as_a_bool():
    model = OpenAIChatModel("gpt-4o-mini", api_key="sk-x", base_url="http://127.0.0.1:9/v1")
    assert model.stream and model.stream == True and bool(model.stream) is True  # noqa: E712
    assert repr(model) == "OpenAIChatModel(model_name='gpt-4o-mini', stream=True)"
    model.stream = False
    assert not model.stream and model.stream == False and f"{model.stream}" == "False"  # noqa: E712
    assert callable(model.stream)


def test_mixed_msgs_and_dicts_are_refused_before_any_request(provider):
    _, server, make = provider
    with pytest.raises(TypeError, match=r"messages\[1\] a dict"):
        run(make(stream=False)([Msg("user", "Hi", "user"), {"role": "user", "content": "Hi"}]))
    assert server.requests == []


def test_a_formatter_without_format_is_refused():
    args = {"api_key": "sk-x", "base_url": "http://127.0.0.1:9/v1"}
    with pytest.raises(TypeError, match="formatter must be a formatter"):
        OpenAIChatModel("gpt-4o-mini", formatter="OpenAIMultiAgentFormatter", **args)
    with pytest.raises(TypeError, match=r"pass OpenAIMultiAgentFormatter\(\)"):
        OpenAIChatModel("gpt-4o-mini", formatter=formatters.OpenAIMultiAgentFormatter, **args)


class EchoModel(ChatModelBase):
    """A custom provider: it receives what the default (OpenAI-shaped) formatter made."""

    def __init__(self) -> None:
        super().__init__("echo", stream=False)

    async def _generate(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        yield ChatResponse(content=[{"type": "text", "text": json.dumps(messages)}])


def test_a_custom_model_gets_formatted_messages():
    reply = run(EchoModel()([Msg("user", "Hi!", "user")]))
    assert json.loads(text_of(reply)) == [
        {"role": "user", "name": "user", "content": [{"type": "text", "text": "Hi!"}]}
    ]
