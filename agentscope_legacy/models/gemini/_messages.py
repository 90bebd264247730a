"""Message translation (pure): Gemini- or OpenAI-shaped messages, ``format()``'s Msgs,
tools and tool choices to Gemini contents and config."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from typing import Any

from .._format import HISTORY_HEADER, _block_url, _tool_output_text

_ROLES = {
    "user": "user",
    "model": "model",
    "assistant": "model",
    "tool": "user",
    "function": "user",
}


_TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}


def split_system(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict[str, Any]]]:
    """System parts and Gemini contents from Gemini- or OpenAI-shaped messages.

    Adjacent contents with the same role are merged (Gemini expects alternating turns).
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        parts = _message_parts(message)
        if role == "system":
            system.extend(parts)
            continue
        if role not in _ROLES:
            raise ValueError(f"unsupported role for Gemini: {role!r}")
        if not parts:
            continue
        if contents and contents[-1]["role"] == _ROLES[role]:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": _ROLES[role], "parts": parts})
    return system, contents


def _message_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    if "parts" in message:
        parts = message["parts"]
        parts = [parts] if isinstance(parts, (str, dict)) else list(parts or [])
        return [{"text": p} if isinstance(p, str) else p for p in parts]
    # OpenAI shape: content str or parts, tool_calls, role "tool".
    content = message.get("content")
    if message["role"] == "tool":
        text = content if isinstance(content, str) else _tool_output_text(content)
        return [function_response_part(message.get("name", ""), text)]
    parts: list[dict[str, Any]] = []
    for item in [content] if isinstance(content, str) else content or []:
        if isinstance(item, str):
            parts.append({"text": item})
        elif item.get("type") == "text":
            parts.append({"text": item.get("text", "")})
        elif item.get("type") == "image_url":
            parts.append(image_part((item.get("image_url") or {}).get("url", "")))
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        args = function.get("arguments") or "{}"
        args = json.loads(args) if isinstance(args, str) else args
        parts.append({"function_call": {"name": function.get("name", ""), "args": args}})
    return parts


def tools_to_gemini(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function schemas (wrapped or bare) → one Tool of ``function_declarations``.

    Native Gemini tools (``{"google_search": {}}``, ``{"code_execution": {}}``, ...) pass through.
    """
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        schema = tool.get("function") if tool.get("type") == "function" else tool
        if not isinstance(schema, dict) or "name" not in schema:
            native.append(tool)
            continue
        declaration = {"name": schema["name"]}
        if schema.get("description"):
            declaration["description"] = schema["description"]
        if schema.get("parameters"):
            declaration["parameters_json_schema"] = schema["parameters"]
        declarations.append(declaration)
    return ([{"function_declarations": declarations}] if declarations else []) + native


def tool_choice_to_gemini(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):  # OpenAI's {"type": "function", "function": {"name": ...}}
        choice = (choice.get("function") or choice).get("name", "")
    if choice in _TOOL_CHOICE:
        return {"function_calling_config": {"mode": _TOOL_CHOICE[choice]}}
    return {"function_calling_config": {"mode": "ANY", "allowed_function_names": [choice]}}


def gemini_chat_contents(msgs: list[Any]) -> list[dict[str, Any]]:
    """One content per Msg: assistant → model, a leading system Msg → system, others → user."""
    contents: list[dict[str, Any]] = []
    leading = True
    for msg in msgs:
        leading = leading and msg.role == "system"
        parts: list[dict[str, Any]] = []
        for block in msg.get_content_blocks():
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind in ("image", "audio", "video") and _block_url(block):
                parts.append(image_part(_block_url(block)))
            elif kind == "tool_use":
                parts.append(function_call_part(block))
            elif kind == "tool_result":
                part = function_response_part(block.get("name", ""), block.get("output"))
                contents.append({"role": "user", "parts": [part]})
        parts.extend(image_part(url) for url in msg.urls if _is_media(url))
        if parts:
            role = "system" if leading else "model" if msg.role == "assistant" else "user"
            contents.append({"role": role, "parts": parts})
    return contents


def function_call_part(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block as a Gemini ``function_call`` part."""
    return {"function_call": {"name": block["name"], "args": block.get("input") or {}}}


def function_response_part(name: str, output: Any) -> dict[str, Any]:
    """A tool's output as a ``function_response`` part (a dict output is sent as it is)."""
    response = output if isinstance(output, dict) else {"output": _tool_output_text(output)}
    return {"function_response": {"name": name, "response": response}}


def gemini_multi_agent_contents(msgs: list[Any]) -> list[dict[str, Any]]:
    """The system prompt, then one user turn: images, then ``name: text`` history lines."""
    if not msgs:
        raise ValueError("at least one message is needed to build a prompt")
    contents: list[dict[str, Any]] = []
    rest = msgs
    if msgs[0].role == "system":
        contents.append({"role": "system", "parts": [{"text": msgs[0].get_text_content() or ""}]})
        rest = msgs[1:]
    images = [
        image_part(url)
        for m in rest
        for url in [*m.urls, *(_block_url(b) for b in m.get_content_blocks("image"))]
        if url and (_is_media(url) or url.startswith("data:"))
    ]
    lines = [f"{m.name}: {text}" for m in rest if (text := m.get_text_content())]
    parts = images + ([{"text": HISTORY_HEADER + "\n" + "\n".join(lines)}] if lines else [])
    if parts:
        contents.append({"role": "user", "parts": parts})
    return contents


def image_part(url: str) -> dict[str, Any]:
    """``inline_data`` for a local file or data URL, ``file_data`` for a web/cloud URI.

    Images mostly, but Gemini takes audio, video and PDF the same way.
    """
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        return {"inline_data": {"mime_type": header.split(";")[0], "data": data}}
    path = url[7:] if url.startswith("file://") else url
    mime = mimetypes.guess_type(path.split("?", 1)[0])[0] or "image/jpeg"
    if "://" not in path and os.path.isfile(path):
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        return {"inline_data": {"mime_type": mime, "data": data}}
    return {"file_data": {"mime_type": mime, "file_uri": url}}


def _is_media(url: str) -> bool:
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or ""
    return mime.startswith(("image/", "audio/", "video/")) or mime == "application/pdf"
