"""The async chat models of AgentScope's newer model layer, on the legacy provider wrappers.

::

    model = DashScopeChatModel(model_name="qwen-max", api_key=..., stream=False)
    res = await model(formatted_messages)          # a ChatResponse
    res.content, res.usage

    model = DashScopeChatModel(model_name="qwen-max", api_key=..., stream=True)
    async for chunk in await model(formatted_messages):   # accumulative ChatResponses
        print(chunk.content)

    model = DashScopeChatModel("qwen-max", formatter=DashScopeMultiAgentFormatter())
    res = await model([Msg("alice", "Hi", "assistant"), Msg("user", "And you?", "user")])
    async for chunk in model.stream(msgs, tools=None, options=GenerateOptions(max_tokens=64)):
        ...                                        # whatever the stream flag

A model formats ``Msg`` inputs with its ``formatter`` (default: its provider's Chat
formatter); formatted dicts are sent as they are. ``base_url`` and ``api_key`` are plain
arguments of every remote model, whatever its SDK calls them.

Each model holds one wrapper of :mod:`agentscope_legacy.models` (``model.wrapper``), which does
the provider work: request building, the SDK call (its async client where there is one),
parsing, retries, typed errors and usage records. A custom provider's model implements only
``_generate`` and gets an adapter as its wrapper (``_adapter``). ``ModelRegistry`` turns
``"provider:model"`` strings into models; ``GenerateOptions`` are the common options.
"""

from ..models._structured import (
    STRUCTURED_TOOL,
    StructuredOutputError,
    astructured_call,
    structured_call,
)
from ._anthropic_model import AnthropicChatModel
from ._base import ChatModelBase
from ._dashscope_model import DashScopeChatModel
from ._gemini_model import GeminiChatModel
from ._llamacpp_model import LlamaCppChatModel
from ._ollama_model import OllamaChatModel
from ._openai_model import OpenAIChatModel
from ._options import GenerateOptions
from ._registry import ModelFactory, ModelRegistry
from ._response import ChatResponse, ChatUsage

__all__ = [
    "STRUCTURED_TOOL",
    "AnthropicChatModel",
    "ChatModelBase",
    "ChatResponse",
    "ChatUsage",
    "DashScopeChatModel",
    "GeminiChatModel",
    "GenerateOptions",
    "LlamaCppChatModel",
    "ModelFactory",
    "ModelRegistry",
    "OllamaChatModel",
    "OpenAIChatModel",
    "StructuredOutputError",
    "astructured_call",
    "structured_call",
]
