"""Multimodal embedding models: texts, ``ImageBlock``s and ``VideoBlock``s (a URL, a local path
or base64 data) embedded in one vector space, one vector per input.

Each input becomes the provider's content item (pure functions below), serialised to JSON as
its cache key. Local files are read and sent inline, so a cached vector stands for the file's
bytes, not its path, and no SDK ever uploads a file (the dashscope SDK would, to OSS).

Offline there is no multimodal model: the PyPI package lists hold no package that ships the
weights of a small image-text model (CLIP or SigLIP), and weights are not fetched from model
hubs, so :class:`~agentscope_legacy.embedding.LocalTextEmbedding` stays text-only.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from typing import Any

from ..models._format import block_url
from ..models.dashscope import DashScopeMultiModalEmbeddingWrapper
from ..models.gemini import GeminiEmbeddingWrapper
from ._base import EmbeddingModelBase
from ._cache import EmbeddingCacheBase
from ._models import Cache, _given

#: A text, a text/image/video block, or a list of them.
MultiModalInput = str | dict[str, Any] | list[str | dict[str, Any]]


def _items(inputs: MultiModalInput, modalities: tuple[str, ...], owner: str) -> list[dict]:
    """``(kind, value)`` items: text as is, media as a web URL or a ``data:`` URL."""
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if not items:
        raise ValueError("nothing to embed: the input is an empty list")
    result = []
    for item in items:
        kind = (
            "text"
            if isinstance(item, str)
            else item.get("type")
            if isinstance(item, dict)
            else None
        )
        if kind not in modalities:
            raise TypeError(
                f"{owner} embeds {', '.join(modalities)} inputs, not {kind or item!r:.80}"
            )
        if isinstance(item, str):
            result.append({"kind": "text", "value": item})
        elif kind == "text":
            result.append({"kind": "text", "value": item.get("text") or ""})
        elif isinstance(item.get("source"), list):
            raise TypeError(f"{owner} embeds a video by its URL or data, not a list of frames")
        else:
            result.append({"kind": kind, "value": _media_url(block_url(item), kind)})
    return result


def _media_url(url: str, kind: str) -> str:
    """A web or data URL as is; a local path or ``file://`` URI as a base64 data URL."""
    if url.startswith(("http://", "https://", "data:")):
        return url
    path = url[7:] if url.startswith("file://") else url
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{kind} file not found: {url!r}")
    media_type = mimetypes.guess_type(path)[0] or f"{kind}/*"
    with open(path, "rb") as fh:
        return f"data:{media_type};base64,{base64.b64encode(fh.read()).decode('ascii')}"


class _MultiModalEmbedding(EmbeddingModelBase):
    """Keys are the JSON of the provider content items (so text and media share the cache)."""

    def _keys(self, inputs: Any) -> list[str]:
        items = _items(inputs, self.supported_modalities, type(self).__name__)
        return [json.dumps(self._content(i["kind"], i["value"]), sort_keys=True) for i in items]

    def _payload(self, keys: list[str]) -> list[Any]:
        return [json.loads(key) for key in keys]

    @staticmethod
    def _content(kind: str, value: str) -> Any:
        raise NotImplementedError


class DashScopeMultiModalEmbedding(_MultiModalEmbedding):
    """DashScope ``MultiModalEmbedding`` (``multimodal-embedding-v1``,
    ``tongyi-embedding-vision-plus``/``-flash``, ``qwen3-vl-embedding``...) through the
    ``dashscope`` SDK: texts, images (URL or base64) and videos (URL or base64)."""

    dimensions_arg = "dimension"
    supported_modalities = ("text", "image", "video")
    wrapper_class = DashScopeMultiModalEmbeddingWrapper

    def __init__(
        self,
        model_name: str = "multimodal-embedding-v1",
        api_key: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        self.wrapper = DashScopeMultiModalEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(api_key=api_key, base_url=base_url),
            **wrapper_kwargs,
        )

    @staticmethod
    def _content(kind: str, value: str) -> dict[str, str]:
        return {kind: value}


def is_multimodal_gemini_embedder(model_name: str) -> bool:
    """Whether a Gemini embedding model takes images and videos (the SDK's own rule:
    ``gemini-embedding-001``/``-exp`` and ``text-embedding-*`` embed text only)."""
    model = model_name.rsplit("/", 1)[-1]
    return "gemini" in model and not model.startswith(
        ("gemini-embedding-001", "gemini-embedding-exp")
    )


class GeminiMultiModalEmbedding(_MultiModalEmbedding):
    """Gemini's multimodal embedding models (``gemini-embedding-2``; not
    ``gemini-embedding-001``, which embeds text only) through the ``google-genai`` SDK: texts,
    images and videos, inline (base64) or by URL (``file_data``), one content per input. Over
    a text-only model, ``supported_modalities`` is ``("text",)`` and media inputs are refused."""

    dimensions_arg = "output_dimensionality"
    supported_modalities = ("text", "image", "video")
    wrapper_class = GeminiEmbeddingWrapper

    def __init__(
        self,
        model_name: str = "gemini-embedding-2",
        api_key: str | None = None,
        dimensions: int | None = None,
        cache: Cache = None,
        *,
        base_url: str | None = None,
        embedding_cache: EmbeddingCacheBase | None = None,
        **wrapper_kwargs: Any,
    ) -> None:
        super().__init__(model_name, dimensions, cache, embedding_cache=embedding_cache)
        if not is_multimodal_gemini_embedder(model_name):
            self.supported_modalities = ("text",)
        self.wrapper = GeminiEmbeddingWrapper(
            wrapper_kwargs.pop("config_name", model_name),
            model_name,
            **_given(api_key=api_key, base_url=base_url),
            **wrapper_kwargs,
        )

    def _payload(self, keys: list[str]) -> list[Any]:
        # The SDK's Blob takes the bytes (it base64-encodes them itself).
        contents = super()._payload(keys)
        for content in contents:
            for part in content["parts"]:
                if "inline_data" in part:
                    part["inline_data"]["data"] = base64.b64decode(part["inline_data"]["data"])
        return contents

    @staticmethod
    def _content(kind: str, value: str) -> dict[str, Any]:
        if kind == "text":
            part: dict[str, Any] = {"text": value}
        elif value.startswith("data:"):
            header, _, data = value.partition(",")
            part = {"inline_data": {"mime_type": header[5:].split(";")[0], "data": data}}
        else:
            mime_type = mimetypes.guess_type(value.split("?")[0])[0] or f"{kind}/*"
            part = {"file_data": {"file_uri": value, "mime_type": mime_type}}
        return {"parts": [part]}


__all__ = ["DashScopeMultiModalEmbedding", "GeminiMultiModalEmbedding", "MultiModalInput"]
