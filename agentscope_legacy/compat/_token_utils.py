"""``agentscope.utils.token_utils`` of 0.x: ``count_openai_token`` and ``get_openai_max_length``.

Counting is this project's offline tiktoken counter (the same per-message formula as 0.x: 3
per message, 1 per name, 3 to prime the reply); the context sizes are 0.x's table, kept for
the old model names it knew.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from ..token import OpenAITokenCounter
from ..token._bpe import encoding_name_for_model, get_encoding

__all__ = ["OPENAI_MAX_LENGTH", "count_openai_token", "get_openai_max_length"]

#: 0.x's context sizes (its table was last updated 2023-12-12; newer models are not in it).
OPENAI_MAX_LENGTH: dict[str, int] = {
    "gpt-4-1106-preview": 128000, "gpt-4-vision-preview": 128000, "gpt-4": 8192,
    "gpt-4-32k": 32768, "gpt-4-0613": 8192, "gpt-4-32k-0613": 32768, "gpt-4-0314": 8192,
    "gpt-4-32k-0314": 32768, "gpt-3.5-turbo-1106": 16385, "gpt-3.5-turbo": 4096,
    "gpt-3.5-turbo-16k": 16385, "gpt-3.5-turbo-instruct": 4096, "gpt-3.5-turbo-0613": 4096,
    "gpt-3.5-turbo-16k-0613": 16385, "gpt-3.5-turbo-0301": 4096, "text-davinci-003": 4096,
    "text-davinci-002": 4096, "code-davinci-002": 4096, "text-curie-001": 2049,
    "text-babbage-001": 2049, "text-ada-001": 2049, "davinci": 2049, "curie": 2049,
    "babbage": 2049, "ada": 2049,
}  # fmt: skip
_UPDATED = 20231212
#: Completion models: their prompt is plain text, counted as such.
_COMPLETION_MODELS = frozenset(name for name, size in OPENAI_MAX_LENGTH.items() if size == 2049)
_COMPLETION_MODELS |= {"text-davinci-003", "text-davinci-002", "code-davinci-002"}


def get_openai_max_length(model_name: str) -> int:
    """The context size of an OpenAI model in 0.x's table; KeyError for other names."""
    try:
        return OPENAI_MAX_LENGTH[model_name]
    except KeyError:
        raise KeyError(
            f"Model [{model_name}] not found in OPENAI_MAX_LENGTH. "
            f"The last updated date is {_UPDATED}"
        ) from None


def count_openai_token(content: str | list[Any], model: str) -> int:
    """Tokens of a text or a list of chat messages (dicts) for an OpenAI ``model``."""
    items = [content] if isinstance(content, str) else list(content)
    if model in _COMPLETION_MODELS:
        if any(isinstance(item, dict) for item in items):
            raise NotImplementedError(f"counting chat messages is not implemented for {model}")
        try:
            encoding = get_encoding(encoding_name_for_model(model))
        except ValueError:  # r50k/p50k are not bundled: these models were retired in 2024
            logger.warning("No offline encoding for {}: counting with cl100k_base", model)
            encoding = get_encoding("cl100k_base")
        return sum(len(encoding.encode(item, disallowed_special=())) for item in items)
    if not model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-")):
        raise NotImplementedError(f"count_openai_token() is not implemented for model {model}")
    messages = [item if isinstance(item, dict) else {"content": item} for item in items]
    return OpenAITokenCounter(model).count_sync(messages)
