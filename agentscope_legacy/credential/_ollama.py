"""``OllamaCredential``: a local or hosted Ollama, listed with ``list`` and ``show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ResponseFormatError
from ._base import CredentialBase, MalformedEntry, as_json, collect_cards, optional_int
from ._card import ModelCard

if TYPE_CHECKING:
    from ..model import ChatModelBase


def ollama_card(entry: dict[str, Any], show: dict[str, Any]) -> ModelCard:
    """A ``/api/tags`` entry with its ``/api/show``: the context length from ``model_info``'s
    ``<architecture>.context_length``, tools/thinking/vision from ``capabilities`` (newer
    servers; None when absent)."""
    name = entry.get("model") or entry.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedEntry(f"no model name in {sorted(entry)}")
    info = show.get("modelinfo") or show.get("model_info") or {}
    context = None
    if isinstance(info, dict):
        arch = info.get("general.architecture")
        keys = [f"{arch}.context_length"] if isinstance(arch, str) else []
        keys += [k for k in info if str(k).endswith(".context_length")]
        context = next((optional_int(info[k]) for k in keys if k in info), None)
    caps = show.get("capabilities")
    tools = thinking = inputs = None
    if isinstance(caps, list):
        tools, thinking = "tools" in caps, "thinking" in caps
        inputs = ["text", "image"] if "vision" in caps else ["text"]
    return ModelCard(
        model_name=name,
        context_size=context,
        input_modalities=inputs,
        output_modalities=["text"] if isinstance(caps, list) and "completion" in caps else None,
        supports_tools=tools,
        supports_thinking=thinking,
        raw={**entry, "show": {k: v for k, v in show.items() if k not in ("modelfile", "license")}},
    )


class OllamaCredential(CredentialBase):
    """Ollama (``base_url``: ``OLLAMA_HOST``, else ``http://127.0.0.1:11434``); a key
    (``OLLAMA_API_KEY``) only for hosted Ollama."""

    provider = "ollama"
    api_key_env = ("OLLAMA_API_KEY",)
    model_type = "ollama_chat"
    base_url_field = "host"

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import OllamaChatModel

        return OllamaChatModel

    def chat_model_kwargs(self) -> dict[str, Any]:
        args: dict[str, Any] = {"host": self.base_url}
        if self._api_key:
            args["api_key"] = self._api_key
        return args

    def _fetch_models(self) -> list[ModelCard]:
        import ollama

        with self._wrapper() as wrapper, self._translated(wrapper):
            listing = wrapper.client.list()
            models = getattr(listing, "models", None)
            if not isinstance(models, list):
                raise ResponseFormatError("malformed model listing: no 'models' list")
            entries = [as_json(m) for m in models]

            def card(entry: dict[str, Any]) -> ModelCard:
                name = entry.get("model")
                if not isinstance(name, str) or not name:
                    raise MalformedEntry(f"no model name in {sorted(entry)}")
                try:
                    show = as_json(wrapper.client.show(name))
                except ollama.ResponseError as exc:
                    if exc.status_code != 404:
                        raise
                    show = {}  # removed since the listing: a card without details
                return ollama_card(entry, show)

            return collect_cards(self.provider, entries, card)
