"""``ModelCard``: what a provider says about one of its models."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ModelCard:
    """One model of a provider, as its listing describes it.

    Every field but ``model_name`` is None when the provider does not say: nothing is guessed
    from a model's name.

    Attributes:
        model_name: the id to call the model by (``"gpt-4o-mini"``).
        display_name: a human label, when the provider gives one.
        context_size: the context window in tokens (Gemini's ``input_token_limit``, Ollama's
            ``*.context_length``, the local GGUF's ``*.context_length``).
        input_modalities: e.g. ``["text", "image"]``.
        output_modalities: e.g. ``["text"]``.
        supports_tools: whether the model takes tool definitions.
        supports_thinking: whether the model can reason before answering.
        raw: the provider's entry as JSON (for what the card does not carry).
    """

    model_name: str
    display_name: str | None = None
    context_size: int | None = None
    input_modalities: list[str] | None = None
    output_modalities: list[str] | None = None
    supports_tools: bool | None = None
    supports_thinking: bool | None = None
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data (the cache's and the CLI's ``--json`` shape)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """A card from :meth:`to_dict`'s output (unknown keys are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})
