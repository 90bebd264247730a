"""Non-streamed calls parse the reply's JSON themselves (issue 10 part 5): what goes over the
wire must still be exactly what the SDK's ``create()`` sends, and the reply must still carry
the request id; ``raw`` is the JSON document, as in 0.x.

openai_chat posts through ``client.post`` (skipping ``create()``'s walk over its typed
parameter declarations), anthropic_chat calls ``create()`` through ``with_raw_response``.
The parity table (``test_parity.py``) checks text, tool calls, usage and errors.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from agentscope_legacy.errors import ProviderTimeoutError
from agentscope_legacy.models import load_model_by_config_name, read_model_configs
from tests.emulators import STALL, Fault
from tests.emulators import anthropic as anthropic_emulator

anthropic_server = anthropic_emulator.anthropic_server

MESSAGES = [{"role": "user", "content": "hi"}]
# Headers that say how a request was made rather than what it asks.
_CALL_HEADERS = {"x-stainless-raw-response", "x-stainless-retry-count", "x-stainless-read-timeout"}


def _load(config: dict[str, Any]) -> Any:
    read_model_configs([config])
    return load_model_by_config_name(config["config_name"])


def _openai_model(server: Any, **overrides: Any) -> Any:
    config = {
        "config_name": "gpt-json",
        "model_type": "openai_chat",
        "model_name": "gpt-4o-mini",
        "api_key": f"sk-test-{uuid.uuid4().hex}",
        "base_url": server.base_url + "/v1",
        "max_retries": 0,
        **overrides,
    }
    return _load(config)


def _what_was_asked(request: Any) -> tuple[str, str, dict[str, str], Any]:
    headers = {k: v for k, v in request.headers.items() if k not in _CALL_HEADERS}
    return request.method, request.path, headers, request.json


def test_openai_sends_what_create_sends(openai_server):
    import openai

    model = _openai_model(openai_server)
    options = {
        "extra_headers": {"X-Trace": "t1"},
        "extra_query": {"api-version": "v9"},
    }
    model(MESSAGES, temperature=0.5, seed=7, top_k=3, extra_body={"enable_thinking": False},
          **options)  # fmt: skip
    client = openai.OpenAI(api_key=model.client.api_key, base_url=model.base_url, max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.5,
        seed=7,
        extra_body={"top_k": 3, "enable_thinking": False},
        **options,
    )
    ours, theirs = (_what_was_asked(r) for r in openai_server.requests[-2:])
    assert ours == theirs
    assert ours[3]["top_k"] == 3 and ours[2]["x-trace"] == "t1" and "api-version=v9" in ours[1]


def test_openai_reply_is_the_json_document_with_its_request_id(openai_server):
    openai_server.set_reply(text="Hello!")
    openai_server.add_fault(Fault(headers={"x-request-id": "req_42"}))
    model = _openai_model(openai_server)
    response = model(MESSAGES)
    assert response.text == "Hello!" and response.request_id == "req_42"
    assert isinstance(response.raw, dict)
    assert response.raw["choices"][0]["message"]["content"] == "Hello!"

    openai_server.add_fault(Fault(headers={"x-request-id": "req_43"}))
    response = asyncio.run(model.acall(MESSAGES))
    assert (response.text, response.request_id) == ("Hello!", "req_43")


def test_openai_per_call_timeout_is_honoured(openai_server):
    openai_server.add_fault(Fault(delay=STALL))
    model = _openai_model(openai_server)
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError):
        model(MESSAGES, timeout=0.2)
    assert time.perf_counter() - started >= 0.2  # the stall is 30 s: raising at all proves it


def test_anthropic_sends_what_create_sends(anthropic_server):
    import anthropic

    key = f"sk-ant-{uuid.uuid4().hex}"
    model = _load(
        {
            "config_name": "claude-json",
            "model_type": "anthropic_chat",
            "model_name": "claude-sonnet-4-6",
            "api_key": key,
            "base_url": anthropic_server.base_url,
            "max_retries": 0,
        }
    )
    response = model(MESSAGES, temperature=0.5)
    client = anthropic.Anthropic(api_key=key, base_url=anthropic_server.base_url, max_retries=0)
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=model.max_tokens,
        messages=MESSAGES,
        extra_body={"temperature": 0.5},
    )
    ours, theirs = (_what_was_asked(r) for r in anthropic_server.requests[-2:])
    assert ours == theirs
    assert isinstance(response.raw, dict) and response.raw["type"] == "message"
    assert response.request_id and response.request_id.startswith("req_emu")
