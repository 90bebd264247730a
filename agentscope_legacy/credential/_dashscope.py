"""``DashScopeCredential``: Qwen models, listed through DashScope's OpenAI-compatible mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import CredentialBase, closing_client
from ._card import ModelCard
from ._openai import list_openai_models

if TYPE_CHECKING:
    from ..model import ChatModelBase

NATIVE_URL = "https://dashscope.aliyuncs.com/api/v1"


def compatible_url(native: str) -> str:
    """``<host>/compatible-mode/v1`` for a native ``<host>/api/v1`` endpoint: DashScope lists
    its models only in OpenAI-compatible mode."""
    root = native.rstrip("/").removesuffix("/api/v1")
    return f"{root}/compatible-mode/v1"


class DashScopeCredential(CredentialBase):
    """DashScope (``DASHSCOPE_API_KEY``); ``base_url`` is the native API's
    (``https://dashscope.aliyuncs.com/api/v1``; the international one also works)."""

    provider = "dashscope"
    api_key_env = ("DASHSCOPE_API_KEY",)
    default_base_url = NATIVE_URL
    model_type = "dashscope_chat"

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import DashScopeChatModel

        return DashScopeChatModel

    def chat_model_kwargs(self) -> dict[str, Any]:
        return {"api_key": self._api_key, "base_url": self.base_url}

    def _fetch_models(self) -> list[ModelCard]:
        from ..models.openai import OpenAIChatWrapper

        wrapper = OpenAIChatWrapper(
            "dashscope-listing",
            "-",
            api_key=self._api_key,
            base_url=compatible_url(self.base_url or NATIVE_URL),
            timeout=self.timeout,
            max_retries=0,
        )
        with closing_client(wrapper):
            return list_openai_models(self, wrapper)
