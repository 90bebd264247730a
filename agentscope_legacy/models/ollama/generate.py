"""``ollama_generate``: /api/generate on a plain prompt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .._format import common_multi_agent_messages, flatten_msgs
from ..response import Delta, ModelResponse, Usage
from ._client import _PROPERTIES, _THINK, OllamaWrapperBase, _until_done
from ._parsing import _usage


class OllamaGenerationWrapper(OllamaWrapperBase):
    """``ollama_generate``: /api/generate on a plain prompt; kwargs reach the SDK."""

    model_type = "ollama_generate"
    can_stream = True
    config_schema = {"properties": {**_PROPERTIES, **_THINK}}

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        think: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.think = think

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> str:
        """One prompt string: the system text, then the conversation history."""
        messages = common_multi_agent_messages(flatten_msgs(*args))
        return "\n\n".join(m["content"] for m in messages if m["content"])

    def _build_request(self, prompt: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(prompt, str):
            raise ValueError(f"the prompt must be a str, got {type(prompt).__name__}")
        think = kwargs.pop("think", self.think)
        extra: dict[str, Any] = {"prompt": prompt, "stream": stream}
        if think is not None:
            extra["think"] = think
        return self._merge(kwargs, extra)

    def _sdk_call(self, request: dict[str, Any]) -> Any:
        return self.client.generate(**request)

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        part = self._sdk_call(request)
        return ModelResponse(
            text=part.response or "",
            raw=part,
            usage=Usage(*_usage(part)),
            reasoning=part.thinking or None,
            finish_reason=part.done_reason,
        )

    def _iter_deltas(self, sdk_stream: Any) -> Iterator[Delta]:
        for part in _until_done(sdk_stream):
            yield Delta(
                part.response or "",
                part.thinking or "",
                None,
                _usage(part) if part.done else None,
                part.done_reason if part.done else None,
            )
