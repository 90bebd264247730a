"""Google Gemini through the official ``google-genai`` SDK (``from google import genai``).

One module per model family (``chat``, ``embedding``) over ``_client`` (the SDK import, the
wrappers' base, typed errors), ``_messages`` (pure message translation) and ``_parsing``
(pure response parsing).

One ``genai.Client`` per wrapper, kept on the wrapper (a dropped client closes its HTTP client),
built with an explicit key and ``HttpOptions``: nothing process-global is configured. The SDK
does not retry unless ``retry_options`` is given: they are set to one attempt (the base retries),
which also turns off the implicit reconnect (after a 1-10 s sleep) of its aiohttp async path.
Async calls go through ``client.aio``.

Requests are plain dicts (``model``, ``contents``, ``config``) that the SDK validates; tools go
out as ``FunctionDeclaration`` dicts, never Python callables, and automatic function calling is
disabled, so one call is one request. ``timeout`` becomes ``HttpOptions.timeout`` (milliseconds,
one value for every phase: a ``{"connect", "read"}`` mapping uses ``read``).

Replies: ``"thought": true`` parts are reasoning, ``functionCall`` parts are whole tool calls
(``id`` is Gemini's when it sends one, else ``call_<n>`` counted over the reply, the same streamed
or not). Usage: ``prompt_tokens`` is ``promptTokenCount`` (plus ``toolUsePromptTokenCount``);
``completion_tokens`` is ``candidatesTokenCount`` plus ``thoughtsTokenCount``, since thinking
tokens are generated (and billed) output. ``STOP`` with tool calls is reported as ``tool_calls``.
"""

from __future__ import annotations

from ._client import GeminiWrapperBase, import_genai
from ._messages import (
    function_call_part,
    function_response_part,
    gemini_chat_contents,
    gemini_multi_agent_contents,
    image_part,
    split_system,
    tool_choice_to_gemini,
    tools_to_gemini,
)
from ._parsing import delta_from_gemini, response_from_gemini
from .chat import GeminiChatWrapper
from .embedding import GeminiEmbeddingWrapper

__all__ = [
    "GeminiChatWrapper",
    "GeminiEmbeddingWrapper",
    "GeminiWrapperBase",
    "delta_from_gemini",
    "function_call_part",
    "function_response_part",
    "gemini_chat_contents",
    "gemini_multi_agent_contents",
    "image_part",
    "import_genai",
    "response_from_gemini",
    "split_system",
    "tool_choice_to_gemini",
    "tools_to_gemini",
]
