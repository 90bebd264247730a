"""``dashscope_text_embedding``: ``TextEmbedding``."""

from __future__ import annotations

from typing import Any

from ...errors import (
    ResponseFormatError,
)
from ..response import ModelResponse, Usage
from ._client import DashScopeWrapperBase, _checked


class DashScopeTextEmbeddingWrapper(DashScopeWrapperBase):
    """``dashscope_text_embedding``: one vector per input, for a str or a list input."""

    model_type = "dashscope_text_embedding"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return {**kwargs, "model": self.model_name, "input": texts}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        rsp = _checked(self.sdk.TextEmbedding.call(**request, **self._transport()))
        tokens = (rsp.get("usage") or {}).get("total_tokens") or 0
        return ModelResponse(
            embedding=vectors_from_output(rsp.get("output")), raw=rsp, usage=Usage(tokens, 0)
        )


def vectors_from_output(output: Any) -> list[list[float]]:
    """``output.embeddings[].embedding`` in input order (by ``text_index``)."""
    try:
        items = sorted(output["embeddings"], key=lambda e: e.get("text_index", 0))
        return [item["embedding"] for item in items]
    except (KeyError, TypeError, AttributeError):
        raise ResponseFormatError(f"no embeddings in the response: {str(output)[:200]}") from None
