"""A custom provider the reference's way: a ``CredentialBase`` and a ``ChatModelBase``
implementing only ``_generate``, registered with ``ModelRegistry.register_factory``.

The provider here is an OpenAI-compatible service reached with the real ``openai`` SDK
(``AsyncOpenAI``, streamed) against the loopback emulator, so the tests follow a reply from
the wire through the adapter into agents, experiments, formatters, usage records and budgets.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import agentscope_legacy
from agentscope_legacy._runtime import get_runtime
from agentscope_legacy.agents import DialogAgent
from agentscope_legacy.credential import CredentialBase
from agentscope_legacy.errors import (
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
)
from agentscope_legacy.experiment import load
from agentscope_legacy.formatter import OpenAIChatFormatter
from agentscope_legacy.message import Msg
from agentscope_legacy.model import ChatModelBase, ChatResponse, ChatUsage, ModelRegistry
from agentscope_legacy.models import load_model_by_config_name

KEY = "sk-test-myprov-31c4d2"


class MyProviderCredential(CredentialBase):
    provider = "myprov"
    api_key_env = ("MYPROV_API_KEY",)

    def get_chat_model_class(self) -> type[ChatModelBase]:
        return MyProviderChatModel


class MyProviderChatModel(ChatModelBase):
    """Streams the service's reply as accumulative ChatResponses, the last with its usage."""

    provider = "myprov"

    def __init__(self, credential: MyProviderCredential, model_name: str) -> None:
        super().__init__(model_name, stream=True)
        self.credential = credential

    async def _generate(self, messages: list[dict[str, Any]], **kwargs: Any):
        from openai import AsyncOpenAI

        client = AsyncOpenAI(
            api_key=self.credential.api_key, base_url=self.credential.base_url, max_retries=0
        )
        async with client:
            stream = await client.chat.completions.create(
                model=self.model_name,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            )
            text, usage = "", None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                    yield ChatResponse([{"type": "text", "text": text}], is_last=False)
                if chunk.usage:
                    usage = ChatUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, 0)
            yield ChatResponse([{"type": "text", "text": text}], usage=usage)


@pytest.fixture
def myprov(openai_server, monkeypatch):
    """The provider registered, its key in the environment, the emulator behind it."""
    monkeypatch.setenv("MYPROV_API_KEY", KEY)
    openai_server.set_reply(text="Custom hello there")
    base_url = openai_server.base_url + "/v1"

    def factory(model_id: str) -> ChatModelBase:
        credential = MyProviderCredential(base_url=base_url)
        return MyProviderChatModel(credential, model_id.split(":", 1)[1])

    ModelRegistry.register_factory(r"myprov:.*", factory)
    yield openai_server
    ModelRegistry.unregister(r"myprov:.*")


def test_the_chat_model_streams_and_answers(myprov):
    model = ModelRegistry.resolve("myprov:m1")
    messages = [{"role": "user", "content": "Hi"}]

    async def both():
        whole = await model(messages, stream=False)
        chunks = [c async for c in await model(messages)]
        return whole, chunks

    whole, chunks = asyncio.run(both())
    assert whole.content == [{"type": "text", "text": "Custom hello there"}]
    assert whole.usage.input_tokens > 0 and whole.usage.output_tokens > 0
    assert [c.is_last for c in chunks].count(True) == 1 and chunks[-1].is_last
    assert chunks[-1].content == whole.content
    assert myprov.requests[-1].json["model"] == "m1"
    assert myprov.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_a_newer_layer_formatter_feeds_it(myprov):
    model = ModelRegistry.resolve("myprov:m1")
    msgs = [Msg("system", "Be brief.", "system"), Msg("user", "Hi", "user")]

    async def run():
        return await model(await OpenAIChatFormatter().format(msgs), stream=False)

    assert asyncio.run(run()).content[0]["text"] == "Custom hello there"
    sent = myprov.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]


def test_it_works_in_an_agent_with_usage_records(myprov, tmp_path):
    agentscope_legacy.init(save_dir=str(tmp_path), save_api_invoke=True, logger_level="WARNING")
    agent = DialogAgent("helper", "You are terse.", model_config_name="myprov:m1")
    reply = agent(Msg("user", "Hi", "user"))
    assert reply.content == "Custom hello there"
    (row,) = get_runtime().monitor.usage_rows()
    assert (row["config_name"], row["model_name"], row["calls"]) == ("myprov:m1", "m1", 1)
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    (record,) = [
        json.loads(line)
        for line in (get_runtime().run_dir / "invocations.jsonl").read_text().splitlines()
    ]
    assert KEY not in json.dumps(record)  # records never hold the key


def test_a_run_budget_stops_it(myprov):
    agentscope_legacy.init(disable_saving=True, budget={"max_calls": 1}, logger_level="WARNING")
    wrapper = load_model_by_config_name("myprov:m1")
    prompt = wrapper.format(Msg("user", "Hi", "user"))
    assert wrapper(prompt).text == "Custom hello there"
    with pytest.raises(QuotaExceededError):
        wrapper(prompt)
    assert len(myprov.requests) == 1


def test_it_works_in_an_experiment(myprov, tmp_path):
    experiment = load(
        {
            "agents": {
                "bot": {"class": "DialogAgent", "model": "myprov:m2", "sys_prompt": "Be kind."}
            },
            "pipeline": [{"say": {"name": "host", "content": "Hello"}}, "bot"],
            "run": {"save_dir": str(tmp_path)},
        }
    )
    result = experiment.run(quiet=True)
    assert result.final.content == "Custom hello there"
    assert [(r["config_name"], r["calls"]) for r in result.usage] == [("myprov:m2", 1)]
    assert (result.run_dir / "transcript.jsonl").read_text().count("Custom hello there") == 1


def test_the_legacy_wrapper_streams_deltas(myprov):
    wrapper = load_model_by_config_name("myprov:m1")
    response = wrapper(wrapper.format(Msg("user", "Hi", "user")), stream=True)
    pieces = list(response.stream)
    assert pieces[-1] == (True, "Custom hello there")
    assert response.usage.prompt_tokens > 0 and not response.usage.estimated


def test_a_registered_custom_credential_resolves_without_a_factory(openai_server, monkeypatch):
    from agentscope_legacy.credential import CREDENTIALS, register_credential

    class DirectCredential(MyProviderCredential):
        provider = "direct"  # its chat model gets it as `credential=` (the reference's way)

    monkeypatch.setenv("MYPROV_API_KEY", KEY)
    monkeypatch.setattr(DirectCredential, "default_base_url", openai_server.base_url + "/v1")
    openai_server.set_reply(text="Direct hello")
    register_credential(DirectCredential)
    try:
        model = ModelRegistry.resolve("direct:m3")
        assert isinstance(model, MyProviderChatModel) and model.model_name == "m3"
        wrapper = load_model_by_config_name("direct:m3")
        assert wrapper(wrapper.format(Msg("user", "Hi", "user"))).text == "Direct hello"
        assert openai_server.requests[-1].json["model"] == "m3"
    finally:
        CREDENTIALS.pop("direct")


# -- the adapter's edges ---------------------------------------------------------------------
class Scripted(ChatModelBase):
    def __init__(self, chunks: list[ChatResponse]) -> None:
        super().__init__("scripted", stream=True)
        self.chunks = chunks

    async def _generate(self, messages, **kwargs):
        for chunk in self.chunks:
            yield chunk


def test_tool_calls_and_thinking_reach_the_legacy_response():
    call = {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}}
    model = Scripted(
        [
            ChatResponse([{"type": "thinking", "thinking": "Let me"}], is_last=False),
            ChatResponse(
                [{"type": "thinking", "thinking": "Let me check."}, call],
                usage=ChatUsage(4, 2, 0.1),
            ),
        ]
    )
    for stream in (False, True):
        response = model.wrapper([{"role": "user", "content": "Weather?"}], stream=stream)
        assert response.text == ""
        assert response.reasoning == "Let me check."
        assert response.tool_calls == [call]
        assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 2)


def test_chunks_that_are_not_accumulative_are_an_error():
    model = Scripted(
        [
            ChatResponse([{"type": "text", "text": "Hello"}], is_last=False),
            ChatResponse([{"type": "text", "text": " world"}]),
        ]
    )
    response = model.wrapper([{"role": "user", "content": "Hi"}], stream=True)
    with pytest.raises(ResponseFormatError):
        list(response.stream)


def test_a_model_without_wrapper_or_generate_says_what_to_implement():
    class Incomplete(ChatModelBase):
        pass

    with pytest.raises(AttributeError, match="implement _generate"):
        _ = Incomplete("x", stream=False).wrapper
    with pytest.raises(AttributeError, match="no attribute 'other'"):
        _ = Incomplete("x", stream=False).other


class Stalling(ChatModelBase):
    """Sends a first piece, then nothing: a provider that stopped answering."""

    def __init__(self) -> None:
        super().__init__("stalling", stream=True)

    async def _generate(self, messages, **kwargs):
        yield ChatResponse([{"type": "text", "text": "Hel"}], is_last=False)
        await asyncio.sleep(3600)
        yield ChatResponse([{"type": "text", "text": "Hello"}])


@pytest.mark.parametrize("stream", [False, True])
def test_a_stalled_model_ends_at_the_deadline_in_sync_calls(stream):
    wrapper = Stalling().wrapper
    wrapper.deadline = {"total": 0.2, "stream_idle": 0.2, "stream_total": 0.2}
    with pytest.raises(ProviderTimeoutError):
        response = wrapper([{"role": "user", "content": "Hi"}], stream=stream)
        list(response.stream) if stream else response.text


def test_a_stalled_model_ends_at_the_deadline_in_async_calls():
    wrapper = Stalling().wrapper
    wrapper.deadline = {"total": 0.2, "stream_idle": 0.2, "stream_total": 0.2}

    async def call():
        response = await wrapper.acall([{"role": "user", "content": "Hi"}], stream=True)
        return [piece async for piece in response.astream]

    with pytest.raises(ProviderTimeoutError):
        asyncio.run(call())


class Flaky(ChatModelBase):
    """Refuses the first call as rate limited (its SDK's error, translated), then answers."""

    def __init__(self) -> None:
        super().__init__("flaky", stream=False)
        self.calls = 0

    async def _generate(self, messages, **kwargs):
        self.calls += 1
        if self.calls == 1:
            raise LookupError("slow down")
        yield ChatResponse([{"type": "text", "text": "fine"}])

    def _translate_error(self, exc):
        return RateLimitError(str(exc)) if isinstance(exc, LookupError) else None


def test_typed_errors_of_a_custom_model_are_retried():
    model = Flaky()
    model.wrapper.retry_interval = 0.01
    assert model.wrapper([{"role": "user", "content": "Hi"}]).text == "fine"
    assert model.calls == 2
    failing = Flaky()
    failing.wrapper.max_retries = 0
    with pytest.raises(RateLimitError) as info:
        failing.wrapper([{"role": "user", "content": "Hi"}])
    assert info.value.provider == "custom" and info.value.model == "flaky"
