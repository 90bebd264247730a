"""Every code snippet of references 000 and 001, run against the loopback emulators.

Python snippets (000) keep their code; Java ones (001) are translated line by line to the Python
API (builder fields -> constructor arguments, ``defaultOptions`` -> ``generate_kwargs``, a POJO
-> a pydantic model). Only imports, the endpoint (an emulator) and the key differ; scripted
replies stand in for the model. Snippets already run elsewhere are listed in
``COVERED_ELSEWHERE`` (checked to still exist), not repeated. /tmp/h/snippets.md is the table.

Also here, what issue 13's checks ask beyond the snippets and tests/test_react_agent.py (which
runs the tool loop through every 0.x chat type): the loop through every newer-layer chat
model and its own formatter, streamed and not, and bad tools through every provider.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import time
from typing import Any

import pytest
from pydantic import BaseModel

from agentscope_legacy.agents import ReActAgent
from agentscope_legacy.errors import ResponseFormatError
from agentscope_legacy.formatter import DashScopeChatFormatter, DashScopeMultiAgentFormatter
from agentscope_legacy.message import Msg
from agentscope_legacy.model import (
    STRUCTURED_TOOL,
    ChatModelBase,
    ChatResponse,
    DashScopeChatModel,
    GenerateOptions,
    ModelRegistry,
)
from agentscope_legacy.tool import Toolkit
from tests.emulators import dashscope_fixtures
from tests.test_chat_model import PROVIDERS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
dashscope_server = dashscope_fixtures.dashscope_server
API_KEY = "sk-snippets-0123456789abcdef"  # stands for System.getenv("DASHSCOPE_API_KEY")

#: Snippets run by other test files: (reference, section) -> "module::test".
COVERED_ELSEWHERE = {
    ("000", "typical workflow"): "tests.test_chat_model_reference::test_example_model_call",
    ("000", "streaming"): "tests.test_chat_model_reference::test_example_streaming",
    ("000", "reasoning"): "tests.test_chat_model_reference::test_example_reasoning",
    ("000", "tools"): "tests.test_chat_model_reference::test_example_tools_with_every_provider",
    ("000", "token counter"): "tests.test_token::test_reference_example_gpt_4_1",
    ("001", "formatter switch, every provider"): (
        "tests.test_model_formatter::test_the_multi_agent_formatter_switch_changes_no_agent_code"
    ),
    ("001", "stream(), every provider"): (
        "tests.test_model_formatter::test_stream_method_yields_accumulative_responses"
    ),
    ("001", "custom provider, working model"): (
        "tests.test_custom_provider::test_the_chat_model_streams_and_answers"
    ),
}


def test_the_snippets_run_elsewhere_still_have_their_tests():
    for where in COVERED_ELSEWHERE.values():
        module, name = where.split("::")
        assert callable(getattr(importlib.import_module(module), name, None)), where


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def endpoint(server: Any) -> dict[str, Any]:
    """What the snippets do not say: where the emulator is, and fast retries."""
    return {"base_url": server.base_url + "/api/v1", "retry_interval": 0.01}


def parameters(server: Any) -> dict[str, Any]:
    return server.requests[-1].json["parameters"]


# -- reference 000: TTS ------------------------------------------------------------------------
from tests import test_tts_providers as tts_kit  # noqa: E402  (the TTS emulators' fixtures)

_dashscope, dashscope_tts = tts_kit._dashscope, tts_kit.dashscope_tts
_realtime, realtime = tts_kit._realtime, tts_kit.realtime
tone_for = tts_kit.tone_for


def test_000_tts_method_signatures():
    from agentscope_legacy.tts import DashScopeRealtimeTTSModel, DashScopeTTSModel

    for cls in (DashScopeTTSModel, DashScopeRealtimeTTSModel):
        assert inspect.iscoroutinefunction(cls.synthesize)
        assert list(inspect.signature(cls.synthesize).parameters)[:2] == ["self", "msg"]
    assert inspect.iscoroutinefunction(DashScopeRealtimeTTSModel.push)
    assert list(inspect.signature(DashScopeRealtimeTTSModel.push).parameters)[:2] == [
        "self",
        "msg",
    ]


def test_000_non_realtime_tts(dashscope_tts, capsys):
    from agentscope_legacy.tts import DashScopeTTSModel

    async def example_non_realtime_tts():
        tts_model = DashScopeTTSModel(
            api_key=API_KEY,  # os.environ.get("DASHSCOPE_API_KEY", "")
            model_name="qwen3-tts-flash",
            voice="Cherry",
            stream=False,
            base_url=dashscope_tts.api_base,
        )
        msg = Msg(name="assistant", content="Hello, this is a TTS demo.", role="assistant")
        tts_response = await tts_model.synthesize(msg)
        # tts_response.content contains an AudioBlock with base64-encoded audio
        print("Audio data length:", len(tts_response.content["source"]["data"]))
        return tts_response

    res = run(example_non_realtime_tts())
    assert res.content["type"] == "audio" and res.content["source"]["type"] == "base64"
    assert res.pcm()[0] == tone_for("Hello, this is a TTS demo.")
    length = len(res.content["source"]["data"])
    assert capsys.readouterr().out == f"Audio data length: {length}\n"
    body = [r for r in dashscope_tts.requests if r.method == "POST"][-1].json
    assert (body["model"], body["input"]["voice"]) == ("qwen3-tts-flash", "Cherry")


def test_000_realtime_tts(realtime):
    from agentscope_legacy.tts import DashScopeRealtimeTTSModel

    # The snippet's msg_chunk_1, msg_chunk_2 and final_msg: accumulative text of one message.
    msg_chunk_1 = Msg("assistant", "Hello", "assistant")
    msg_chunk_2 = Msg("assistant", "Hello, world", "assistant", id=msg_chunk_1.id)
    final_msg = Msg("assistant", "Hello, world. Bye.", "assistant", id=msg_chunk_1.id)

    async def example_realtime_tts():
        tts_model = DashScopeRealtimeTTSModel(
            api_key=API_KEY,  # os.environ.get("DASHSCOPE_API_KEY", "")
            model_name="qwen3-tts-flash-realtime",
            voice="Cherry",
            stream=False,
            url=realtime.url,
        )
        async with tts_model:
            # Push accumulative text chunks (non-blocking)
            pushed = [await tts_model.push(msg_chunk_1)]
            pushed.append(await tts_model.push(msg_chunk_2))
            # Finalize and get all remaining audio (blocking)
            res = await tts_model.synthesize(final_msg)
        return pushed, res

    pushed, res = run(example_realtime_tts())
    audio = b"".join(p.pcm()[0] for p in pushed if p.content is not None) + res.pcm()[0]
    assert audio == tone_for("Hello") + tone_for(", world") + tone_for(". Bye.")
    assert realtime.sessions[-1].path.endswith("model=qwen3-tts-flash-realtime")


# -- reference 001: creating and calling a chat model -------------------------------------------
def test_001_three_builder_setups(dashscope_server):
    dashscope_server.set_reply(chunks=["Hel", "lo"], reasoning=["Thinking."])
    # DashScopeChatModel.builder().apiKey(..).modelName("qwen-plus").stream(true)
    #     .formatter(new DashScopeChatFormatter()).build()
    model = DashScopeChatModel(
        api_key=API_KEY,
        model_name="qwen-plus",
        stream=True,
        formatter=DashScopeChatFormatter(),
        **endpoint(dashscope_server),
    )
    user = [Msg("user", "Hi", "user")]
    chunks = run(_collect(model(user)))
    assert chunks[-1].is_last and chunks[-1].content[-1]["text"] == "Hello"
    # ...stream(false)...defaultOptions(GenerateOptions.builder().parallelToolCalls(false).build())
    model = DashScopeChatModel(
        api_key=API_KEY,
        model_name="qwen-plus",
        stream=False,
        formatter=DashScopeChatFormatter(),
        generate_kwargs=GenerateOptions(parallel_tool_calls=False),
        **endpoint(dashscope_server),
    )
    assert isinstance(run(model(user)), ChatResponse)
    assert parameters(dashscope_server)["parallel_tool_calls"] is False
    # ...modelName("qwen3-235b-a22b-thinking-2507").stream(true).enableThinking(true)
    #     .defaultOptions(GenerateOptions.builder().thinkingBudget(2048).build())
    model = DashScopeChatModel(
        api_key=API_KEY,
        model_name="qwen3-235b-a22b-thinking-2507",
        stream=True,
        enable_thinking=True,
        formatter=DashScopeChatFormatter(),
        generate_kwargs=GenerateOptions(thinking_budget=2048),
        **endpoint(dashscope_server),
    )
    last = run(_collect(model(user)))[-1]
    assert [b["type"] for b in last.content] == ["thinking", "text"]
    sent = parameters(dashscope_server)
    assert (sent["enable_thinking"], sent["thinking_budget"]) == (True, 2048)
    assert dashscope_server.requests[-1].json["model"] == "qwen3-235b-a22b-thinking-2507"


async def _collect(pending: Any) -> list[ChatResponse]:
    return [chunk async for chunk in await pending]


def test_001_stream_method(dashscope_server, capsys):
    dashscope_server.set_reply(chunks=["1", ", 2", ", 3", ", 4", ", 5"])
    model = DashScopeChatModel(
        api_key=API_KEY,
        model_name="qwen-plus",
        stream=True,
        formatter=DashScopeChatFormatter(),
        **endpoint(dashscope_server),
    )

    async def main() -> None:
        async for chunk in model.stream(
            [Msg("user", "Count from 1 to 5.", "user")],  # List.of(new UserMessage(...))
            [],  # tools = List.of()
            GenerateOptions(),
        ):
            # chunk.is_last marks the final accumulated content
            if chunk.is_last:
                print("Final: " + str(chunk.content))
            else:
                print("Delta: " + str(chunk.content))

    run(main())
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "Final: [{'type': 'text', 'text': '1, 2, 3, 4, 5'}]"
    assert lines[:-1] and all(line.startswith("Delta: ") for line in lines[:-1])
    sent = dashscope_server.requests[-1].json["input"]["messages"]
    assert sent == run(DashScopeChatFormatter().format([Msg("user", "Count from 1 to 5.", "user")]))


# -- reference 001: structured output ---------------------------------------------------------
class WeatherInfo(BaseModel):  # public class WeatherInfo { city; temperature; unit; }
    city: str
    temperature: float
    unit: str


def test_001_structured_output(dashscope_server):
    weather = {"city": "Shanghai", "temperature": 21.5, "unit": "celsius"}
    forced = {"id": "s1", "name": STRUCTURED_TOOL, "arguments": weather}
    replies = iter([{"text": "21.5 degrees in Shanghai."}, {"text": "", "tool_calls": [forced]}])
    dashscope_server.set_reply_fn(lambda body: next(replies))
    model = DashScopeChatModel(
        api_key=API_KEY, model_name="qwen-plus", stream=False, **endpoint(dashscope_server)
    )
    agent = ReActAgent("Friday", "You are a helpful assistant.", model)

    # agent.call(List.of(new UserMessage(..)), WeatherInfo.class, RuntimeContext.empty()).block()
    msg = agent.reply(
        [Msg("user", "What's the weather in Shanghai?", "user")], structured_model=WeatherInfo
    )
    info = msg.get_structured_data(WeatherInfo)

    assert info == WeatherInfo(**weather)
    assert msg.metadata["structured_output"] == weather
    forced_call = parameters(dashscope_server)
    assert forced_call["tools"][0]["function"]["name"] == STRUCTURED_TOOL


# -- reference 001: formatters ------------------------------------------------------------------
def test_001_multi_agent_formatter_switch(dashscope_server):
    """The DashScope snippet as written: only ``formatter=`` changes; the agent code is one."""
    dashscope_server.set_reply(text="Carol is.")

    def agent_code(model: ChatModelBase) -> str:
        agent = ReActAgent("bob", "You are Bob.", model)
        agent.observe([Msg("alice", "I think 42.", "assistant"), Msg("carol", "41.", "assistant")])
        return agent(Msg("user", "Who is right?", "user")).get_text_content()

    def model(formatter: Any = None) -> DashScopeChatModel:
        kwargs = {"formatter": formatter} if formatter is not None else {}
        return DashScopeChatModel(
            api_key=API_KEY,
            model_name="qwen-plus",
            stream=True,
            **kwargs,
            **endpoint(dashscope_server),
        )

    assert agent_code(model()) == "Carol is."
    chat = json.dumps(dashscope_server.requests[-1].json["input"]["messages"])
    assert "<history>" not in chat
    assert agent_code(model(DashScopeMultiAgentFormatter())) == "Carol is."
    multi = dashscope_server.requests[-1].json["input"]["messages"]
    assert [m["role"] for m in multi] == ["system", "user"]
    assert "<history>" in json.dumps(multi) and "alice: I think 42." in json.dumps(multi)


def test_001_per_provider_formatters_and_the_default():
    from agentscope_legacy import formatter, model

    for provider in ("DashScope", "OpenAI", "Anthropic", "Gemini", "Ollama"):
        chat = getattr(formatter, f"{provider}ChatFormatter")
        assert callable(getattr(formatter, f"{provider}MultiAgentFormatter")().format)
        cls = getattr(model, f"{provider}ChatModel")
        assert issubclass(cls, ChatModelBase)
        server_free = cls("m", api_key=API_KEY, stream=False)  # no call: no endpoint needed
        assert type(server_free.formatter) is chat  # ChatFormatter is the default


def test_001_credential_classes_listed():
    from agentscope_legacy import credential

    for name in (
        "OpenAICredential",
        "AnthropicCredential",
        "DashScopeCredential",
        "GeminiCredential",
        "OllamaCredential",
        "DeepSeekCredential",
        "KimiCredential",
        "XAICredential",
    ):
        assert issubclass(getattr(credential, name), credential.CredentialBase), name


# -- reference 001: custom provider -------------------------------------------------------------
from agentscope_legacy.credential import CredentialBase  # noqa: E402


class MyProviderCredential(CredentialBase):
    # super("my_provider:" + apiKey.substring(0, 4)): the id is derived here (CredentialBase.id)
    provider = "my_provider"
    default_base_url = "https://api.myprovider.com/v1"  # baseUrl == null ? "https://..." : ..

    def get_chat_model_class(self) -> type[ChatModelBase]:
        return MyProviderChatModel


class MyProviderChatModel(ChatModelBase):
    def __init__(self, credential: MyProviderCredential, model_name: str) -> None:
        super().__init__(model_name, stream=True)
        self.credential = credential

    async def _generate(self, messages: list[dict[str, Any]], **kwargs: Any):
        # Call the provider's API, wrap responses into ChatResponses (Flux.empty()).
        return
        yield


def test_001_custom_provider_as_written(monkeypatch):
    monkeypatch.setenv("MYPROV_API_KEY", "sk-myprov-0123456789")
    ModelRegistry.register_factory(
        "myprov:.*",
        lambda model_id: MyProviderChatModel(
            MyProviderCredential(api_key=os.environ["MYPROV_API_KEY"]),
            model_id[len("myprov:") :],
        ),
    )
    try:
        # ReActAgent.builder().model("myprov:my-model-v1")...
        agent = ReActAgent("bot", "", "myprov:my-model-v1")
        assert isinstance(agent.model, MyProviderChatModel)
        assert agent.model.model_name == "my-model-v1"
        cred = agent.model.credential
        assert cred.base_url == "https://api.myprovider.com/v1"
        assert cred.get_chat_model_class() is MyProviderChatModel
        assert cred.id.startswith("my_provider:")
        # The snippet's doStream is a stub (Flux.empty()): a call is a typed error saying so.
        with pytest.raises(ResponseFormatError, match="before any event arrived"):
            agent(Msg("user", "hi", "user"))
    finally:
        ModelRegistry.unregister("myprov:.*")


# -- reference 001: ModelCards ------------------------------------------------------------------
def test_001_model_cards(capsys):
    from agentscope_legacy.credential import AnthropicCredential
    from tests.emulators.anthropic import shared_anthropic_emulator

    server = shared_anthropic_emulator()
    server.clear()
    server.set_models(
        [
            {
                "type": "model",
                "id": "claude-sonnet-4-6",
                "display_name": "Claude Sonnet 4.6",
                "created_at": "2025-01-01T00:00:00Z",
            }
        ]
    )
    # new AnthropicCredential(System.getenv("ANTHROPIC_API_KEY")), the emulator's endpoint
    cred = AnthropicCredential("sk-ant-snippets-0123456789", base_url=server.base_url, cache_ttl=0)
    cards = cred.list_models_sync()  # listModels().block()
    for card in cards:
        print(card.model_name + ": context=" + str(card.context_size))
    model_cls = cred.get_chat_model_class()

    assert capsys.readouterr().out.startswith("claude-sonnet-4-6: context=")
    assert cards[0].display_name == "Claude Sonnet 4.6"
    from agentscope_legacy.model import AnthropicChatModel

    assert model_cls is AnthropicChatModel
    server.clear()


# -- ReActAgent: the tool loop through every newer-layer chat model -----------------------------
def get_weather(city: str) -> dict[str, Any]:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return {"city": city, "sky": "sunny", "celsius": 21}


def boom() -> str:
    """Fails."""
    raise RuntimeError("no luck")


def not_json() -> Any:
    """Returns a set, which JSON cannot hold."""
    return {1, 2}


def hangs() -> str:
    """Sleeps past its timeout."""
    time.sleep(1.0)
    return "late"


@pytest.fixture(params=list(PROVIDERS))
def provider(request):
    emulator_factory, make, _ = PROVIDERS[request.param]
    server = emulator_factory()
    server.clear()
    yield request.param, server, lambda **kw: make(server, **kw)
    server.clear()


def scripted(server: Any, *replies: dict[str, Any]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        bodies.append(body)
        return replies[min(len(bodies), len(replies)) - 1]

    server.set_reply_fn(reply)
    return bodies


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_react_loop_through_every_chat_model_and_its_formatter(provider, stream):
    name, server, make = provider
    call = {"id": "call_w", "name": "get_weather", "arguments": {"city": "Paris"}}
    bodies = scripted(server, {"text": "", "tool_calls": [call]}, {"text": "Sunny, 21."})
    agent = ReActAgent("bot", "You help.", make(stream=stream), toolkit=Toolkit([get_weather]))
    msg = agent(Msg("user", "Weather in Paris?", "user"))
    assert msg.get_text_content() == "Sunny, 21."
    assert len(bodies) == 2
    assert "get_weather" in json.dumps(bodies[0]) and "sunny" not in json.dumps(bodies[0])
    assert "sunny" in json.dumps(bodies[1])  # the result went back, in the provider's shape
    kinds = [[b["type"] for b in m.get_content_blocks()] for m in agent.memory]
    assert kinds == [["text"], ["tool_use"], ["tool_result"], ["text"]]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_bad_tools_become_results_on_every_provider(provider, stream):
    name, server, make = provider
    calls = [
        {"id": "c1", "name": "boom", "arguments": {}},
        {"id": "c2", "name": "not_json", "arguments": {}},
        {"id": "c3", "name": "hangs", "arguments": {}},
        {"id": "c4", "name": "no_such_tool", "arguments": {}},
    ]
    bodies = scripted(server, {"text": "", "tool_calls": calls}, {"text": "Sorry."})
    toolkit = Toolkit([boom, not_json])
    toolkit.register_tool_function(hangs, timeout=0.2)
    agent = ReActAgent("bot", "", make(stream=stream), toolkit=toolkit)
    assert agent(Msg("user", "go", "user")).get_text_content() == "Sorry."
    results = [b for m in agent.memory for b in m.get_content_blocks("tool_result")]
    outputs = [json.dumps(r["output"]) for r in results]
    assert len(outputs) == 4 and all("Error" in o for o in outputs), outputs
    assert "no luck" in outputs[0] and "set" in outputs[1]
    assert "0.2" in outputs[2] and "no_such_tool" in outputs[3]
    wire = json.dumps(bodies[1])
    for needle in ("no luck", "no_such_tool", "0.2"):
        assert needle in wire, (name, needle)


def test_a_tool_hung_for_good_does_not_hang_the_sync_reply():
    """reply() runs its loop with asyncio.run, which waits for the loop's executor threads on
    exit: a tool that never returns must not be one of them."""
    import threading

    from tests.emulators.fixtures import shared_openai_emulator
    from tests.test_react_agent import scripted as script

    release = threading.Event()
    safety = threading.Timer(20.0, release.set)  # a regression fails instead of hanging CI
    safety.start()

    def stuck() -> str:
        """Never returns (until the test ends)."""
        release.wait()
        return "late"

    server = shared_openai_emulator()
    server.clear()
    bodies = script(
        server, {"text": "", "tool_calls": [{"id": "c", "name": "stuck", "arguments": {}}]},
        {"text": "Gave up."},
    )  # fmt: skip
    model = PROVIDERS["openai"][1](server, stream=False)
    agent = ReActAgent("bot", "", model, toolkit=Toolkit([stuck], timeout=0.2))
    try:
        assert agent(Msg("user", "go", "user")).get_text_content() == "Gave up."
        assert not release.is_set()  # returned while the tool still blocks
        assert "did not finish within 0.2 s" in json.dumps(bodies[1])
    finally:
        release.set()
        safety.cancel()
        server.clear()
