"""Message translation (pure): ``format()``'s Msgs and OpenAI-shaped messages, tools and
tool choices to the Messages API's shapes."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from typing import Any

from ...message import Msg
from .._format import (
    HISTORY_HEADER,
    IMAGE_EXTENSIONS,
    _extension,
    _tool_output_text,
    normalize_tools,
)
from ..response import tool_call_block


def tools_to_anthropic(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function tools (or bare schemas) to ``{"name","description","input_schema"}``."""
    result = []
    for tool in normalize_tools(tools):
        function = tool["function"]
        item = {
            "name": function["name"],
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            item["description"] = function["description"]
        result.append(item)
    return result


def tool_choice_to_anthropic(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        function = choice.get("function")
        if choice.get("type") == "function" and isinstance(function, dict):
            return {"type": "tool", "name": function["name"]}
        return choice  # already Anthropic-shaped
    named = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    return named.get(choice, {"type": "tool", "name": choice})


def to_anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)``: leading system text lifted out, the rest in Anthropic shape."""
    system: list[str] = []
    result: list[dict[str, Any]] = []
    leading = True
    for message in messages:
        role, content = message["role"], message.get("content")
        if role == "system" and leading:
            if text := _text_of(content):
                system.append(text)
            continue
        leading = False
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _tool_output_text(content),
            }
            last = result[-1] if result else None
            if last and last["role"] == "user" and _all_tool_results(last["content"]):
                last["content"].append(block)
            else:
                result.append({"role": "user", "content": [block]})
            continue
        blocks = _content_blocks(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            block = tool_call_block(
                call.get("id", ""), function.get("name", ""), function.get("arguments")
            )
            block.pop("raw_input", None)  # arguments that are not JSON cannot be sent
            blocks.append(block)
        if not blocks:
            continue
        if isinstance(content, str) and len(blocks) == 1:
            body: str | list[dict[str, Any]] = content
        else:
            body = blocks
        result.append({"role": "user" if role == "system" else role, "content": body})
    return "\n\n".join(system) or None, result


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _all_tool_results(content: Any) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """Message content as Anthropic blocks; OpenAI ``image_url`` parts become images."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "image_url":
            url = (block.get("image_url") or {}).get("url", "")
            blocks.append({"type": "image", "source": image_source(url)})
        elif block.get("type") == "text" and not block.get("text"):
            continue  # the API rejects empty text blocks
        else:
            blocks.append(block)
    return blocks


def image_source(url: str) -> dict[str, Any]:
    """An image ``source``: a web URL as is; a data URL or local file as bare base64."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {"type": "base64", "media_type": media_type, "data": data}
    path = url[7:] if url.startswith("file://") else url
    if "://" not in path and os.path.isfile(path):
        media_type = mimetypes.guess_type(path)[0] or "image/png"
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def image_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """An image content block (ours or 0.1.x's) as an Anthropic image block, or None."""
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        data = str(source.get("data", ""))
        if data.startswith("data:"):  # 0.x sent the data-URL prefix inside `data`
            return {"type": "image", "source": image_source(data)}
        media_type = source.get("media_type") or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    url = source.get("url") if isinstance(source, dict) else source or block.get("url")
    return {"type": "image", "source": image_source(url)} if isinstance(url, str) and url else None


_image_block = image_block  # the name before the formatter package reused it


def document_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """A ``data`` content block as an Anthropic ``document`` (a PDF or text), or None when its
    content is of a type the API does not read (or a local file that does not exist)."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "url":
        url = str(source.get("url") or "")
        path = url[7:] if url.startswith("file://") else url
        if url.startswith(("http://", "https://")):
            doc: dict[str, Any] | None = {"type": "url", "url": url}
        elif os.path.isfile(path):
            with open(path, "rb") as fh:
                data = base64.b64encode(fh.read()).decode("ascii")
            doc = _inline_document(mimetypes.guess_type(path)[0], data)
        else:
            doc = None
    else:
        doc = _inline_document(source.get("media_type"), source.get("data"))
    if doc is None:
        return None
    document: dict[str, Any] = {"type": "document", "source": doc}
    if block.get("name"):
        document["title"] = block["name"]
    return document


def _inline_document(media_type: Any, data: Any) -> dict[str, Any] | None:
    """A document ``source`` for base64 ``data``: PDFs as they are, text decoded."""
    if not isinstance(data, str) or not isinstance(media_type, str):
        return None
    if media_type == "application/pdf":
        return {"type": "base64", "media_type": media_type, "data": data}
    if media_type.startswith("text/"):
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except ValueError:
            return None
        return {"type": "text", "media_type": "text/plain", "data": text}
    return None


def tool_use_to_anthropic(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` content block as Anthropic's (only the fields the API takes)."""
    return {
        "type": "tool_use",
        "id": block["id"],
        "name": block["name"],
        "input": block.get("input") or {},
    }


def tool_result_to_anthropic(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_result`` block as Anthropic's: text as a string, images kept as image blocks."""
    output = block.get("output")
    content: str | list[dict[str, Any]] = _tool_output_text(output)
    if isinstance(output, list) and any(
        isinstance(item, dict) and item.get("type") == "image" for item in output
    ):
        content = []
        for item in output:
            image = image_block(item) if item.get("type") == "image" else None
            if image is not None:
                content.append(image)
            elif text := _tool_output_text([item]):
                content.append({"type": "text", "text": text})
    return {"type": "tool_result", "tool_use_id": block["id"], "content": content}


def _msg_images(msg: Msg) -> list[dict[str, Any]]:
    return [
        {"type": "image", "source": image_source(url)}
        for url in msg.urls
        if _extension(url) in IMAGE_EXTENSIONS or url.startswith("data:image/")
    ]


def anthropic_chat_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    """One Anthropic message per Msg (tool results split into a following user message)."""
    result: list[dict[str, Any]] = []
    leading = True
    for msg in msgs:
        if msg.role == "system" and leading:
            result.append({"role": "system", "content": msg.get_text_content() or ""})
            continue
        leading = False
        blocks: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                blocks.append({"type": "text", "text": block["text"]})
            elif kind == "image" and (image := _image_block(block)) is not None:
                blocks.append(image)
            elif kind == "data" and (document := document_block(block)) is not None:
                blocks.append(document)
            elif kind == "tool_use":
                blocks.append(tool_use_to_anthropic(block))
            elif kind == "tool_result":
                results.append(tool_result_to_anthropic(block))
        blocks.extend(_msg_images(msg))
        if blocks:
            result.append({"role": "user" if msg.role == "system" else msg.role, "content": blocks})
        if results:
            result.append({"role": "user", "content": results})
    return result


def anthropic_multi_agent_messages(msgs: list[Msg]) -> list[dict[str, Any]]:
    """The system prompt, then one user message: the conversation as text, then its images."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    result: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        result.append({"role": "system", "content": msgs[0].get_text_content() or ""})
        rest = msgs[1:]
    lines: list[str] = []
    images: list[dict[str, Any]] = []
    for msg in rest:
        parts: list[str] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                parts.append(block["text"])
            elif kind in ("tool_use", "tool_result"):
                shown = {k: v for k, v in block.items() if k != "type"}
                parts.append(
                    f"<{kind}>{json.dumps(shown, ensure_ascii=False, default=str)}</{kind}>"
                )
            elif kind == "image" and (image := _image_block(block)) is not None:
                images.append(image)
        images.extend(_msg_images(msg))
        if parts:
            lines.append(f"{msg.name}: " + "\n".join(parts))
    content: list[dict[str, Any]] = []
    if lines:
        content.append({"type": "text", "text": HISTORY_HEADER + "\n" + "\n".join(lines)})
    content.extend(images)
    if content:
        result.append({"role": "user", "content": content})
    return result
