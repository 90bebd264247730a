"""The llama-cpp-python runtime of the local model (``runtime: llama_cpp``).

llama-cpp-python returns OpenAI-shaped dicts already; its streams carry no usage, so the last
chunk is computed from the context's token count. See ``_local_runtime.py`` for the surface.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import BadRequestError, ProviderError


def _string_content(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` without ``stream`` and with every message's content a string.

    llama-cpp-python renders the GGUF's chat template with the messages as given, and the
    templates concatenate ``content`` as a string: a list of text parts (what the OpenAI
    formatter makes) becomes its texts joined by newlines, as llama.cpp's own server (the
    xllamacpp runtime) joins them. Other parts cannot be rendered: a BadRequestError."""
    messages = []
    for message in request.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            kinds = {part.get("type") if isinstance(part, dict) else type(part).__name__
                     for part in content} - {"text"}
            if kinds:
                raise BadRequestError(
                    f"the local model (llama_cpp runtime) takes text only, not "
                    f"{', '.join(sorted(map(str, kinds)))} parts", status=400)
            message = {**message, "content": "\n".join(part["text"] for part in content)}
        messages.append(message)
    return {**{k: v for k, v in request.items() if k != "stream"}, "messages": messages}


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
        return self.llama.create_chat_completion(**_string_content(request), stream=False)

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        chunks = self.llama.create_chat_completion(**_string_content(request), stream=True)
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
