"""Embedding models (``agentscope_legacy.embedding``) over the provider wrappers, and the cache.

Every remote model runs through its provider's real SDK against the loopback emulator of its
wire protocol (OpenAI ``/v1/embeddings``, DashScope ``TextEmbedding``, Gemini
``:batchEmbedContents``, Ollama ``/api/embed``); cache hits and misses are counted on the
emulator's recorded requests.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

for _sdk in ("openai", "dashscope", "google.genai", "ollama"):  # all in the [test] extra
    pytest.importorskip(_sdk)
# ruff: noqa: E402 (the imports below need the SDKs checked first)

from agentscope_legacy import _runtime
from agentscope_legacy.embedding import (
    DashScopeTextEmbedding,
    EmbeddingCache,
    EmbeddingModelBase,
    EmbeddingResponse,
    FileEmbeddingCache,
    GeminiTextEmbedding,
    LocalTextEmbedding,
    OllamaTextEmbedding,
    OpenAITextEmbedding,
    embedding_model_from_config,
)
from agentscope_legacy.errors import AuthenticationError, ResponseFormatError
from agentscope_legacy.models import read_model_configs
from agentscope_legacy.models.openai import OpenAIEmbeddingWrapper
from tests.emulators import Fault, embedding_vector
from tests.emulators.dashscope_fixtures import shared_dashscope_emulator
from tests.emulators.fixtures import ensure_no_proxy, shared_openai_emulator
from tests.emulators.gemini_fixtures import shared_gemini_emulator
from tests.emulators.ollama import shared_ollama_emulator

DEFAULT_DIM = 8  # what every emulator answers without a dimensions field


# -- one table of the four remote providers ---------------------------------------------------
@dataclass
class Provider:
    name: str
    server: Callable[[], Any]
    build: Callable[..., EmbeddingModelBase]
    #: (texts, dimensions) that one recorded request asked for.
    sent: Callable[[Any], tuple[list[str], int | None]]
    path: str
    #: Whether the emulator reports tokens (Gemini sends no usage for embeddings by default).
    reports_tokens: bool = True


def _openai_sent(req: Any) -> tuple[list[str], int | None]:
    raw = req.json["input"]
    return ([raw] if isinstance(raw, str) else raw), req.json.get("dimensions")


def _dashscope_sent(req: Any) -> tuple[list[str], int | None]:
    return req.json["input"]["texts"], (req.json.get("parameters") or {}).get("dimension")


def _gemini_sent(req: Any) -> tuple[list[str], int | None]:
    items = req.json["requests"]
    dims = {item.get("outputDimensionality") for item in items}
    assert len(dims) == 1
    return [item["content"]["parts"][0]["text"] for item in items], dims.pop()


def _ollama_sent(req: Any) -> tuple[list[str], int | None]:
    raw = req.json["input"]
    return ([raw] if isinstance(raw, str) else raw), req.json.get("dimensions")


FAST = {"max_retries": 2, "retry_interval": 0.01}

PROVIDERS = {
    "openai": Provider(
        "openai",
        shared_openai_emulator,
        lambda s, model="text-embedding-3-small", **kw: OpenAITextEmbedding(
            model, api_key="sk-test", base_url=s.base_url + "/v1", **FAST, **kw
        ),
        _openai_sent,
        "/v1/embeddings",
    ),
    "dashscope": Provider(
        "dashscope",
        shared_dashscope_emulator,
        lambda s, model="text-embedding-v4", **kw: DashScopeTextEmbedding(
            model, api_key=f"sk-ds-{uuid.uuid4().hex}", base_url=s.api_base, **FAST, **kw
        ),
        _dashscope_sent,
        "/api/v1/services/embeddings",
    ),
    "gemini": Provider(
        "gemini",
        shared_gemini_emulator,
        lambda s, model="gemini-embedding-001", **kw: GeminiTextEmbedding(
            model, api_key="AIza-test", base_url=s.base_url, **FAST, **kw
        ),
        _gemini_sent,
        "/v1",
        reports_tokens=False,
    ),
    "ollama": Provider(
        "ollama",
        shared_ollama_emulator,
        lambda s, model="nomic-embed-text", **kw: OllamaTextEmbedding(
            model, host=s.base_url, **FAST, **kw
        ),
        _ollama_sent,
        "/api/embed",
    ),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request):
    ensure_no_proxy()
    spec = PROVIDERS[request.param]
    server = spec.server()
    server.clear()
    yield spec, server
    server.clear()


def expected(texts: list[str], dim: int = DEFAULT_DIM) -> list[list[float]]:
    return [embedding_vector(t, dim) for t in texts]


def assert_vectors(actual: list[list[float]], wanted: list[list[float]]) -> None:
    assert len(actual) == len(wanted)
    for a, w in zip(actual, wanted, strict=True):
        assert a == pytest.approx(w, rel=1e-6, abs=1e-7)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the call shape ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["hello world", ["first text", "second one here", "third"]], ids=["str", "list"]
)
def test_one_vector_per_input_through_the_wrapper(provider, text):
    spec, server = provider
    model = spec.build(server)
    response = run(model(text))
    texts = [text] if isinstance(text, str) else text
    assert isinstance(response, EmbeddingResponse)
    assert_vectors(response.embeddings, expected(texts))
    assert response.source == "api" and response.type == "embedding"
    words = sum(len(t.split()) for t in texts)
    assert response.usage.tokens == (words if spec.reports_tokens else 0)
    assert response.usage.time > 0
    assert response["embeddings"] is response.embeddings
    assert response.id and response.created_at
    [req] = server.requests
    assert spec.path in req.path
    assert spec.sent(req) == (texts, None)
    # the wrapper's usage records are kept as for any legacy call
    [row] = _runtime.get_runtime().monitor.usage_rows()
    assert row["calls"] == 1 and row["model_name"] == model.model_name


def test_dimensions_go_in_the_provider_field(provider):
    spec, server = provider
    model = spec.build(server, dimensions=5)
    response = run(model(["a b", "c"]))
    assert_vectors(response.embeddings, expected(["a b", "c"], 5))
    assert spec.sent(server.requests[-1]) == (["a b", "c"], 5)


def test_text_blocks_are_accepted(provider):
    spec, server = provider
    model = spec.build(server)
    response = run(model([{"type": "text", "text": "x y"}, "z"]))
    assert_vectors(response.embeddings, expected(["x y", "z"]))
    assert_vectors(run(model({"type": "text", "text": "x y"})).embeddings, expected(["x y"]))


def test_bad_inputs_are_refused_before_any_request():
    model = PROVIDERS["openai"].build(shared_openai_emulator())
    server = shared_openai_emulator()
    server.clear()
    with pytest.raises(TypeError, match="image"):
        run(model([{"type": "image", "source": {"type": "url", "url": "http://x/a.png"}}]))
    with pytest.raises(TypeError):
        run(model([3]))
    with pytest.raises(ValueError, match="empty"):
        run(model([]))
    assert server.requests == []
    with pytest.raises(ValueError):
        PROVIDERS["openai"].build(server, dimensions=0)


def test_provider_errors_stay_typed_and_retries_are_the_wrappers(provider, tmp_path):
    spec, server = provider
    model = spec.build(server, cache=EmbeddingCache(tmp_path))
    server.add_fault(Fault(status=401))
    with pytest.raises(AuthenticationError):
        run(model("x"))
    assert not any(tmp_path.rglob("*/??/*"))  # nothing cached from a failed call
    server.clear()
    server.add_fault(Fault(status=500))
    response = run(model("x"))  # one retry by the wrapper
    assert_vectors(response.embeddings, expected(["x"]))
    assert len(server.requests) == 2


def test_vectors_of_another_length_are_refused(tmp_path):
    server = shared_openai_emulator()
    server.clear()
    model = PROVIDERS["openai"].build(server, dimensions=4, cache=EmbeddingCache(tmp_path))
    with pytest.raises(ResponseFormatError, match="asked for 4 dimensions"):
        run(model("x", dimensions=6))  # a per-call override the model did not ask for
    assert not any(tmp_path.rglob("*/??/*"))


# -- the cache --------------------------------------------------------------------------------
def test_hit_miss_and_partial_hit(provider, tmp_path):
    spec, server = provider
    model = spec.build(server, cache=EmbeddingCache(tmp_path))
    first = run(model(["alpha", "beta"]))
    assert first.source == "api" and len(server.requests) == 1

    again = run(model(["alpha", "beta"]))
    assert again.source == "cache" and len(server.requests) == 1
    assert again.usage.tokens == 0
    assert again.embeddings == first.embeddings  # bit for bit: the API result was stored as is

    mixed = run(model(["beta", "gamma", "alpha", "delta"]))
    assert mixed.source == "api" and len(server.requests) == 2
    assert spec.sent(server.requests[-1])[0] == ["gamma", "delta"]  # only the misses, once
    assert_vectors(mixed.embeddings, expected(["beta", "gamma", "alpha", "delta"]))
    assert mixed.embeddings[0] == first.embeddings[1]

    single = run(model("gamma"))
    assert single.source == "cache" and single.embeddings == [mixed.embeddings[1]]
    assert len(server.requests) == 2


def test_a_repeated_text_is_sent_once(provider, tmp_path):
    spec, server = provider
    model = spec.build(server, cache=EmbeddingCache(tmp_path))
    response = run(model(["x", "y", "x"]))
    assert spec.sent(server.requests[-1])[0] == ["x", "y"]
    assert response.embeddings[0] == response.embeddings[2]
    assert_vectors(response.embeddings, expected(["x", "y", "x"]))


def test_without_a_cache_every_call_is_sent(provider):
    spec, server = provider
    model = spec.build(server)
    run(model("x"))
    run(model("x"))
    assert len(server.requests) == 2


def test_model_dimensions_and_arguments_do_not_collide(tmp_path):
    cache = EmbeddingCache(tmp_path)
    server = shared_openai_emulator()
    server.clear()
    build = PROVIDERS["openai"].build
    small = build(server, cache=cache)
    other = build(server, model="text-embedding-3-large", cache=cache)
    short = build(server, dimensions=4, cache=cache)
    assert len(run(small("t")).embeddings[0]) == DEFAULT_DIM
    assert run(other("t")).source == "api"
    assert len(run(short("t")).embeddings[0]) == 4
    assert run(short("t", user="someone")).source == "api"  # per-call args are in the key
    assert len(server.requests) == 4
    for model in (small, other, short):
        assert run(model("t")).source == "cache"
    assert len(server.requests) == 4
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 4
    identities = [json.loads((p / "identity.json").read_text()) for p in tmp_path.iterdir()]
    assert {(i["model_name"], i["dimensions"]) for i in identities} == {
        ("text-embedding-3-small", None),
        ("text-embedding-3-large", None),
        ("text-embedding-3-small", 4),
    }


def test_providers_do_not_share_entries(tmp_path):
    cache = EmbeddingCache(tmp_path)
    servers = {name: spec.server() for name, spec in PROVIDERS.items()}
    for server in servers.values():
        server.clear()
    for name in ("openai", "ollama"):
        spec = PROVIDERS[name]
        model = spec.build(servers[name], model="same-name", cache=cache)
        assert run(model("t")).source == "api"
        assert len(servers[name].requests) == 1


def test_gemini_task_type_is_part_of_the_key(tmp_path):
    server = shared_gemini_emulator()
    server.clear()
    model = PROVIDERS["gemini"].build(server, cache=EmbeddingCache(tmp_path))
    run(model("q", task_type="retrieval_query"))
    assert run(model("q", task_type="retrieval_document")).source == "api"
    assert run(model("q", task_type="retrieval_query")).source == "cache"
    assert server.requests[0].json["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def entry_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and len(p.name) == 64)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn write
        lambda data: b"",  # empty file left by a power loss
        lambda data: data[:-1] + bytes([data[-1] ^ 0x01]),  # one flipped bit in the vector
        lambda data: b"XXXX" + data[4:],  # wrong magic
        lambda data: os.urandom(len(data)),  # garbage of the right size
    ],
    ids=["truncated", "empty", "bitflip", "magic", "garbage"],
)
def test_a_corrupted_entry_is_ignored_and_rewritten(tmp_path, damage):
    server = shared_openai_emulator()
    server.clear()
    cache = EmbeddingCache(tmp_path)
    model = PROVIDERS["openai"].build(server, cache=cache)
    first = run(model(["keep", "break"]))
    identity = model.cache_identity(model._request_kwargs({}))
    broken, _ = EmbeddingCache._entry(cache.model_dir(identity), "break")
    assert broken in entry_files(tmp_path)
    broken.write_bytes(damage(broken.read_bytes()))

    again = run(model(["keep", "break"]))
    assert again.source == "api" and again.embeddings == first.embeddings
    assert spec_texts(server) == ["break"]
    third = run(model(["keep", "break"]))  # rewritten: a hit now
    assert third.source == "cache" and third.embeddings == first.embeddings
    assert len(server.requests) == 2


def spec_texts(server: Any) -> list[str]:
    return _openai_sent(server.requests[-1])[0]


def test_an_entry_moved_to_another_key_is_not_trusted(tmp_path):
    cache = EmbeddingCache(tmp_path)
    identity = {"model_name": "m"}
    cache.put_many(identity, ["a", "b"], [[1.0, 2.0], [3.0, 4.0]])
    model_dir = cache.model_dir(identity)
    path_a, _ = EmbeddingCache._entry(model_dir, "a")
    path_b, _ = EmbeddingCache._entry(model_dir, "b")
    path_b.write_bytes(path_a.read_bytes())  # a valid entry under the wrong name
    assert cache.get_many(identity, ["a", "b"]) == [[1.0, 2.0], None]


def test_unreadable_or_unwritable_cache_never_fails_a_call(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    server = shared_openai_emulator()
    server.clear()
    model = PROVIDERS["openai"].build(server, cache=EmbeddingCache(blocker))
    for _ in range(2):
        response = run(model(["x", "y"]))
        assert response.source == "api"
        assert_vectors(response.embeddings, expected(["x", "y"]))
    assert len(server.requests) == 2


def test_vectors_are_stored_as_float32(tmp_path):
    cache = EmbeddingCache(tmp_path)
    stored = cache.put_many({"m": 1}, ["t"], [[0.1, 1 / 3, -2.5, 1e-40]])
    [path] = entry_files(tmp_path)
    assert path.stat().st_size == 12 + 4 * 4
    assert cache.get_many({"m": 1}, ["t", "u"]) == [stored[0], None]
    assert stored[0][2] == -2.5 and stored[0][0] == pytest.approx(0.1, rel=1e-7)
    assert stored[0] != [0.1, 1 / 3, -2.5, 1e-40]  # rounded to float32
    cache.clear()
    assert cache.get_many({"m": 1}, ["t"]) == [None]


def test_the_default_directory_is_in_the_runtime_cache_dir(tmp_path):
    _runtime.get_runtime().cache_dir = tmp_path / "home"
    server = shared_openai_emulator()
    server.clear()
    model = PROVIDERS["openai"].build(server, cache=True)
    assert isinstance(model.cache, EmbeddingCache)
    assert model.cache.directory == tmp_path / "home" / "embeddings"
    run(model("x"))
    assert run(model("x")).source == "cache"
    assert entry_files(tmp_path / "home" / "embeddings")
    assert FileEmbeddingCache is EmbeddingCache


def test_embedding_cache_is_agentscopes_name_too(tmp_path):
    server = shared_openai_emulator()
    server.clear()
    cache = EmbeddingCache(tmp_path)
    model = PROVIDERS["openai"].build(server, embedding_cache=cache)
    assert model.cache is cache
    with pytest.raises(ValueError, match="either"):
        PROVIDERS["openai"].build(server, cache=cache, embedding_cache=cache)


# -- concurrency ------------------------------------------------------------------------------
def test_concurrent_calls_share_one_cache(provider, tmp_path):
    spec, server = provider
    model = spec.build(server, cache=EmbeddingCache(tmp_path))
    batches = [[f"text {(i * 3 + j) % 10}" for j in range(4)] for i in range(12)]

    async def main() -> list[EmbeddingResponse]:
        return await asyncio.gather(*(model(batch) for batch in batches))

    responses = run(main())
    for batch, response in zip(batches, responses, strict=True):
        assert_vectors(response.embeddings, expected(batch))
    sent = [t for req in server.requests for t in spec.sent(req)[0]]
    assert set(sent) == {f"text {i}" for i in range(10)}
    calls = len(server.requests)
    everything = run(model([f"text {i}" for i in range(10)]))
    assert everything.source == "cache" and len(server.requests) == calls


def test_threads_writing_the_same_entries(tmp_path):
    cache = EmbeddingCache(tmp_path)
    identity = {"model_name": "m", "dimensions": 16}
    texts = [f"t{i}" for i in range(40)]
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            for _ in range(5):
                cache.put_many(identity, texts, expected(texts, 16))
                for got in cache.get_many(identity, texts):
                    assert got is None or len(got) == 16
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.get_many(identity, texts) == expected(texts, 16)
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary file left behind


def _process_writer(directory: str, seed: int) -> None:
    cache = EmbeddingCache(directory)
    texts = [f"t{(seed + i) % 30}" for i in range(30)]
    for _ in range(3):
        cache.put_many({"model_name": "m"}, texts, expected(texts, 32))
        for text, got in zip(texts, cache.get_many({"model_name": "m"}, texts), strict=True):
            assert got is None or got == embedding_vector(text, 32)


def test_processes_writing_the_same_entries(tmp_path):
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_process_writer, args=(str(tmp_path), i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    texts = [f"t{i}" for i in range(30)]
    assert EmbeddingCache(tmp_path).get_many({"model_name": "m"}, texts) == expected(texts, 32)


# -- building from legacy configs and wrappers ------------------------------------------------
def test_from_a_legacy_config(tmp_path):
    server = shared_openai_emulator()
    server.clear()
    read_model_configs(
        [
            {
                "config_name": "emb",
                "model_type": "openai_embedding",
                "model_name": "text-embedding-3-small",
                "api_key": "sk-test",
                "base_url": server.base_url + "/v1",
            },
            {"config_name": "chat", "model_type": "post_api_chat", "api_url": "http://127.0.0.1:9"},
        ]
    )
    model = embedding_model_from_config("emb", dimensions=3, cache=EmbeddingCache(tmp_path))
    assert isinstance(model, OpenAITextEmbedding) and model.model_name == "text-embedding-3-small"
    assert_vectors(run(model("hi")).embeddings, expected(["hi"], 3))
    with pytest.raises(TypeError, match="not an embedding model"):
        embedding_model_from_config("chat")


def test_from_wrapper_checks_the_wrapper_type():
    server = shared_openai_emulator()
    wrapper = OpenAIEmbeddingWrapper("w", "m", api_key="k", base_url=server.base_url + "/v1")
    model = OpenAITextEmbedding.from_wrapper(wrapper)
    assert model.wrapper is wrapper and model.model_name == "m"
    with pytest.raises(TypeError, match="OllamaEmbeddingWrapper"):
        OllamaTextEmbedding.from_wrapper(wrapper)
    with pytest.raises(TypeError):
        LocalTextEmbedding.from_wrapper(wrapper)


def test_wrapper_arguments_pass_through():
    server = shared_openai_emulator()
    model = OpenAITextEmbedding(
        "m",
        api_key="k",
        base_url=server.base_url + "/v1",
        config_name="my-embedding",
        max_retries=5,
        generate_args={"user": "u1"},
    )
    assert model.wrapper.config_name == "my-embedding" and model.wrapper.max_retries == 5
    server.clear()
    run(model("x"))
    assert server.requests[-1].json["user"] == "u1"
    assert model.cache_identity({})["args"] == {"user": "u1"}
    assert "OpenAITextEmbedding(model_name='m'" in repr(model)
