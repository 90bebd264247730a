"""Credentials: a provider's auth fields, its model listing and the models built with them.

::

    from agentscope_legacy.credential import OpenAICredential
    cred = OpenAICredential(base_url="http://127.0.0.1:8080/v1")   # key: OPENAI_API_KEY
    cards = await cred.list_models()          # list[ModelCard], cached on disk with a TTL
    model = cred.chat_model("gpt-4o-mini")    # an agentscope_legacy.model.OpenAIChatModel
    config = cred.wrapper_config("gpt-4o-mini", stream=True)   # a 0.x model config dict

``credential_for("ollama", base_url=...)`` builds one by provider name (``CREDENTIALS``).
"""

from __future__ import annotations

from typing import Any

from ._anthropic import AnthropicCredential
from ._base import CredentialBase
from ._card import ModelCard
from ._dashscope import DashScopeCredential
from ._gemini import GeminiCredential
from ._local import LocalCredential
from ._ollama import OllamaCredential
from ._openai import (
    DeepSeekCredential,
    KimiCredential,
    OpenAICredential,
    VLLMCredential,
    XAICredential,
)

#: Provider name -> credential class (the names of ``"provider:model"`` strings).
CREDENTIALS: dict[str, type[CredentialBase]] = {
    cls.provider: cls
    for cls in (
        OpenAICredential,
        AnthropicCredential,
        DashScopeCredential,
        GeminiCredential,
        OllamaCredential,
        DeepSeekCredential,
        KimiCredential,
        XAICredential,
        VLLMCredential,
        LocalCredential,
    )
}


def credential_for(provider: str, **kwargs: Any) -> CredentialBase:
    """A credential of ``provider`` (a key of ``CREDENTIALS``) built with ``kwargs``."""
    cls = CREDENTIALS.get(provider)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(provider, list(CREDENTIALS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown provider '{provider}'{hint} (known: {', '.join(sorted(CREDENTIALS))})"
        )
    return cls(**kwargs)


__all__ = [
    "CREDENTIALS",
    "AnthropicCredential",
    "CredentialBase",
    "DashScopeCredential",
    "DeepSeekCredential",
    "GeminiCredential",
    "KimiCredential",
    "LocalCredential",
    "ModelCard",
    "OllamaCredential",
    "OpenAICredential",
    "VLLMCredential",
    "XAICredential",
    "credential_for",
]
