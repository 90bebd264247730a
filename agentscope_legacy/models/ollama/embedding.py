"""``ollama_embedding``: /api/embed, one vector per input."""

from __future__ import annotations

from typing import Any

from ...errors import ResponseFormatError
from ..response import ModelResponse, Usage
from ._client import OllamaWrapperBase


class OllamaEmbeddingWrapper(OllamaWrapperBase):
    """``ollama_embedding``: /api/embed; one vector per input, for a str or a list input."""

    model_type = "ollama_embedding"
    legacy_arg_names = {"prompt": "texts"}  # 0.x: model(prompt=...)

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return self._merge(kwargs, {"input": texts})

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.embed(**request)
        expected = 1 if isinstance(request["input"], str) else len(request["input"])
        vectors = [list(v) for v in result.embeddings]
        if len(vectors) != expected:
            raise ResponseFormatError(f"expected {expected} embeddings, got {len(vectors)}")
        return ModelResponse(
            embedding=vectors, raw=result, usage=Usage(result.prompt_eval_count or 0, 0)
        )
