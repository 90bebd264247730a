"""Structured output: ``structured_model=`` on the ChatModels and on the legacy wrappers.

A tool built from the schema is forced with each provider's named tool_choice (Ollama and
wrappers without tools: JSON asked for in a user message), the output is validated with
jsonschema (and pydantic), invalid output is sent back with its errors a bounded number of
times, and the result lands in ``ChatResponse.metadata`` / ``ModelResponse.parsed``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, Field, field_validator

from agentscope_legacy.model import (
    STRUCTURED_TOOL,
    ChatModelBase,
    ChatResponse,
    StructuredOutputError,
)
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from agentscope_legacy.models._structured import inline_refs, parse_json_text, resolve_schema
from tests.emulators.anthropic import shared_anthropic_emulator
from tests.emulators.fixtures import shared_openai_emulator
from tests.test_chat_model import PROVIDERS, run
from tests.test_parity import CHAT_TYPES, KEYLESS, chat_types

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


class Address(BaseModel):
    city: str
    zip: str = Field(pattern=r"^\d{5}$")


class Person(BaseModel):
    """A person and where they live."""

    name: str
    age: int = Field(ge=0)
    address: Address


class Even(BaseModel):
    n: int

    @field_validator("n")
    @classmethod
    def must_be_even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("n must be even")
        return value


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
GOOD = {"name": "Ann", "age": 31, "address": {"city": "Paris", "zip": "75001"}}
BAD = {"name": "Ann", "age": "old", "address": {"city": "Paris", "zip": "7500"}}
MESSAGES = [{"role": "user", "content": "Who lives at the Louvre?"}]
JSON_TEXT = {"ollama", "ollama_chat", "post_api_chat"}  # asked for JSON in the text


def reply(kind: str, output: Any) -> dict[str, Any]:
    """``set_reply`` kwargs giving ``output`` (a dict, or raw argument text) the provider's way."""
    if kind in JSON_TEXT:
        return {"text": output if isinstance(output, str) else json.dumps(output)}
    call = {"id": "call_so1", "name": STRUCTURED_TOOL, "arguments": output}
    return {"text": "", "tool_calls": [call]}


def replies(kind: str, *outputs: Any):
    """A reply function answering the outputs in turn (the last one again after that)."""
    seen: list[int] = []

    def fn(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(1)
        return reply(kind, outputs[min(len(seen), len(outputs)) - 1])

    return fn


@pytest.fixture(params=list(PROVIDERS))
def provider(request):
    emulator_factory, make, _ = PROVIDERS[request.param]
    server = emulator_factory()
    server.clear()
    yield request.param, server, lambda **kw: make(server, **kw)
    server.clear()


# -- request inspection ----------------------------------------------------------------------------
def sent_tools(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"name", "parameters"}]`` of the request's tools."""
    if name == "dashscope":
        return [t["function"] for t in body["parameters"]["tools"]]
    if name == "anthropic":
        return [{"name": t["name"], "parameters": t["input_schema"]} for t in body["tools"]]
    if name == "gemini":
        return [
            {"name": d["name"], "parameters": d["parameters_json_schema"]}
            for t in body["tools"]
            for d in t["functionDeclarations"]
        ]
    return [t["function"] for t in body["tools"]]


FORCED = {
    "openai": lambda b: (
        b["tool_choice"] == {"type": "function", "function": {"name": STRUCTURED_TOOL}}
    ),
    "dashscope": lambda b: (
        b["parameters"]["tool_choice"]
        == {"type": "function", "function": {"name": STRUCTURED_TOOL}}
    ),
    "anthropic": lambda b: b["tool_choice"] == {"type": "tool", "name": STRUCTURED_TOOL},
    "gemini": lambda b: (
        b["toolConfig"]["functionCallingConfig"]
        == {"mode": "ANY", "allowedFunctionNames": [STRUCTURED_TOOL]}
    ),
}


def conversation(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "dashscope":
        return body["input"]["messages"]
    if name == "gemini":
        return body["contents"]
    return body["messages"]


def assert_repair_turns(name: str, body: dict[str, Any]) -> None:
    """The request after invalid tool arguments ends with the call and the errors."""
    *_, assistant, result = conversation(name, body)
    text = json.dumps(result)
    assert "$.age" in text and "is not of type 'integer'" in text and "$.address.zip" in text
    if name == "anthropic":
        assert assistant["role"] == "assistant"
        (use,) = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert use["name"] == STRUCTURED_TOOL and use["input"] == BAD
        assert result["role"] == "user" and result["content"][0]["type"] == "tool_result"
        assert result["content"][0]["tool_use_id"] == use["id"]
    elif name == "gemini":
        assert assistant["role"] == "model"
        assert assistant["parts"][-1]["functionCall"] == {"name": STRUCTURED_TOOL, "args": BAD}
        assert result["role"] == "user" and "functionResponse" in result["parts"][0]
    elif name == "ollama":
        assert assistant == {"role": "assistant", "content": json.dumps(BAD)}
        assert result["role"] == "user"
    else:
        (call,) = assistant["tool_calls"]
        assert call["function"]["name"] == STRUCTURED_TOOL
        assert json.loads(call["function"]["arguments"]) == BAD
        assert result["role"] == "tool" and result["tool_call_id"] == call["id"]


# -- ChatModels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_valid_first_time(provider, stream):
    name, server, make = provider
    server.set_reply(**reply(name, GOOD), prompt_tokens=20, completion_tokens=9)
    model = make(stream=stream)

    async def main():
        result = await model(MESSAGES, structured_model=Person)
        if stream:  # one final chunk: attempts are read to their end before validation
            chunks = [chunk async for chunk in result]
            assert len(chunks) == 1
            result = chunks[0]
        return result

    response = run(main())
    assert isinstance(response, ChatResponse) and response.is_last
    assert response.metadata == {"structured_output": GOOD}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 9)
    assert len(server.requests) == 1
    body = server.requests[0].json
    if name == "ollama":
        assert body["format"] == inline_refs(Person.model_json_schema())
        assert "JSON Schema" in body["messages"][-1]["content"]
        assert "tools" not in body or body["tools"] == []
        assert response.content == [{"type": "text", "text": json.dumps(GOOD)}]
        return
    assert FORCED[name](body)
    (tool,) = sent_tools(name, body)
    assert tool["name"] == STRUCTURED_TOOL
    assert tool["parameters"] == inline_refs(Person.model_json_schema())
    assert "$defs" not in json.dumps(tool["parameters"])  # nested models inlined
    (block,) = response.content
    assert block["type"] == "tool_use" and block["name"] == STRUCTURED_TOOL
    assert block["input"] == GOOD


def test_invalid_output_is_repaired(provider):
    name, server, make = provider
    server.set_reply_fn(replies(name, BAD, GOOD))
    response = run(make(stream=False)(MESSAGES, structured_model=Person))
    assert response.metadata == {"structured_output": GOOD}
    assert len(server.requests) == 2
    first, second = (r.json for r in server.requests)
    assert_repair_turns(name, second)
    assert len(conversation(name, second)) == len(conversation(name, first)) + 2
    # the usage counts both attempts
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 4)


def test_it_gives_up_after_the_bound(provider):
    name, server, make = provider
    server.set_reply(**reply(name, BAD))
    model = make(stream=False)
    with pytest.raises(StructuredOutputError) as info:
        run(model(MESSAGES, structured_model=Person))
    err = info.value
    assert err.attempts == 3 and len(server.requests) == 3
    assert err.last_output == BAD
    assert any("$.age" in e for e in err.errors) and "3 attempt" in str(err)
    server.clear()
    server.set_reply(**reply(name, BAD))
    with pytest.raises(StructuredOutputError):
        run(model(MESSAGES, structured_model=Person, max_structured_retries=0))
    assert len(server.requests) == 1


def test_a_json_schema_dict_is_accepted(provider):
    name, server, make = provider
    server.set_reply_fn(replies(name, {"answer": "maybe"}, {"answer": "yes"}))
    response = run(make(stream=False)(MESSAGES, structured_model=ANSWER_SCHEMA))
    assert response.metadata == {"structured_output": {"answer": "yes"}}
    assert "is not one of ['yes', 'no']" in json.dumps(server.requests[1].json)


def test_the_pydantic_model_validates_beyond_the_schema(provider):
    name, server, make = provider
    server.set_reply_fn(replies(name, {"n": 3}, {"n": 4}))
    response = run(make(stream=False)(MESSAGES, structured_model=Even))
    assert response.metadata == {"structured_output": {"n": 4}}
    assert "n must be even" in json.dumps(server.requests[1].json)


def test_user_tools_are_replaced_by_the_structured_tool():
    server = shared_openai_emulator()
    server.clear()
    server.set_reply(**reply("openai", GOOD))
    model = PROVIDERS["openai"][1](server, stream=False)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    run(model(MESSAGES, tools=tools, tool_choice="auto", structured_model=Person))
    assert [t["function"]["name"] for t in server.requests[0].json["tools"]] == [STRUCTURED_TOOL]


def test_arguments_that_are_not_json_are_sent_back():
    server = shared_openai_emulator()
    server.clear()
    server.set_reply_fn(replies("openai", '{"name": "Ann", "age": ', GOOD))
    model = PROVIDERS["openai"][1](server, stream=True)

    async def main():
        return [c async for c in await model(MESSAGES, structured_model=Person)]

    (response,) = run(main())
    assert response.metadata == {"structured_output": GOOD}
    *_, assistant, complaint = server.requests[1].json["messages"]
    assert assistant == {"role": "assistant", "content": '{"name": "Ann", "age": '}
    assert complaint["role"] == "user" and "not a JSON object" in complaint["content"]
    assert all(r.json["stream"] is True for r in server.requests)  # attempts were streamed


def test_a_reply_without_the_tool_call_is_sent_back():
    server = shared_openai_emulator()
    server.clear()
    calls = []

    def fn(body: dict[str, Any]) -> dict[str, Any]:
        calls.append(body)
        return {"text": "Ann, 31, Paris."} if len(calls) == 1 else reply("openai", GOOD)

    server.set_reply_fn(fn)
    response = run(PROVIDERS["openai"][1](server, stream=False)(MESSAGES, structured_model=Person))
    assert response.metadata == {"structured_output": GOOD}
    *_, assistant, complaint = calls[1]["messages"]
    assert assistant == {"role": "assistant", "content": "Ann, 31, Paris."}
    assert f"no call of the function {STRUCTURED_TOOL}" in complaint["content"]


def test_anthropic_with_thinking_offers_the_tool_without_forcing_it():
    server = shared_anthropic_emulator()
    server.clear()
    server.set_reply(**reply("anthropic", GOOD), reasoning="Let me see.")
    model = PROVIDERS["anthropic"][1](
        server, stream=False, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    response = run(model(MESSAGES, structured_model=Person))
    assert response.metadata == {"structured_output": GOOD}
    assert response.content[0]["type"] == "thinking"
    body = server.requests[0].json
    assert body["tool_choice"] == {"type": "auto"}
    assert STRUCTURED_TOOL in body["messages"][-1]["content"]


def test_bad_structured_models_are_refused_before_any_call():
    server = shared_openai_emulator()
    server.clear()
    model: ChatModelBase = PROVIDERS["openai"][1](server, stream=False)
    with pytest.raises(TypeError, match="pydantic BaseModel subclass or a JSON Schema"):
        run(model(MESSAGES, structured_model=int))
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        run(model(MESSAGES, structured_model={"type": "object", "required": "name"}))
    with pytest.raises(ValueError, match="JSON object"):
        run(model(MESSAGES, structured_model={"type": "array"}))
    assert server.requests == []


# -- helpers ---------------------------------------------------------------------------------------
def test_resolve_schema_and_inline_refs():
    schema, model = resolve_schema(Person)
    assert model is Person and "$defs" in schema
    inlined = inline_refs(schema)
    assert "$defs" not in inlined
    assert inlined["properties"]["address"]["properties"]["zip"]["pattern"] == r"^\d{5}$"
    recursive = {
        "type": "object",
        "properties": {"child": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
    }
    assert inline_refs(recursive) == recursive  # kept with its $defs
    nested_name = {"type": "object", "properties": {"$defs": {"type": "string"}}}
    assert inline_refs(nested_name) == nested_name


@pytest.mark.parametrize(
    "text",
    ['{"a": 1}', '```json\n{"a": 1}\n```', 'Here it is: {"a": 1}. Done.', '  {"a": 1}\n'],
)
def test_json_is_found_in_a_text_reply(text):
    assert parse_json_text(text) == {"a": 1}


# -- the legacy wrappers: ModelResponse.parsed -----------------------------------------------------
@pytest.fixture
def legacy(request):
    """A legacy chat wrapper of the parametrized type (from the parity table) and its emulator."""
    model_type = request.param
    emulator_factory, fields = CHAT_TYPES[model_type]
    server = emulator_factory()
    server.clear()
    name = f"{model_type}-{uuid.uuid4().hex[:6]}"
    config = {"config_name": name, "model_type": model_type, "retry_interval": 0.01}
    config.update(fields(server))
    if model_type not in KEYLESS and model_type != "post_api_chat":
        config["api_key"] = f"sk-structured-{uuid.uuid4().hex}"
    read_model_configs([config])
    yield model_type, load_model_by_config_name(name), server
    server.clear()


@pytest.mark.parametrize("legacy", chat_types(), indirect=True)
@pytest.mark.parametrize("stream", [False, True])
def test_every_chat_wrapper_gives_parsed(legacy, stream):
    model_type, wrapper, server = legacy
    server.set_reply_fn(replies(model_type, BAD, GOOD))
    response = wrapper(MESSAGES, structured_model=Person, stream=stream)
    assert response.parsed == GOOD and len(server.requests) == 2
    assert "is not of type 'integer'" in json.dumps(server.requests[1].json)
    server.clear()
    server.set_reply(**reply(model_type, GOOD))
    response = run(wrapper.acall(MESSAGES, structured_model=Person, stream=stream))
    assert response.parsed == GOOD and len(server.requests) == 1


@pytest.mark.parametrize("legacy", ["openai_chat"], indirect=True)
def test_legacy_acall_and_give_up(legacy):
    _, wrapper, server = legacy
    server.set_reply(**reply("openai_chat", {"answer": "no"}))
    response = run(wrapper.acall(MESSAGES, structured_model=ANSWER_SCHEMA))
    assert response.parsed == {"answer": "no"} and response.text == ""
    body = server.requests[0].json
    assert body["tool_choice"] == {"type": "function", "function": {"name": STRUCTURED_TOOL}}
    server.set_reply(**reply("openai_chat", {"answer": "perhaps"}))
    with pytest.raises(StructuredOutputError) as info:
        wrapper(MESSAGES, structured_model=ANSWER_SCHEMA, max_structured_retries=1)
    assert info.value.attempts == 2 and info.value.last_output == {"answer": "perhaps"}
    assert info.value.raw_response.tool_calls[0]["input"] == {"answer": "perhaps"}


@pytest.mark.parametrize("legacy", ["zhipuai_chat"], indirect=True)
def test_glm_gets_the_tool_with_auto_and_an_instruction(legacy):
    _, wrapper, server = legacy
    server.set_reply(**reply("zhipuai_chat", GOOD))
    assert wrapper(MESSAGES, structured_model=Person).parsed == GOOD
    body = server.requests[0].json
    assert body["tool_choice"] == "auto" and body["tools"][0]["function"]["name"] == STRUCTURED_TOOL
    assert STRUCTURED_TOOL in body["messages"][-1]["content"]


@pytest.mark.parametrize("legacy", ["post_api_chat"], indirect=True)
def test_a_wrapper_without_tools_is_asked_for_json(legacy):
    _, wrapper, server = legacy
    server.set_reply(text='Sure! ```json\n{"answer": "yes"}\n```')
    assert wrapper(MESSAGES, structured_model=ANSWER_SCHEMA).parsed == {"answer": "yes"}
    body = server.requests[0].json
    assert "tools" not in body and "JSON Schema" in body["messages"][-1]["content"]


def test_without_structured_model_the_call_is_unchanged(openai_server):
    read_model_configs(
        [
            {
                "config_name": "plain",
                "model_type": "openai_chat",
                "model_name": "gpt-4o-mini",
                "api_key": "sk-plain-0123456789",
                "base_url": openai_server.base_url + "/v1",
            }
        ]
    )
    wrapper = load_model_by_config_name("plain")
    response = wrapper(MESSAGES, structured_model=None)
    assert response.text == "Hello!" and response.parsed is None
    assert "tools" not in openai_server.requests[0].json
    assert asyncio.run(wrapper.acall(MESSAGES, structured_model=None)).text == "Hello!"


def test_structured_output_needs_chat_messages(openai_server):
    model = PROVIDERS["openai"][1](openai_server, stream=False)
    with pytest.raises(ValueError, match="chat messages"):
        run(model(["not a message"], structured_model=ANSWER_SCHEMA))
    assert openai_server.requests == []
