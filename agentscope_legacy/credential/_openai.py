"""Credentials of OpenAI and the OpenAI-compatible providers (DeepSeek, Kimi, xAI, vLLM)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ResponseFormatError
from ._base import CredentialBase, MalformedEntry, as_json, collect_cards, optional_int
from ._card import ModelCard

if TYPE_CHECKING:
    from ..model import ChatModelBase

# Fields some compatible servers add to a /models entry with the context window: vLLM's
# ``max_model_len``, Groq's ``context_window``, OpenRouter's ``context_length``. OpenAI sends
# none (its cards have no context size).
_CONTEXT_FIELDS = ("max_model_len", "context_window", "context_length")


def openai_card(entry: Any) -> ModelCard:
    """One ``/v1/models`` entry (``{"id", "object": "model", "created", "owned_by"}``)."""
    raw = as_json(entry)
    name = raw.get("id")
    if not isinstance(name, str) or not name:
        raise MalformedEntry(f"no model id in {sorted(raw)}")
    context = next((optional_int(raw.get(f)) for f in _CONTEXT_FIELDS if f in raw), None)
    return ModelCard(model_name=name, context_size=context, raw=raw)


def list_openai_models(credential: CredentialBase, wrapper: Any) -> list[ModelCard]:
    """``client.models.list()`` (the SDK's page iterator follows any next page)."""
    with credential._translated(wrapper):
        page = wrapper.client.models.list()
        try:
            entries = list(page)
        except TypeError as exc:  # ``data`` was not a list
            raise ResponseFormatError(f"malformed model listing: {exc}") from exc
    data = getattr(page, "data", None)
    if not isinstance(data, list):
        raise ResponseFormatError(
            f"malformed model listing: 'data' is {type(data).__name__}, not a list",
            provider=credential.provider,
        )
    return collect_cards(credential.provider, entries, openai_card)


class OpenAICredential(CredentialBase):
    """OpenAI (``OPENAI_API_KEY``), or any OpenAI-compatible server through ``base_url``
    (vLLM, llama.cpp's server, a proxy; then no key is needed)."""

    provider = "openai"
    api_key_env = ("OPENAI_API_KEY",)
    model_type = "openai_chat"

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import OpenAIChatModel

        return OpenAIChatModel

    def _fetch_models(self) -> list[ModelCard]:
        with self._wrapper() as wrapper:
            return list_openai_models(self, wrapper)


class DeepSeekCredential(OpenAICredential):
    """DeepSeek (``DEEPSEEK_API_KEY``, ``https://api.deepseek.com``)."""

    provider = "deepseek"
    api_key_env = ("DEEPSEEK_API_KEY",)
    default_base_url = "https://api.deepseek.com"
    model_type = "deepseek_chat"


class KimiCredential(OpenAICredential):
    """Moonshot AI's Kimi (``MOONSHOT_API_KEY``, ``https://api.moonshot.cn/v1``)."""

    provider = "kimi"
    api_key_env = ("MOONSHOT_API_KEY",)
    default_base_url = "https://api.moonshot.cn/v1"
    model_type = "kimi_chat"


class XAICredential(OpenAICredential):
    """xAI's Grok (``XAI_API_KEY``, ``https://api.x.ai/v1``)."""

    provider = "xai"
    api_key_env = ("XAI_API_KEY",)
    default_base_url = "https://api.x.ai/v1"
    model_type = "xai_chat"


class VLLMCredential(OpenAICredential):
    """A vLLM server (``VLLM_API_KEY`` if it was started with one, ``http://localhost:8000/v1``);
    its listing carries ``max_model_len`` as the context size."""

    provider = "vllm"
    api_key_env = ("VLLM_API_KEY",)
    default_base_url = "http://localhost:8000/v1"
    model_type = "vllm_chat"
