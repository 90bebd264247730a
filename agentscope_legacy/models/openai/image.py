"""``openai_dall_e``: image generation, optionally saved in the run's directory."""

from __future__ import annotations

from typing import Any

from ...errors import ResponseFormatError
from .._images import save_images
from ..response import ModelResponse, sdk_dict
from ._client import OpenAIWrapperBase


class OpenAIDALLEWrapper(OpenAIWrapperBase):
    """``openai_dall_e``: image generation; ``save_local=True`` stores files in the run dir."""

    model_type = "openai_dall_e"

    def __call__(self, prompt: str, save_local: bool = False, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        response = super().__call__(prompt, **kwargs)
        if save_local and response.image_urls:
            response.image_urls = save_images(response.image_urls, _download, response.replayed)
        return response

    def _build_request(self, prompt: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        return {**kwargs, "prompt": prompt, "model": self.model_name}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        result = self.client.images.generate(**request)
        if not result.data:
            raise ResponseFormatError("the image response has no data")
        urls = [item.url or f"data:image/png;base64,{item.b64_json}" for item in result.data]
        response = ModelResponse(image_urls=urls, raw=sdk_dict(result))
        response.sdk_response = result
        return response


def _download(url: str) -> bytes:
    import requests

    reply = requests.get(url, timeout=60)
    reply.raise_for_status()
    return reply.content
