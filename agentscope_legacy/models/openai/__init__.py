"""OpenAI and OpenAI-compatible servers through the official ``openai`` SDK.

One module per model family (``chat``, ``embedding``, ``image``: DALL-E) over ``_client``
(the SDK import, the wrappers' base, typed errors); response parsing is ``.._openai_shape``.

One SDK client per wrapper, built at construction with the SDK's own retries off (the base
class retries, honouring Retry-After, the same way for every provider). Request kwargs that
``create()`` does not know (vLLM's ``top_k``, DashScope's ``enable_thinking``, ...) are sent
through ``extra_body`` so OpenAI-compatible servers get their vendor fields.
"""

from __future__ import annotations

from ._client import OpenAIWrapperBase, import_openai
from .chat import (
    AFTER_DONE_WAIT,
    OPENAI_FORMAT_MODELS,
    OpenAIChatWrapper,
    post_arguments,
    response_from_reply,
)
from .embedding import OpenAIEmbeddingWrapper, embedding_response
from .image import OpenAIDALLEWrapper

__all__ = [
    "AFTER_DONE_WAIT",
    "OPENAI_FORMAT_MODELS",
    "OpenAIChatWrapper",
    "OpenAIDALLEWrapper",
    "OpenAIEmbeddingWrapper",
    "OpenAIWrapperBase",
    "embedding_response",
    "import_openai",
    "post_arguments",
    "response_from_reply",
]
