"""Multimodal embeddings: texts, images and videos through the real ``dashscope`` and
``google-genai`` SDKs against the loopback emulators (what reached the wire is checked)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from agentscope_legacy.embedding import (
    DashScopeMultiModalEmbedding,
    DashScopeTextEmbedding,
    EmbeddingCache,
    GeminiMultiModalEmbedding,
    GeminiTextEmbedding,
    LocalTextEmbedding,
    embedding_model_from_config,
)
from agentscope_legacy.message import base64_source, image_block, text_block, video_block
from agentscope_legacy.models import read_model_configs
from tests.emulators import TINY_PNG, dashscope_fixtures, embedding_vector, gemini_fixtures

dashscope_server = dashscope_fixtures.dashscope_server
gemini_server = gemini_fixtures.gemini_server
PNG_B64 = base64.b64encode(TINY_PNG).decode()
PNG_URL = "data:image/png;base64," + PNG_B64
MM_PATH = "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"


def dashscope(server: Any, **kw: Any) -> DashScopeMultiModalEmbedding:
    url = server.base_url + "/api/v1"
    return DashScopeMultiModalEmbedding(api_key="sk-mm", base_url=url, retry_interval=0.01, **kw)


def test_supported_modalities_tell_the_truth():
    assert DashScopeMultiModalEmbedding.supported_modalities == ("text", "image", "video")
    assert GeminiMultiModalEmbedding.supported_modalities == ("text", "image", "video")
    for text_only in (DashScopeTextEmbedding, GeminiTextEmbedding, LocalTextEmbedding):
        assert text_only.supported_modalities == ("text",)


def test_dashscope_text_image_and_video_on_the_wire(dashscope_server, tmp_path):
    photo = tmp_path / "cat.png"
    photo.write_bytes(TINY_PNG)
    inputs = [
        "a cat",
        text_block("a dog"),
        image_block("https://example.com/cat.jpg"),
        image_block(base64_source(PNG_B64, "image/png")),
        image_block(str(photo)),
        video_block("https://example.com/clip.mp4"),
    ]
    response = asyncio.run(dashscope(dashscope_server, dimensions=4)(inputs))
    request = dashscope_server.requests[-1]
    assert request.path == MM_PATH
    assert request.json["parameters"] == {"dimension": 4}
    # The local file went inline (the SDK would have uploaded a path to OSS), and being the
    # same image as the base64 one, it was sent once.
    assert request.json["input"]["contents"] == [
        {"text": "a cat"},
        {"text": "a dog"},
        {"image": "https://example.com/cat.jpg"},
        {"image": PNG_URL},
        {"video": "https://example.com/clip.mp4"},
    ]
    assert response.embeddings[0] == pytest.approx(embedding_vector("text:a cat", 4))
    assert response.embeddings[5] == pytest.approx(
        embedding_vector("video:https://example.com/clip.mp4", 4)
    )
    assert response.embeddings[3] == response.embeddings[4]
    assert response.usage.tokens > 0


def test_dashscope_cache_answers_media_too(dashscope_server, tmp_path):
    model = dashscope(dashscope_server, cache=EmbeddingCache(tmp_path))
    inputs = [image_block("https://example.com/cat.jpg"), "a cat"]
    first = asyncio.run(model(inputs))
    count = len(dashscope_server.requests)
    again = asyncio.run(model(inputs))
    assert again.source == "cache" and again.embeddings == first.embeddings
    assert len(dashscope_server.requests) == count


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"type": "audio", "source": {"type": "url", "url": "https://x.org/a.wav"}}, TypeError),
        (video_block(["https://x.org/f1.jpg"]), TypeError),
        (image_block("/no/such/photo.png"), FileNotFoundError),
        ([], ValueError),
    ],
)
def test_bad_inputs_are_refused_before_the_wire(dashscope_server, bad, error):
    with pytest.raises(error):
        asyncio.run(dashscope(dashscope_server)(bad))
    assert dashscope_server.requests == []


def test_text_models_still_refuse_images(dashscope_server):
    model = DashScopeTextEmbedding(
        "text-embedding-v4", api_key="sk", base_url=dashscope_server.base_url + "/api/v1"
    )
    with pytest.raises(TypeError):
        asyncio.run(model([image_block("https://example.com/cat.jpg")]))


def test_gemini_embedding_2_takes_images_and_videos(gemini_server):
    model = GeminiMultiModalEmbedding(
        api_key="gk-mm", base_url=gemini_server.base_url, retry_interval=0.01, dimensions=4
    )
    inputs = [
        "a cat",
        image_block(base64_source(PNG_B64, "image/png")),
        video_block("https://example.com/clip.mp4"),
    ]
    response = asyncio.run(model(inputs))
    parts = [r["content"]["parts"] for r in gemini_server.requests[-1].json["requests"]]
    inline = parts[1][0].pop("inline_data")
    assert base64.urlsafe_b64decode(inline["data"]) == TINY_PNG  # the SDK's base64 alphabet
    assert inline["mime_type"] == "image/png"
    assert parts == [
        [{"text": "a cat"}],
        [{}],
        [{"file_data": {"file_uri": "https://example.com/clip.mp4", "mime_type": "video/mp4"}}],
    ]
    assert len(response.embeddings) == 3 and all(len(v) == 4 for v in response.embeddings)
    assert response.embeddings[1] != response.embeddings[2]


def test_gemini_text_only_model_says_so_and_refuses_media(gemini_server):
    model = GeminiMultiModalEmbedding(
        "gemini-embedding-001", api_key="gk-mm", base_url=gemini_server.base_url, max_retries=0
    )
    assert model.supported_modalities == ("text",)
    with pytest.raises(TypeError):
        asyncio.run(model([image_block(base64_source(PNG_B64, "image/png"))]))
    assert gemini_server.requests == []
    assert len(asyncio.run(model(["text is fine"])).embeddings) == 1


def test_a_yaml_config_builds_the_multimodal_model(dashscope_server):
    read_model_configs(
        [
            {
                "config_name": "mm-embed",
                "model_type": "dashscope_multimodal_embedding",
                "model_name": "tongyi-embedding-vision-plus",
                "api_key": "sk-mm",
                "base_url": dashscope_server.base_url + "/api/v1",
            }
        ]
    )
    model = embedding_model_from_config("mm-embed")
    assert isinstance(model, DashScopeMultiModalEmbedding)
    response = asyncio.run(model([image_block("https://example.com/cat.jpg")]))
    assert len(response.embeddings) == 1
    assert dashscope_server.requests[-1].json["model"] == "tongyi-embedding-vision-plus"
