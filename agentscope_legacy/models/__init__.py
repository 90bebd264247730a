"""Model wrappers, their registry, and the 0.0.x-style module functions.

::

    from agentscope_legacy.models import read_model_configs, load_model_by_config_name
    read_model_configs("configs/model_configs.yaml")
    model = load_model_by_config_name("local")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..config import ConfigSource
from ._base import ModelWrapperBase
from .anthropic import AnthropicChatWrapper
from .dashscope import (
    DashScopeChatWrapper,
    DashScopeImageSynthesisWrapper,
    DashScopeMultiModalEmbeddingWrapper,
    DashScopeMultiModalWrapper,
    DashScopeTextEmbeddingWrapper,
)
from .gemini import GeminiChatWrapper, GeminiEmbeddingWrapper
from .litellm import LiteLLMChatWrapper
from .llamacpp import LlamaCppChatWrapper
from .local_embedding import LocalEmbeddingWrapper
from .manager import ModelManager
from .ollama import OllamaChatWrapper, OllamaEmbeddingWrapper, OllamaGenerationWrapper
from .openai import OpenAIChatWrapper, OpenAIDALLEWrapper, OpenAIEmbeddingWrapper
from .openai_compatible import DeepSeekChatWrapper, KimiChatWrapper, VLLMChatWrapper, XAIChatWrapper
from .post_api import PostAPIChatWrapper, PostAPIEmbeddingWrapper
from .response import Delta, ModelResponse, Usage
from .zhipuai import ZhipuAIChatWrapper, ZhipuAIEmbeddingWrapper


def read_model_configs(
    configs: ConfigSource | Iterable[ConfigSource],
    clear_existing: bool = False,
    allow_replace: bool = False,
) -> list[str]:
    """Load configs into the default registry (see :meth:`ModelManager.load_model_configs`)."""
    return ModelManager.get_instance().load_model_configs(configs, clear_existing, allow_replace)


def load_model_by_config_name(config_name: str, fresh: bool = False) -> ModelWrapperBase:
    """The wrapper built from a loaded config (shared unless ``fresh``), or from a
    ``"provider:model"`` string (``"anthropic:claude-sonnet-4-5"``, see
    ``agentscope_legacy.model.ModelRegistry``).

    Precedence: a loaded config_name always wins; only a name that is no loaded config is
    resolved as a model id. A name that is neither is a ConfigError with a did-you-mean.
    """
    return ModelManager.get_instance().get_model_by_config_name(config_name, fresh=fresh)


def clear_model_configs() -> None:
    """Forget every loaded config (registered wrapper classes stay)."""
    ModelManager.get_instance().clear_model_configs()


def register_model_wrapper_class(
    model_class: type[ModelWrapperBase], exist_ok: bool = False
) -> None:
    """Make a user wrapper class available under its ``model_type``."""
    ModelManager.get_instance().register_model_wrapper_class(model_class, exist_ok)


def get_config_by_name(config_name: str) -> dict[str, Any] | None:
    return ModelManager.get_instance().get_config_by_name(config_name)


__all__ = [
    "AnthropicChatWrapper",
    "DashScopeChatWrapper",
    "DashScopeImageSynthesisWrapper",
    "DashScopeMultiModalEmbeddingWrapper",
    "DashScopeMultiModalWrapper",
    "DashScopeTextEmbeddingWrapper",
    "DeepSeekChatWrapper",
    "Delta",
    "GeminiChatWrapper",
    "GeminiEmbeddingWrapper",
    "KimiChatWrapper",
    "LiteLLMChatWrapper",
    "LlamaCppChatWrapper",
    "LocalEmbeddingWrapper",
    "ModelManager",
    "ModelResponse",
    "ModelWrapperBase",
    "OllamaChatWrapper",
    "OllamaEmbeddingWrapper",
    "OllamaGenerationWrapper",
    "OpenAIChatWrapper",
    "OpenAIDALLEWrapper",
    "OpenAIEmbeddingWrapper",
    "PostAPIChatWrapper",
    "PostAPIEmbeddingWrapper",
    "Usage",
    "VLLMChatWrapper",
    "XAIChatWrapper",
    "ZhipuAIChatWrapper",
    "ZhipuAIEmbeddingWrapper",
    "clear_model_configs",
    "get_config_by_name",
    "load_model_by_config_name",
    "read_model_configs",
    "register_model_wrapper_class",
]
