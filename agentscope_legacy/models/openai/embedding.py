"""``openai_embedding``: one vector per input."""

from __future__ import annotations

from typing import Any

from ..response import ModelResponse, Usage, sdk_dict
from ._client import OpenAIWrapperBase


class OpenAIEmbeddingWrapper(OpenAIWrapperBase):
    """``openai_embedding``: one vector per input, for a str or a list input."""

    model_type = "openai_embedding"

    def _build_request(
        self, texts: str | list[str], *, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        return {**kwargs, "input": texts, "model": self.model_name}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return embedding_response(self.client.embeddings.create(**request))

    async def _acall(self, request: dict[str, Any]) -> ModelResponse:
        return embedding_response(await self.aclient.embeddings.create(**request))


def embedding_response(result: Any) -> ModelResponse:
    """A ModelResponse with one vector per input, in input order."""
    vectors = [item.embedding for item in sorted(result.data, key=lambda d: d.index)]
    tokens = result.usage.prompt_tokens if result.usage else 0
    response = ModelResponse(embedding=vectors, raw=sdk_dict(result), usage=Usage(tokens, 0))
    response.sdk_response = result
    return response
