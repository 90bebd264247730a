"""Ollama through the official ``ollama`` SDK: chat, generate and embeddings.

One module per model family (``chat``, ``generate``, ``embedding``) over ``_client`` (the SDK
import, the wrappers' base, typed errors, primed streams), ``_messages`` (pure message
translation) and ``_parsing`` (pure response parsing).

One ``ollama.Client`` per wrapper. The SDK has no retries (the base class retries) and no
timeout by default, so a finite one is always set. Model parameters (temperature, top_p,
num_predict, ...) live in Ollama's ``options``: the config's ``options`` are merged with the
call's, and call kwargs that name an option are moved into it.

Chat's ``acall`` uses the SDK's ``AsyncClient`` (one per event loop, built on first use) with
the same requests and parsing; generate and embeddings run their sync calls in a thread.
"""

from __future__ import annotations

from ._client import DEFAULT_TIMEOUT, OllamaWrapperBase, import_ollama, translate_error
from ._messages import IMAGE_EXTENSIONS, block_image, image_from_url, msg_images, ollama_messages
from ._messages import _image_from_url as _image_from_url  # the name before the formatter reused it
from ._parsing import ChatPartParser, call_id, response_from_chat, tool_call_blocks
from .chat import OllamaChatWrapper
from .embedding import OllamaEmbeddingWrapper
from .generate import OllamaGenerationWrapper

__all__ = [
    "DEFAULT_TIMEOUT",
    "IMAGE_EXTENSIONS",
    "ChatPartParser",
    "OllamaChatWrapper",
    "OllamaEmbeddingWrapper",
    "OllamaGenerationWrapper",
    "OllamaWrapperBase",
    "block_image",
    "call_id",
    "image_from_url",
    "import_ollama",
    "msg_images",
    "ollama_messages",
    "response_from_chat",
    "tool_call_blocks",
    "translate_error",
]
