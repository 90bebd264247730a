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


__all__ = ["DeepSeekChatWrapper", "KimiChatWrapper", "VLLMChatWrapper", "XAIChatWrapper"]
