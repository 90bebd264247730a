"""``EmbeddingModelBase``: the async embedding model over one legacy embedding wrapper.

The wrapper does the provider work (request building, parsing, retries, typed errors, usage
records); this layer turns inputs into a list of texts, answers what it can from the cache,
sends the rest in one request through ``await wrapper.acall(texts, **kwargs)`` and returns an
:class:`EmbeddingResponse` with one vector per input, in input order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar, TypeVar

from ..errors import ResponseFormatError
from ..models._base import ModelWrapperBase
from ._cache import EmbeddingCache, EmbeddingCacheBase
from ._response import EmbeddingResponse, EmbeddingUsage

M = TypeVar("M", bound="EmbeddingModelBase")

#: A text, a text block (``{"type": "text", "text": ...}``) or a list of them.
TextInput = str | dict[str, Any] | list[str | dict[str, Any]]


class EmbeddingModelBase:
    """An async embedding model.

    Args:
        model_name: the provider's model name.
        dimensions: the vector length to ask for (``None``: the model's default). Vectors of
            another length are refused with ``ResponseFormatError``.
        cache: an :class:`EmbeddingCacheBase` (``True``: an :class:`EmbeddingCache` in the
            runtime cache dir); ``embedding_cache`` is the same, under AgentScope's name.

    With a cache, the vectors a call fetches are returned as the cache stores them (float32),
    so a later hit returns exactly the same numbers. Concurrent calls that miss on the same
    text each fetch it (there is no de-duplication across calls in flight).
    """

    #: The provider's request field for the vector length (``None``: not supported).
    dimensions_arg: ClassVar[str | None] = None
    supported_modalities: ClassVar[tuple[str, ...]] = ("text",)
    #: The legacy wrapper class this model drives (checked by :meth:`from_wrapper`).
    wrapper_class: ClassVar[type[ModelWrapperBase]] = ModelWrapperBase

    wrapper: ModelWrapperBase

    def __init__(
        self,
        model_name: str,
        dimensions: int | None = None,
        cache: EmbeddingCacheBase | bool | None = None,
        *,
        embedding_cache: EmbeddingCacheBase | None = None,
    ) -> None:
        if cache is not None and embedding_cache is not None:
            raise ValueError("pass either `cache` or `embedding_cache`, not both")
        if dimensions is not None:
            if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
                raise ValueError(f"dimensions must be a positive integer, got {dimensions!r}")
            if self.dimensions_arg is None:
                raise ValueError(f"{type(self).__name__} does not take `dimensions`")
        cache = cache if cache is not None else embedding_cache
        if cache is True:
            cache = EmbeddingCache()
        self.model_name = model_name
        self.dimensions = dimensions
        self.cache: EmbeddingCacheBase | None = cache or None

    @classmethod
    def from_wrapper(
        cls: type[M],
        wrapper: ModelWrapperBase,
        dimensions: int | None = None,
        cache: EmbeddingCacheBase | bool | None = None,
    ) -> M:
        """An embedding model over an existing wrapper (e.g. one built from a YAML config)."""
        if not isinstance(wrapper, cls.wrapper_class):
            raise TypeError(
                f"{cls.__name__} drives a {cls.wrapper_class.__name__}, "
                f"got {type(wrapper).__name__}"
            )
        model = cls.__new__(cls)
        EmbeddingModelBase.__init__(model, wrapper.model_name, dimensions, cache)
        model.wrapper = wrapper
        return model

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, "
            f"dimensions={self.dimensions!r}, cache={self.cache!r})"
        )

    # -- the call --------------------------------------------------------------------------
    async def __call__(self, text: TextInput, **kwargs: Any) -> EmbeddingResponse:
        """Embed ``text``: one vector per input text, for a str or a list input.

        ``kwargs`` go to the provider request (they override the wrapper's generate_args and
        are part of the cache key).
        """
        started = time.perf_counter()
        texts = self._keys(text)
        request_kwargs = self._request_kwargs(kwargs)
        identity = self.cache_identity(request_kwargs) if self.cache is not None else {}
        vectors: list[list[float] | None] = [None] * len(texts)
        if self.cache is not None:
            vectors = await asyncio.to_thread(self.cache.get_many, identity, texts)
        # Each missing text is sent once, even when it appears several times.
        missing = list(dict.fromkeys(t for t, v in zip(texts, vectors, strict=True) if v is None))
        tokens = 0
        if missing:
            response = await self.wrapper.acall(self._payload(missing), **request_kwargs)
            fetched = self._checked(response.embedding, len(missing))
            tokens = response.usage.prompt_tokens if response.usage else 0
            if self.cache is not None:
                # What the cache holds (float32) is what this call returns, so a later hit
                # gives exactly the same vectors.
                fetched = await asyncio.to_thread(self.cache.put_many, identity, missing, fetched)
            by_text = dict(zip(missing, fetched, strict=True))
            vectors = [by_text[t] if v is None else v for t, v in zip(texts, vectors, strict=True)]
        return EmbeddingResponse(
            embeddings=vectors,  # type: ignore[arg-type]
            usage=EmbeddingUsage(tokens=tokens, time=time.perf_counter() - started),
            source="api" if missing else "cache",
        )

    def _keys(self, inputs: Any) -> list[str]:
        """One string per input: what is sent, and the cache key (text models: the texts)."""
        return as_texts(inputs)

    def _payload(self, keys: list[str]) -> Any:
        """What the wrapper is given for the inputs ``keys`` (text models: the texts)."""
        return keys

    def _request_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.dimensions is not None and self.dimensions_arg:
            return {self.dimensions_arg: self.dimensions, **kwargs}
        return dict(kwargs)

    def _checked(self, vectors: Any, expected: int) -> list[list[float]]:
        if not isinstance(vectors, list) or len(vectors) != expected:
            count = len(vectors) if isinstance(vectors, list) else 0
            raise ResponseFormatError(
                f"expected {expected} embeddings, got {count}",
                provider=self.wrapper.provider,
                model=self.model_name,
                config_name=self.wrapper.config_name,
            )
        if self.dimensions is not None:
            lengths = {len(v) for v in vectors} - {self.dimensions}
            if lengths:
                raise ResponseFormatError(
                    f"asked for {self.dimensions} dimensions, got vectors of length "
                    f"{sorted(lengths)}",
                    provider=self.wrapper.provider,
                    model=self.model_name,
                    config_name=self.wrapper.config_name,
                )
        return [list(v) for v in vectors]

    def cache_identity(self, request_kwargs: dict[str, Any]) -> dict[str, Any]:
        """What the cache key stands for: anything that can change the vectors."""
        wrapper = self.wrapper
        endpoint = next(
            (
                getattr(wrapper, name)
                for name in ("base_url", "host", "model_path")
                if getattr(wrapper, name, None)
            ),
            None,
        )
        return {
            "provider": wrapper.provider,
            "model_type": wrapper.model_type,
            "model_name": self.model_name,
            "endpoint": str(endpoint) if endpoint else None,
            "dimensions": self.dimensions,
            "args": {**wrapper.generate_args, **request_kwargs},
        }


def as_texts(text: TextInput) -> list[str]:
    """The texts of a str, a text block or a list of them."""
    items = text if isinstance(text, (list, tuple)) else [text]
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("type") == "text":
            texts.append(item.get("text") or "")
        else:
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            raise TypeError(f"text embedding models take strings and text blocks, not {kind!r}")
    if not texts:
        raise ValueError("nothing to embed: the input is an empty list")
    return texts


__all__ = ["EmbeddingModelBase", "TextInput", "as_texts"]
