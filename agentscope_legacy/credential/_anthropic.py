"""``AnthropicCredential``: Claude models, listed with ``client.models.list()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import CredentialBase, MalformedEntry, as_json, collect_cards, optional_int
from ._card import ModelCard

if TYPE_CHECKING:
    from ..model import ChatModelBase

#: Entries per page (the API's maximum is 1000; the SDK follows ``has_more``/``last_id``).
PAGE_SIZE = 100


def anthropic_card(entry: Any) -> ModelCard:
    """One ``/v1/models`` entry (``{"type": "model", "id", "display_name", "created_at"}``)."""
    raw = as_json(entry)
    name = raw.get("id")
    if not isinstance(name, str) or not name:
        raise MalformedEntry(f"no model id in {sorted(raw)}")
    display = raw.get("display_name")
    return ModelCard(
        model_name=name,
        display_name=display if isinstance(display, str) else None,
        # Only if the API sends it: older listings have no context size.
        context_size=optional_int(raw.get("max_input_tokens")),
        raw=raw,
    )


class AnthropicCredential(CredentialBase):
    """Anthropic (``ANTHROPIC_API_KEY``); ``base_url`` without ``/v1``."""

    provider = "anthropic"
    api_key_env = ("ANTHROPIC_API_KEY",)
    model_type = "anthropic_chat"

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import AnthropicChatModel

        return AnthropicChatModel

    def _fetch_models(self) -> list[ModelCard]:
        with self._wrapper() as wrapper, self._translated(wrapper):
            entries = list(wrapper.client.models.list(limit=PAGE_SIZE))
        return collect_cards(self.provider, entries, anthropic_card)
