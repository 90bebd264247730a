"""Presets for providers that speak the OpenAI Chat Completions API.

Each preset is ``openai_chat`` with a different public endpoint, key variable and provider
name; everything else (streaming, tools, reasoning from ``reasoning_content``, retries, typed
errors) is :class:`~agentscope_legacy.models.openai.OpenAIChatWrapper`'s. A ``base_url`` in
the config replaces the public endpoint (a proxy, a test server), and then no key is required.
"""

from __future__ import annotations

from typing import Any

from .openai import OpenAIChatWrapper
from .response import Delta


class DeepSeekChatWrapper(OpenAIChatWrapper):
    """``deepseek_chat``: deepseek-chat, and deepseek-reasoner with ``reasoning_content``."""

    model_type = "deepseek_chat"
    provider = "deepseek"
    api_key_env = "DEEPSEEK_API_KEY"
    default_base_url = "https://api.deepseek.com"
    base_url_env = None


class KimiChatWrapper(OpenAIChatWrapper):
    """``kimi_chat``: Moonshot AI's Kimi models."""

    model_type = "kimi_chat"
    provider = "moonshot"
    api_key_env = "MOONSHOT_API_KEY"
    default_base_url = "https://api.moonshot.cn/v1"
    base_url_env = None

    def chunk_delta(self, chunk: dict[str, Any]) -> Delta:
        """Moonshot puts the stream's usage in the last chunk's ``choices[0].usage``."""
        delta = super().chunk_delta(chunk)
        choices = chunk.get("choices")
        usage = choices[0].get("usage") if choices and isinstance(choices[0], dict) else None
        if delta.usage is None and isinstance(usage, dict):
            delta.usage = (usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        return delta


class XAIChatWrapper(OpenAIChatWrapper):
    """``xai_chat``: xAI's Grok models."""

    model_type = "xai_chat"
    provider = "xai"
    api_key_env = "XAI_API_KEY"
    default_base_url = "https://api.x.ai/v1"
    base_url_env = None


class VLLMChatWrapper(OpenAIChatWrapper):
    """``vllm_chat``: a vLLM server (``vllm serve``); a key only if it was started with one."""

    model_type = "vllm_chat"
    provider = "vllm"
    api_key_env = "VLLM_API_KEY"
    default_base_url = "http://localhost:8000/v1"
    base_url_env = None
    api_key_required = False
    # vLLM takes sampling parameters of its own (top_k, min_p, repetition_penalty, ...) beside
    # OpenAI's, sent in extra_body: its generate_args are not checked at load.
    generate_args_keys = None


class YiChatWrapper(OpenAIChatWrapper):
    """``yi_chat``: 01.AI's Yi models (0.1.x's type). 0.1.x's own fields are kept:
    ``temperature`` (0.3), ``top_p`` (0.9) and ``max_tokens`` are defaults of every call,
    under ``generate_args`` and call kwargs."""

    model_type = "yi_chat"
    provider = "yi"
    api_key_env = "YI_API_KEY"
    default_base_url = "https://api.lingyiwanwu.com/v1"
    base_url_env = None
    config_schema = {
        "properties": {
            **OpenAIChatWrapper.config_schema["properties"],
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        },
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        temperature: float = 0.3,
        top_p: float = 0.9,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        defaults = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        own = {k: v for k, v in defaults.items() if v is not None}
        self.generate_args = {**own, **self.generate_args}


__all__ = [
    "DeepSeekChatWrapper",
    "KimiChatWrapper",
    "VLLMChatWrapper",
    "XAIChatWrapper",
    "YiChatWrapper",
]
