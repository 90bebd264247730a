"""Which library runs a local GGUF model: xllamacpp (the default) or llama-cpp-python.

Both runtimes are hidden behind two small adapters with the same surface, so that the
``llamacpp_chat`` wrapper, the newer layer's ``LlamaCppChatModel`` and the GGUF token counter
never touch a runtime's own API:

* ``_local_xllamacpp.py``: xllamacpp (``pip install "agentscope-legacy[local]"``, a
  prebuilt wheel, no compiler);
* ``_local_llama_cpp.py``: llama-cpp-python (``[local-llama-cpp]``, built from source).

A chat runtime has ``chat(request) -> dict`` (an OpenAI ``chat.completion``), ``stream(request)
-> Iterator[dict]`` (``chat.completion.chunk`` dicts ending with one carrying ``usage``; closing
it stops the generation) and ``translate_error(exc)``. A vocabulary has ``encode(text)``,
``chat_template``, ``bos_token`` and ``eos_token``.

Without ``runtime`` in the config, xllamacpp is used when it is installed, else
llama-cpp-python; ``runtime: llama_cpp`` (or ``xllamacpp``) asks for one.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingDependencyError

#: The runtimes, default first: config value -> (import name, PyPI package, extra).
RUNTIMES = {
    "xllamacpp": ("xllamacpp", "xllamacpp", "local"),
    "llama_cpp": ("llama_cpp", "llama-cpp-python", "local-llama-cpp"),
}


def _importable(name: str) -> bool:
    try:
        importlib.import_module(RUNTIMES[name][0])
    except ImportError:
        return False
    return True


def choose_runtime(runtime: str | None = None) -> str:
    """The runtime to use: the one asked for, else the first installed one.

    Raises MissingDependencyError naming the extra to install.
    """
    if runtime is not None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown local runtime {runtime!r}; one of {', '.join(RUNTIMES)}")
        if not _importable(runtime):
            _, package, extra = RUNTIMES[runtime]
            raise MissingDependencyError(
                package, extra, hint=f" (asked for by `runtime: {runtime}`)"
            )
        return runtime
    for name in RUNTIMES:
        if _importable(name):
            return name
    raise MissingDependencyError(
        "xllamacpp", "local", hint=' (or llama-cpp-python: `"agentscope-legacy[local-llama-cpp]"`)'
    )


def open_chat(runtime: str | None, path: str, **options: Any) -> Any:
    """A loaded chat runtime for the GGUF at ``path`` (options: ``n_ctx``, ``n_threads``,
    ``n_threads_batch``, ``n_batch``, ``seed``, ``chat_format``, ``verbose``)."""
    name = choose_runtime(runtime)
    if name == "xllamacpp":
        from ._local_xllamacpp import XllamacppChat

        return XllamacppChat(path, **options)
    from ._local_llama_cpp import LlamaCppChat

    return LlamaCppChat(path, **options)


def open_vocab(runtime: str | None, path: str) -> Any:
    """The tokenizer and chat template of the GGUF at ``path``."""
    name = choose_runtime(runtime)
    if name == "xllamacpp":
        from ._local_xllamacpp import XllamacppVocab

        return XllamacppVocab(path)
    from ._local_llama_cpp import LlamaCppVocab

    return LlamaCppVocab(path)
