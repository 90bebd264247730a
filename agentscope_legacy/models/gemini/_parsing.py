"""Response parsing (pure): a reply, or one streamed chunk, to a ModelResponse or a Delta."""

from __future__ import annotations

from typing import Any

from ...errors import ResponseFormatError
from ..response import Delta, ModelResponse, Usage, tool_call_block

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


_FILTERED = {"RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def _content(response: Any, first_call: int) -> tuple[Any, list[str], list[str], list[dict]]:
    """(candidate, text pieces, thought pieces, whole tool calls) of one (chunk of a) reply."""
    candidate = (response.candidates or [None])[0]
    content = getattr(candidate, "content", None)
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in getattr(content, "parts", None) or []:
        if part.function_call is not None:
            index = first_call + len(calls)
            fc = part.function_call
            call = {"index": index, "id": fc.id or f"call_{index}", "name": fc.name or ""}
            calls.append({**call, "input": dict(fc.args or {})})
        elif part.text:
            (thoughts if part.thought else texts).append(part.text)
    return candidate, texts, thoughts, calls


def _usage(meta: Any) -> tuple[int, int] | None:
    if meta is None:
        return None
    prompt = (meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0)
    return prompt, (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)


def _finish_reason(response: Any, candidate: Any, has_calls: bool) -> str | None:
    reason = getattr(candidate, "finish_reason", None)
    if reason is None:
        feedback = getattr(response, "prompt_feedback", None)
        return "content_filter" if getattr(feedback, "block_reason", None) else None
    reason = str(getattr(reason, "value", reason))
    if reason == "STOP" and has_calls:
        return "tool_calls"
    return "content_filter" if reason in _FILTERED else _FINISH.get(reason, reason.lower())


def response_from_gemini(response: Any) -> ModelResponse:
    if not response.candidates and getattr(response, "prompt_feedback", None) is None:
        raise ResponseFormatError("the response has no candidates and no promptFeedback")
    candidate, texts, thoughts, calls = _content(response, 0)
    usage = _usage(response.usage_metadata) or (0, 0)
    result = ModelResponse(
        text="".join(texts),
        raw=response,
        tool_calls=[tool_call_block(c["id"], c["name"], c["input"]) for c in calls] or None,
        usage=Usage(*usage),
        reasoning="".join(thoughts) or None,
        finish_reason=_finish_reason(response, candidate, bool(calls)),
    )
    result.request_id = response.response_id
    return result


def delta_from_gemini(chunk: Any, calls_before: int) -> tuple[Delta, int]:
    """A Delta from one streamed chunk and how many tool calls it carried."""
    candidate, texts, thoughts, calls = _content(chunk, calls_before)
    finish = _finish_reason(chunk, candidate, calls_before + len(calls) > 0)
    delta = Delta(
        "".join(texts),
        "".join(thoughts),
        calls or None,
        _usage(chunk.usage_metadata),
        finish,
        chunk.response_id,
    )
    return delta, len(calls)
