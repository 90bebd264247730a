"""The llama-cpp-python runtime of the local model (``runtime: llama_cpp``).

llama-cpp-python returns OpenAI-shaped dicts already; its streams carry no usage, so the last
chunk is computed from the context's token count. See ``_local_runtime.py`` for the surface.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import BadRequestError, ProviderError


class LlamaCppChat:
    """A GGUF loaded by ``llama_cpp.Llama``. Not thread-safe: the caller serialises calls."""

    name = "llama_cpp"

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int,
        n_threads: int,
        n_threads_batch: int,
        n_batch: int,
        seed: int | None = None,
        chat_format: str | None = None,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        options: dict[str, Any] = {
            "n_ctx": n_ctx,
            "n_threads": n_threads,
            "n_threads_batch": n_threads_batch,
            "n_batch": n_batch,
        }
        if seed is not None:
            options["seed"] = seed
        if chat_format:
            options["chat_format"] = chat_format
        #: The options the model was loaded with (n_ctx, n_threads, n_threads_batch...).
        self.options = options
        self.llama = llama_cpp.Llama(model_path=path, verbose=verbose, **options)

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.llama.create_chat_completion(**{**request, "stream": False})

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        chunks = self.llama.create_chat_completion(**{**request, "stream": True})
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
        # The context holds the prompt and every generated token except the last one when
        # generation was cut at max_tokens.
        evaluated = completion_tokens - (finish_reason == "length")
        prompt_tokens = max(self.llama.n_tokens - evaluated, 0)
        yield {
            "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }

    def translate_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, ValueError) and "context window" in str(exc):
            return BadRequestError(f"prompt too long for the local model: {exc}", status=400)
        return None


class LlamaCppVocab:
    """The vocabulary of a GGUF through ``llama_cpp.Llama(vocab_only=True)``: no weights."""

    def __init__(self, path: str) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        self.chat_template: str | None = self.llm.metadata.get("tokenizer.chat_template")
        self.bos_token = self._token_text(self.llm.token_bos())
        self.eos_token = self._token_text(self.llm.token_eos())

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def encode(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
