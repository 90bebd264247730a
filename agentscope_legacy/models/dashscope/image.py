"""``dashscope_image_synthesis``: ``ImageSynthesis`` tasks; images saved locally on request."""

from __future__ import annotations

from typing import Any

from ...errors import (
    BadRequestError,
    ProviderError,
    ResponseFormatError,
)
from .._images import save_images
from ..response import ModelResponse, Usage
from ._client import DashScopeWrapperBase, _checked, _error_class
from ._messages import _local_path

_IMAGE_INPUTS = ("images", "sketch_image_url", "ref_img", "mask_image_url", "base_image_url")
DEFAULT_TASK_WAIT = 600.0  # seconds an image task may take before giving up


class DashScopeImageSynthesisWrapper(DashScopeWrapperBase):
    """``dashscope_image_synthesis``: an async task, submitted then polled (``/tasks/<id>``).

    ``wait_timeout`` (seconds, default 600) may be given in generate_args or per call. An
    error after the task was accepted is not retried, so a task is never paid for twice.
    """

    model_type = "dashscope_image_synthesis"

    def __call__(self, prompt: str, save_local: bool = False, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        response = super().__call__(prompt, **kwargs)
        if save_local and response.image_urls:
            response.image_urls = save_images(response.image_urls, self._download,
                                              response.replayed)
        return response

    def _build_request(self, prompt: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        for key in _IMAGE_INPUTS:
            values = kwargs.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and _local_path(value):
                    raise ValueError(
                        f"{key}={value!r} is a local file, which the dashscope SDK would upload "
                        "to Alibaba Cloud OSS; pass an http(s) URL"
                    )
        return {**kwargs, "model": self.model_name, "prompt": prompt}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        request = dict(request)
        wait_timeout = request.pop("wait_timeout", DEFAULT_TASK_WAIT)
        api = self.sdk.ImageSynthesis
        task = _checked(api.async_call(**request, **self._transport()))
        task_id = (task.get("output") or {}).get("task_id")
        if not task_id:
            raise ResponseFormatError(f"no task id in the response: {str(task)[:200]}")
        poll = {"api_key": self._api_key, "wait_timeout": wait_timeout}
        if self.base_url:
            poll["base_address"] = self.base_url  # ImageSynthesis.call would poll the default
        try:
            result = _checked(api.wait(task_id, **poll))
            return response_from_task(result)
        except Exception as exc:
            err = exc if isinstance(exc, ProviderError) else self._translate_error(exc)
            if err is None:
                raise
            err.message = f"task {task_id}: {err.message}"
            err.args = (err.message,)
            err.retryable = False  # type: ignore[misc]  # the task exists; do not resubmit
            raise err from (None if err is exc else exc)

    def _download(self, url: str) -> bytes:
        reply = self._session.get(url, timeout=60)
        reply.raise_for_status()
        return reply.content


def response_from_task(rsp: Any) -> ModelResponse:
    """Image URLs of a finished task; a failed or cancelled task raises."""
    output = rsp.get("output") or {}
    status = output.get("task_status")
    request_id = rsp.get("request_id") or None
    if status != "SUCCEEDED":
        code, message = output.get("code"), output.get("message")
        cls = _error_class(None, code) if code else ProviderError
        if code in ("InvalidParameter", "DataInspectionFailed"):
            cls = BadRequestError
        raise cls(
            f"image task {status}: {code or ''} {message or ''}".strip(),
            request_id=request_id,
            body=output,
        )
    results = output.get("results") or []
    urls = [r["url"] for r in results if r.get("url")]
    if not urls:
        first = results[0] if results else {}
        raise BadRequestError(
            f"the image task produced no image: {first.get('code')}: {first.get('message')}",
            request_id=request_id,
            body=output,
        )
    response = ModelResponse(image_urls=urls, raw=rsp, usage=Usage())
    response.request_id = request_id
    return response
