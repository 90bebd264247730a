"""Formatters (``agentscope_legacy.formatter``): ``Msg`` lists to provider message lists.

::

    formatter = OpenAIChatFormatter()
    messages = await formatter.format([Msg("user", "Hi!", "user")])

Chat formatters map one ``Msg`` to one provider message (plus tool-result messages); multi-agent
formatters fold earlier turns into one user message with a ``<history>`` section and keep tool
call/result sequences as the provider's tool messages. With ``token_counter`` and
``max_tokens`` the oldest messages are dropped until the prompt fits (see
:class:`TruncatedFormatterBase`). Blocks a provider does not take are dropped with a warning.
"""

from ._anthropic import AnthropicChatFormatter, AnthropicMultiAgentFormatter
from ._base import DEFAULT_CONVERSATION_HISTORY_PROMPT, FormatterBase, TruncatedFormatterBase
from ._dashscope import DashScopeChatFormatter, DashScopeMultiAgentFormatter
from ._deepseek import DeepSeekChatFormatter, DeepSeekMultiAgentFormatter
from ._gemini import GeminiChatFormatter, GeminiMultiAgentFormatter
from ._ollama import OllamaChatFormatter, OllamaMultiAgentFormatter
from ._openai import OpenAIChatFormatter, OpenAIMultiAgentFormatter

__all__ = [
    "DEFAULT_CONVERSATION_HISTORY_PROMPT",
    "AnthropicChatFormatter",
    "AnthropicMultiAgentFormatter",
    "DashScopeChatFormatter",
    "DashScopeMultiAgentFormatter",
    "DeepSeekChatFormatter",
    "DeepSeekMultiAgentFormatter",
    "FormatterBase",
    "GeminiChatFormatter",
    "GeminiMultiAgentFormatter",
    "OllamaChatFormatter",
    "OllamaMultiAgentFormatter",
    "OpenAIChatFormatter",
    "OpenAIMultiAgentFormatter",
    "TruncatedFormatterBase",
]
