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


def register_credential(cls: type[CredentialBase]) -> type[CredentialBase]:
    """Add a custom provider's credential class to ``CREDENTIALS`` (usable as a decorator);
    with a ``model_type``, credential entries in config files may name its provider too."""
    from ..config import register_credential_provider

    CREDENTIALS[cls.provider] = cls
    if cls.model_type is not None:
        register_credential_provider(cls.provider, cls.model_type, cls.base_url_field)
    return cls


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


def load_credentials(source: Any) -> dict[str, CredentialBase]:
    """The credentials declared in config files or dicts (entries with ``credential_name:``
    and ``provider:``, beside the model configs naming them), by name."""
    from ..config import read_credentials

    built = {}
    for name, entry in read_credentials(source).items():
        data = entry.data
        fields = {k: data[k] for k in ("api_key", "base_url", "model_path") if data.get(k)}
        built[name] = credential_for(data["provider"], **fields)
    return built


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
    "load_credentials",
    "register_credential",
]
