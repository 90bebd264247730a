"""``dashscope_text_embedding`` (``TextEmbedding``) and ``dashscope_multimodal_embedding``
(``MultiModalEmbedding``: text, images and videos)."""

from __future__ import annotations

from typing import Any

from ...errors import (
    ResponseFormatError,
)
from ..response import ModelResponse, Usage
from ._client import DashScopeWrapperBase, _checked
from ._messages import inline_local_media


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


def vectors_from_output(output: Any, index_key: str = "text_index") -> list[list[float]]:
    """``output.embeddings[].embedding`` in input order (by ``index_key``)."""
    try:
        items = sorted(output["embeddings"], key=lambda e: e.get(index_key, 0))
        return [item["embedding"] for item in items]
    except (KeyError, TypeError, AttributeError):
        raise ResponseFormatError(f"no embeddings in the response: {str(output)[:200]}") from None


class DashScopeMultiModalEmbeddingWrapper(DashScopeWrapperBase):
    """``dashscope_multimodal_embedding``: ``MultiModalEmbedding`` (multimodal-embedding-v1,
    tongyi-embedding-vision-*, qwen*-vl-embedding): one vector per content item.

    Items are DashScope contents (``{"text": str}``, ``{"image": url}``, ``{"video": url}``);
    local files are sent inline as data URLs, never uploaded to OSS by the SDK.
    """

    model_type = "dashscope_multimodal_embedding"

    def _build_request(
        self, contents: str | list[Any], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        items = [contents] if isinstance(contents, (str, dict)) else list(contents)
        items = [{"text": i} if isinstance(i, str) else i for i in items]
        inlined = inline_local_media([{"role": "user", "content": items}], guard_text=True)
        return {**kwargs, "model": self.model_name, "input": inlined[0]["content"]}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        rsp = _checked(self.sdk.MultiModalEmbedding.call(**request, **self._transport()))
        usage = rsp.get("usage") or {}
        tokens = usage.get("input_tokens") or usage.get("total_tokens") or 0
        return ModelResponse(
            embedding=vectors_from_output(rsp.get("output"), "index"),
            raw=rsp,
            usage=Usage(tokens, 0),
        )
