"""``gemini_embedding``: batchEmbedContents, one vector per input."""

from __future__ import annotations

from typing import Any

from ...errors import ResponseFormatError
from ..response import ModelResponse, Usage
from ._client import GeminiWrapperBase


class GeminiEmbeddingWrapper(GeminiWrapperBase):
    """``gemini_embedding``: one vector per input (always ``:batchEmbedContents``)."""

    model_type = "gemini_embedding"
    legacy_arg_names = {"content": "texts"}  # 0.x: model(content=...)

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        config = dict(kwargs.pop("config", None) or {})
        config.update(kwargs)  # task_type, title, output_dimensionality, ...
        if isinstance(config.get("task_type"), str):
            config["task_type"] = config["task_type"].upper()  # 0.x took "retrieval_query"
        contents = [texts] if isinstance(texts, str) else list(texts)
        return {"model": self.model_name, "contents": contents, "config": config or None}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.models.embed_content(**request)
        vectors = [list(e.values or []) for e in result.embeddings or []]
        if len(vectors) != len(request["contents"]):
            raise ResponseFormatError(
                f"expected {len(request['contents'])} embeddings, got {len(vectors)}"
            )
        meta = result.usage_metadata
        tokens = (meta.prompt_token_count or 0) if meta is not None else 0
        return ModelResponse(embedding=vectors, raw=result, usage=Usage(tokens, 0))
