"""DashScope video blocks: sent to vision models (``MultiModalConversation``) as a URL, inline
data or a list of frames, through the real ``dashscope`` SDK and the loopback emulator."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from agentscope_legacy.formatter import DashScopeChatFormatter, DashScopeMultiAgentFormatter
from agentscope_legacy.message import Msg, base64_source, video_block
from agentscope_legacy.model import DashScopeChatModel
from tests.emulators import TINY_PNG, dashscope_fixtures

dashscope_server = dashscope_fixtures.dashscope_server
MULTIMODAL_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
TINY_PNG_B64 = base64.b64encode(TINY_PNG).decode()
PNG_URL = "data:image/png;base64," + TINY_PNG_B64


def send(server: Any, msgs: list[Msg], formatter: Any = None) -> dict[str, Any]:
    """Format ``msgs``, send them to qwen-vl-max, and return the request on the wire."""
    model = DashScopeChatModel(
        "qwen-vl-max",
        api_key="sk-video-test",
        stream=False,
        base_http_api_url=server.base_url + "/api/v1",
        retry_interval=0.01,
    )
    formatted = asyncio.run((formatter or DashScopeChatFormatter()).format(msgs))
    asyncio.run(model(formatted))
    request = server.requests[-1]
    assert request.path.split("?")[0] == MULTIMODAL_PATH
    return request.json["input"]["messages"]


def test_video_url_and_frames_reach_the_wire(dashscope_server):
    msg = Msg(
        "user",
        [
            {"type": "text", "text": "What happens?"},
            video_block("https://example.com/clip.mp4"),
            video_block(["https://example.com/f1.jpg", base64_source(TINY_PNG_B64, "image/png")]),
        ],
        "user",
    )
    content = send(dashscope_server, [msg])[0]["content"]
    assert content == [
        {"text": "What happens?"},
        {"video": "https://example.com/clip.mp4"},
        {"video": ["https://example.com/f1.jpg", PNG_URL]},
    ]


def test_a_local_video_is_inlined_not_uploaded(dashscope_server, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    msg = Msg("user", [{"type": "text", "text": "Describe."}, video_block(str(clip))], "user")
    content = send(dashscope_server, [msg])[0]["content"]
    assert content[1]["video"] == (
        "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    )


def test_multi_agent_history_keeps_video(dashscope_server):
    msgs = [
        Msg("alice", [{"type": "text", "text": "Look:"}, video_block("https://x.org/a.mp4")]),
        Msg("bob", "Nice.", "assistant"),
    ]
    content = send(dashscope_server, msgs, DashScopeMultiAgentFormatter())[0]["content"]
    assert {"video": "https://x.org/a.mp4"} in content
