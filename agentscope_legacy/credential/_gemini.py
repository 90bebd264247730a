"""``GeminiCredential``: Google Gemini models, listed with ``client.models.list()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError, BadRequestError, ResponseFormatError
from ._base import CredentialBase, MalformedEntry, as_json, collect_cards, optional_int
from ._card import ModelCard

if TYPE_CHECKING:
    from ..model import ChatModelBase

PAGE_SIZE = 100


def gemini_card(entry: Any) -> ModelCard:
    """One ``models.list`` entry: ``name`` (``models/<id>``), ``display_name``,
    ``input_token_limit`` (the context size), ``supported_actions``, ``thinking``."""
    raw = as_json(entry)
    name = raw.get("name")
    if not isinstance(name, str) or not name.removeprefix("models/"):
        raise MalformedEntry(f"no model name in {sorted(raw)}")
    display = raw.get("display_name")
    thinking = raw.get("thinking")
    return ModelCard(
        model_name=name.removeprefix("models/"),
        display_name=display if isinstance(display, str) else None,
        context_size=optional_int(raw.get("input_token_limit")),
        supports_thinking=thinking if isinstance(thinking, bool) else None,
        raw=raw,
    )


class GeminiCredential(CredentialBase):
    """Gemini API (``GEMINI_API_KEY``, then ``GOOGLE_API_KEY``)."""

    provider = "gemini"
    api_key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    model_type = "gemini_chat"

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import GeminiChatModel

        return GeminiChatModel

    def chat_model_kwargs(self) -> dict[str, Any]:
        # GeminiChatModel takes HttpOptions fields in client_args.
        return {"api_key": self._api_key, "client_args": self._client_args()}

    def _fetch_models(self) -> list[ModelCard]:
        try:
            with self._wrapper() as wrapper, self._translated(wrapper):
                try:
                    entries = list(wrapper.client.models.list(config={"page_size": PAGE_SIZE}))
                except ValueError as exc:  # pydantic's ValidationError: not Gemini's shape
                    if type(exc).__name__ != "ValidationError":
                        raise
                    # The SDK validates a page whole: one mistyped entry fails all of it.
                    raise ResponseFormatError(f"malformed model listing: {exc}") from exc
        except BadRequestError as exc:
            if not _key_invalid(exc.body):
                raise
            # Google answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
            raise AuthenticationError(
                exc.message, provider=self.provider, status=exc.status, body=exc.body
            ) from exc
        return collect_cards(self.provider, entries, gemini_card)


def _key_invalid(body: Any) -> bool:
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return isinstance(details, list) and any(
        isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details
    )
