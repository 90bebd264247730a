"""DashScope (Qwen) through the official ``dashscope`` SDK's legacy API.

One module per model family (``chat``: Generation and MultiModalConversation; ``embedding``;
``image``) over ``_client`` (the SDK import, typed errors, the wrappers' base) and
``_messages`` (pure message translation).

``Generation``, ``MultiModalConversation``, ``TextEmbedding`` and ``ImageSynthesis`` are
called with ``api_key=`` and ``base_address=`` on every call (never the SDK's process-global
``dashscope.api_key``/``base_http_api_url``), through one ``requests.Session`` per wrapper.

The legacy SDK does not raise for HTTP errors: it returns (or, streamed, yields) responses with
``status_code != 200``. They are turned into typed errors here, at the call or when a stream is
opened (so the base class can retry them) and in the middle of a stream (partial text kept).
Streams request ``incremental_output=True``; a stream that is cumulative anyway (explicit
``incremental_output: false``) is turned back into deltas by diffing.

The SDK uploads local files named in user messages (and image-synthesis inputs) to a remote
OSS bucket. Local images, audio and video are therefore inlined as base64 data URLs before the
call, and anything else the SDK would upload is rejected with a ValueError.

Chat's ``acall`` uses ``AioGeneration``/``AioMultiModalConversation``, which answer exactly like
the sync API (same parsing), each call through its own aiohttp session, closed when the call or
its stream ends: the SDK's shared per-loop session is never opened, so nothing is left for
``dashscope.close_shared_aio_session()``. Embeddings and image synthesis run in a thread.
"""

from __future__ import annotations

from ._client import (
    DashScopeWrapperBase,
    error_from_response,
    import_dashscope,
)
from ._messages import (
    MEDIA_KINDS,
    dashscope_chat_messages,
    dashscope_multi_agent_messages,
    inline_local_media,
    local_uri,
    media_item,
    media_kind,
    tool_choice_to_dashscope,
)
from .chat import (
    DashScopeChatWrapper,
    DashScopeMultiModalWrapper,
    DeltaParser,
    response_from_generation,
)
from .embedding import (
    DashScopeMultiModalEmbeddingWrapper,
    DashScopeTextEmbeddingWrapper,
    vectors_from_output,
)
from .image import (
    DEFAULT_TASK_WAIT,
    DashScopeImageSynthesisWrapper,
    response_from_task,
)

__all__ = [
    "DEFAULT_TASK_WAIT",
    "DashScopeChatWrapper",
    "DashScopeImageSynthesisWrapper",
    "DashScopeMultiModalEmbeddingWrapper",
    "DashScopeMultiModalWrapper",
    "DashScopeTextEmbeddingWrapper",
    "DashScopeWrapperBase",
    "DeltaParser",
    "MEDIA_KINDS",
    "dashscope_chat_messages",
    "dashscope_multi_agent_messages",
    "error_from_response",
    "import_dashscope",
    "inline_local_media",
    "local_uri",
    "media_item",
    "media_kind",
    "response_from_generation",
    "response_from_task",
    "tool_choice_to_dashscope",
    "vectors_from_output",
]
