"""Async embedding models in the newer AgentScope style, with an on-disk cache.

Each model drives one legacy embedding wrapper (request building, parsing, retries, typed
errors and usage records stay the wrapper's)::

    model = OpenAITextEmbedding("text-embedding-3-small", dimensions=256, cache=EmbeddingCache())
    response = await model(["first text", "second text"])
    response.embeddings  # two vectors, in input order
    response.source      # "cache" when every vector came from the cache, else "api"

``DashScopeMultiModalEmbedding`` and ``GeminiMultiModalEmbedding`` also take ``ImageBlock`` and
``VideoBlock`` inputs; ``supported_modalities`` says what each model embeds.
"""

from ._base import EmbeddingModelBase, TextInput
from ._cache import EmbeddingCache, EmbeddingCacheBase
from ._models import (
    DashScopeTextEmbedding,
    GeminiTextEmbedding,
    LocalTextEmbedding,
    OllamaTextEmbedding,
    OpenAITextEmbedding,
    SentenceTransformerEmbedding,
    embedding_model_from_config,
)
from ._multimodal import DashScopeMultiModalEmbedding, GeminiMultiModalEmbedding, MultiModalInput
from ._response import Embedding, EmbeddingResponse, EmbeddingUsage

#: AgentScope's name for the file cache.
FileEmbeddingCache = EmbeddingCache

__all__ = [
    "DashScopeMultiModalEmbedding",
    "DashScopeTextEmbedding",
    "Embedding",
    "EmbeddingCache",
    "EmbeddingCacheBase",
    "EmbeddingModelBase",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "FileEmbeddingCache",
    "GeminiMultiModalEmbedding",
    "GeminiTextEmbedding",
    "LocalTextEmbedding",
    "MultiModalInput",
    "OllamaTextEmbedding",
    "OpenAITextEmbedding",
    "SentenceTransformerEmbedding",
    "TextInput",
    "embedding_model_from_config",
]
