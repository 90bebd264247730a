"""``DataBlock``: generic binary content, sent as Anthropic documents and Gemini inline/file
data (checked on the wire through the real SDKs and the emulators), dropped with a warning by
formatters of providers that take no files."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from loguru import logger

from agentscope_legacy.formatter import (
    AnthropicChatFormatter,
    AnthropicMultiAgentFormatter,
    GeminiChatFormatter,
    OpenAIChatFormatter,
)
from agentscope_legacy.message import Msg, base64_source, data_block, url_source
from tests import chat_kit as kit
from tests.chat_kit import load, sent
from tests.emulators import anthropic as emulator
from tests.emulators import gemini_fixtures

anthropic_server = emulator.anthropic_server
gemini_server = gemini_fixtures.gemini_server
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF).decode()


@pytest.fixture
def warnings() -> Any:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def send(server: Any, msgs: list[Msg], formatter: Any = None) -> dict[str, Any]:
    """Format ``msgs``, send them through anthropic_chat, and return the body on the wire."""
    formatted = asyncio.run((formatter or AnthropicChatFormatter()).format(msgs))
    load(kit.chat_config(server, "anthropic_chat"))(formatted).text  # noqa: B018 (drain)
    return sent(server)


def user(*blocks: Any) -> Msg:
    return Msg("user", [{"type": "text", "text": "Summarise this."}, *blocks], "user")


def test_constructor_and_json_round_trip():
    block = data_block(PDF_B64, "application/pdf", name="report.pdf")
    assert block == {
        "type": "data",
        "source": base64_source(PDF_B64, "application/pdf"),
        "name": "report.pdf",
    }
    assert data_block("https://example.com/a.pdf")["source"] == url_source(
        "https://example.com/a.pdf"
    )
    msg = user(block)
    again = Msg.from_dict(json.loads(json.dumps(msg.to_dict())))
    assert again.get_content_blocks("data") == [block]


def test_a_base64_pdf_is_an_anthropic_document(anthropic_server):
    body = send(anthropic_server, [user(data_block(PDF_B64, "application/pdf", name="r.pdf"))])
    assert body["messages"][0]["content"][1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "r.pdf",
    }


def test_web_url_and_local_file_and_text(anthropic_server, tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(PDF)
    text = base64.b64encode(b"line one\nline two").decode()
    blocks = [
        data_block("https://example.com/paper.pdf"),
        data_block(str(path)),
        data_block(text, "text/markdown"),
    ]
    body = send(anthropic_server, [user(*blocks)])
    sources = [b["source"] for b in body["messages"][0]["content"][1:]]
    assert sources == [
        {"type": "url", "url": "https://example.com/paper.pdf"},
        {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        {"type": "text", "media_type": "text/plain", "data": "line one\nline two"},
    ]


def test_multi_agent_history_keeps_documents_in_place(anthropic_server):
    msgs = [
        Msg("system", "Be brief.", "system"),
        Msg("alice", [{"type": "text", "text": "Here:"}, data_block(PDF_B64, "application/pdf")]),
        Msg("bob", "Thanks.", "assistant"),
    ]
    body = send(anthropic_server, msgs, AnthropicMultiAgentFormatter())
    kinds = [b["type"] for b in body["messages"][0]["content"]]
    assert kinds == ["text", "document", "text"]


@pytest.mark.parametrize(
    "block",
    [
        data_block(base64.b64encode(b"PK\x03\x04").decode(), "application/zip"),
        data_block("/no/such/file.pdf"),
        data_block("not base64!", "text/plain"),
    ],
)
def test_unreadable_content_is_dropped_with_a_warning(anthropic_server, warnings, block):
    body = send(anthropic_server, [user(block)])
    assert [b["type"] for b in body["messages"][0]["content"]] == ["text"]
    assert any("dropped a data block" in line for line in warnings)


def test_providers_without_files_drop_it_with_a_warning(warnings):
    formatted = asyncio.run(
        OpenAIChatFormatter().format([user(data_block(PDF_B64, "application/pdf"))])
    )
    assert "document" not in json.dumps(formatted) and PDF_B64 not in json.dumps(formatted)
    assert any("does not support data blocks" in line for line in warnings)


def test_legacy_format_sends_documents_too(anthropic_server):
    model = load(kit.chat_config(anthropic_server, "anthropic_chat"))
    msgs = [Msg("user", [data_block(PDF_B64, "application/pdf")], "user")]
    model(model.format(*msgs, multi_agent_mode=False)).text  # noqa: B018 (drain)
    assert sent(anthropic_server)["messages"][0]["content"][0]["type"] == "document"


def test_gemini_reads_pdf_and_text_documents(gemini_server, warnings):
    text = base64.b64encode(b"hello").decode()
    msgs = [
        user(
            data_block(PDF_B64, "application/pdf"),
            data_block(text, "text/csv"),
            data_block("https://example.com/paper.pdf"),
            data_block(PDF_B64, "application/zip"),
        )
    ]
    formatted = asyncio.run(GeminiChatFormatter().format(msgs))
    load(kit.chat_config(gemini_server, "gemini_chat"))(formatted).text  # noqa: B018 (drain)
    parts = sent(gemini_server)["contents"][0]["parts"]
    inline = [p.get("inline_data") or p.get("inlineData") for p in parts[1:3]]
    assert [(i.get("mime_type") or i.get("mimeType")) for i in inline] == [
        "application/pdf",
        "text/csv",
    ]
    assert inline[0]["data"] == PDF_B64
    file_data = parts[3].get("file_data") or parts[3].get("fileData")
    assert (file_data.get("file_uri") or file_data.get("fileUri")) == (
        "https://example.com/paper.pdf"
    )
    assert len(parts) == 4  # the zip was dropped
    assert any("Gemini reads PDF and text documents" in line for line in warnings)
