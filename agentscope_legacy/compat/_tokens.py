"""``agentscope.tokens`` of 0.1.1-0.1.6: ``count(model_name, messages)`` over this project's
token counters, ``register_model`` and ``supported_models``.

Deliberate differences from 0.1.6, which old code survives: OpenAI images are counted with
OpenAI's published rule (85 per low-detail image; else 85 plus 170 per 512-px tile after
scaling, 765 for a 1024x1024 image) where 0.1.6 added a flat 170; ``qwen-`` models have no
remote counting API here (0.1.6 called ``dashscope.Tokenization``): count them with
``count_huggingface_tokens`` and a local Qwen tokenizer, or ``register_model`` a function.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from loguru import logger

from ..token import GeminiTokenCounter, HuggingFaceTokenCounter, OpenAITokenCounter

__all__ = [
    "count",
    "count_gemini_tokens",
    "count_huggingface_tokens",
    "count_openai_tokens",
    "register_model",
    "supported_models",
]

Counter = Callable[[str, list[dict[str, Any]]], int]
_REGISTERED: dict[str, Counter] = {}
_OPENAI_COUNTERS: dict[str, OpenAITokenCounter] = {}


def count_openai_tokens(model_name: str, messages: list[dict[str, Any]]) -> int:
    """Tokens of OpenAI chat messages, offline (tiktoken); images by OpenAI's tile rule."""
    counter = _OPENAI_COUNTERS.get(model_name)
    if counter is None:
        counter = _OPENAI_COUNTERS[model_name] = OpenAITokenCounter(model_name)
    return counter.count_sync(messages)


def count_gemini_tokens(
    model_name: str, messages: list[dict[str, Any]], api_key: str | None = None
) -> int:
    """Tokens of Gemini contents, from Gemini's ``countTokens`` API (a network call)."""
    return asyncio.run(GeminiTokenCounter(model_name, api_key=api_key).count(messages))


def count_huggingface_tokens(
    pretrained_model_name_or_path: str, messages: list[dict[str, Any]], **_: Any
) -> int:
    """Tokens of chat messages under a local tokenizer's chat template."""
    return HuggingFaceTokenCounter(pretrained_model_name_or_path).count_sync(messages)


_PREFIXES: dict[str, Counter] = {
    "gpt-.*": count_openai_tokens,
    "gemini-.*": count_gemini_tokens,
}


def count(model_name: str, messages: list[dict[str, Any]]) -> int:
    """Tokens of ``messages`` for ``model_name``: a registered function first, then the
    counter for the name's family (``gpt-``, ``gemini-``)."""
    if not isinstance(model_name, str):
        raise TypeError(f"model_name must be a str, got {type(model_name).__name__}")
    if not isinstance(messages, list):
        raise TypeError(f"messages must be a list of dicts, got {type(messages).__name__}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TypeError(f"messages[{i}] must be a dict, got {type(message).__name__}")
    if model_name in _REGISTERED:
        return _REGISTERED[model_name](model_name, messages)
    for pattern, counter in _PREFIXES.items():
        if re.match(pattern, model_name):
            return counter(model_name, messages)
    raise ValueError(
        f"Unsupported model {model_name!r} for token counting: register a counting function "
        "with agentscope.tokens.register_model(model_name, fn)"
        + (" (qwen- models: count_huggingface_tokens with a local Qwen tokenizer)"
           if model_name.startswith("qwen-") else "")
    )  # fmt: skip


def register_model(model_name: str | list[str], tokens_count_func: Counter) -> None:
    """Count ``model_name`` (or each of a list) with ``tokens_count_func(name, messages)``."""
    for name in [model_name] if isinstance(model_name, str) else model_name:
        if name in _REGISTERED:
            logger.warning("Overwriting the token counting function of model {!r}", name)
        _REGISTERED[name] = tokens_count_func


def supported_models() -> list[str]:
    """The name patterns counted built in, then the registered model names."""
    supported = [*_PREFIXES, *_REGISTERED]
    logger.info("Token counting supports: {}", ", ".join(supported))
    return supported
