"""ModelResponse: the stream contract, on plain delta iterators (no provider involved)."""

from __future__ import annotations

import json
import threading

import pytest

from agentscope_legacy.errors import ProviderConnectionError
from agentscope_legacy.models.response import Delta, ModelResponse, Usage


class Source:
    """A delta iterator that counts how far it was pulled and whether it was closed."""

    def __init__(self, deltas, fail_after=None):
        self.deltas = list(deltas)
        self.fail_after = fail_after
        self.pulled = 0
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_after is not None and self.pulled == self.fail_after:
            raise ProviderConnectionError("dropped")
        if self.pulled >= len(self.deltas):
            raise StopIteration
        self.pulled += 1
        return self.deltas[self.pulled - 1]

    def close(self):
        self.closed = True


def streamed(*texts, fail_after=None, **kw):
    finished = []
    source = Source([Delta(t) for t in texts] + [Delta(usage=(3, len(texts)))], fail_after)
    response = ModelResponse(stream=source, on_finish=lambda r, e: finished.append((r, e)), **kw)
    return response, source, finished


def test_accumulative_tuples_end_with_full_text():
    response, _, finished = streamed("Hel", "lo", "!")
    assert list(response.stream) == [(False, "Hel"), (False, "Hello"), (True, "Hello!")]
    assert response.text == "Hello!"
    assert response.usage.prompt_tokens == 3 and response.usage.completion_tokens == 3
    assert len(finished) == 1 and finished[0][1] is None


def test_one_chunk_reply_yields_exactly_last():
    response, _, _ = streamed("Hi")
    assert list(response.stream) == [(True, "Hi")]


def test_textless_reply_yields_one_empty_last_item():
    response, _, _ = streamed()
    assert list(response.stream) == [(True, "")]
    assert response.text == ""


def test_empty_deltas_do_not_produce_items():
    source = Source([Delta(""), Delta("a"), Delta(reasoning="think"), Delta(""), Delta("b")])
    response = ModelResponse(stream=source)
    assert list(response.stream) == [(False, "a"), (True, "ab")]
    assert response.reasoning == "think"


def test_second_iteration_replays_the_same_sequence():
    response, source, finished = streamed("a", "b", "c")
    first = list(response.stream)
    second = list(response.stream)
    assert first == second == [(False, "a"), (False, "ab"), (True, "abc")]
    assert list(response.deltas) == ["a", "b", "c"]
    assert source.pulled == 4 and len(finished) == 1


def test_text_drains_an_unconsumed_stream_once():
    response, source, finished = streamed("x", "y")
    assert response.text == "xy"
    assert response.text == "xy"
    assert list(response.stream) == [(False, "x"), (True, "xy")]
    assert source.closed and len(finished) == 1


def test_partly_consumed_stream_then_text_returns_everything():
    response, _, _ = streamed("1", "2", "3")
    iterator = response.deltas
    assert next(iterator) == "1"
    assert response.text == "123"


def test_break_cancels_and_finalises_once_with_partial_text():
    response, source, finished = streamed("a", "b", "c", "d")
    for _last, text in response.stream:
        if text == "ab":
            break
    assert source.closed
    assert response.finish_reason == "cancelled"
    assert len(finished) == 1 and finished[0][1] is None
    assert response.text == "abc"  # the held-back piece was received before the break
    response.close()
    assert len(finished) == 1


def test_failure_keeps_partial_text_and_reraises_on_every_access():
    response, source, finished = streamed("a", "b", "c", fail_after=2)
    seen = []
    with pytest.raises(ProviderConnectionError) as info:
        for item in response.stream:
            seen.append(item)
    assert seen == [(False, "a")]
    assert info.value.partial_text == "ab"
    assert finished[0][1] is info.value and len(finished) == 1
    with pytest.raises(ProviderConnectionError):
        _ = response.text
    with pytest.raises(ProviderConnectionError):
        list(response.stream)


def test_tool_call_fragments_are_assembled_by_index():
    deltas = [
        Delta(tool_calls=[{"index": 0, "id": "c1", "name": "f", "arguments": ""}]),
        Delta(tool_calls=[{"index": 1, "id": "c2", "name": "g", "arguments": '{"x"'}]),
        Delta(tool_calls=[{"index": 0, "arguments": '{"a": '}]),
        Delta(tool_calls=[{"index": 0, "arguments": "1}"}, {"index": 1, "arguments": ": 2}"}]),
        Delta(finish_reason="tool_calls"),
    ]
    response = ModelResponse(stream=Source(deltas))
    assert list(response.stream) == [(True, "")]
    assert response.tool_calls == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "c2", "name": "g", "input": {"x": 2}},
    ]
    assert response.finish_reason == "tool_calls"


def test_invalid_tool_arguments_are_kept_raw():
    deltas = [Delta(tool_calls=[{"index": 0, "id": "c", "name": "f", "arguments": "{oops"}])]
    response = ModelResponse(stream=Source(deltas))
    response.text  # noqa: B018 - drains
    assert response.tool_calls == [
        {"type": "tool_use", "id": "c", "name": "f", "input": {}, "raw_input": "{oops"}
    ]


def test_unconsumed_response_is_finalised_when_dropped():
    finished = []
    source = Source([Delta("a")])
    response = ModelResponse(stream=source, on_finish=lambda r, e: finished.append(r.finish_reason))
    del response
    assert finished == ["cancelled"] and source.closed


def test_concurrent_iterators_see_the_same_sequence():
    texts = [str(i % 10) for i in range(2000)]
    response = ModelResponse(stream=Source([Delta(t) for t in texts]))
    results = []

    def consume():
        results.append("".join(response.deltas))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["".join(texts)] * 4


def test_time_to_first_token_and_latency_are_measured():
    response, _, _ = streamed("a", "b")
    response.text  # noqa: B018
    assert response.usage.time_to_first_token is not None
    assert response.usage.latency >= response.usage.time_to_first_token >= 0


def test_non_streamed_response_has_no_stream():
    response = ModelResponse(text="done", usage=Usage(1, 2))
    assert response.stream is None and response.deltas is None
    assert response.text == "done" and not response.is_stream
    assert response.usage.total_tokens == 3


def test_str_is_json_like_0x():
    response, _, _ = streamed("a", "b")
    data = json.loads(str(response))
    assert data["text"] == "ab"
    assert set(data) == {"text", "embedding", "image_urls", "parsed", "raw"}


def test_many_chunks_through_deltas_and_text():
    # 20,000 pieces: the delta view and the drained text see every piece exactly once.
    response = ModelResponse(stream=Source([Delta("xyz") for _ in range(20000)]))
    assert sum(len(p) for p in response.deltas) == 60000
    assert len(response.text) == 60000
