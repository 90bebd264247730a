"""``Msg``: the unit agents exchange, and the content blocks it may carry.

``content`` is a string or a list of content blocks. Blocks are plain dicts with a ``type``
(``text``, ``thinking``, ``image``, ``audio``, ``video``, ``data``, ``tool_use``, ``tool_result``),
typed by
the ``TypedDict`` classes below, so a ``Msg`` round-trips through JSON unchanged. Media blocks
carry a ``source``: a :class:`URLSource` (a web URL or a local path) or a :class:`Base64Source`;
a :class:`DataBlock` carries any other binary content (a PDF, a text file) the same way.
``url`` keeps the 0.x way of attaching images and files to a message.

::

    Msg("user", [TextBlock(type="text", text="What is this?"),
                 image_block("photo.png")], "user")

One file over ~400 lines on purpose: the block types, their constructors, ``Msg`` and its
terminal form are the one message schema, imported together by every layer above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mimetypes
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar

Role = Literal["system", "user", "assistant"]
ROLES = ("system", "user", "assistant")


# -- sources ----------------------------------------------------------------------------------
class URLSource(TypedDict):
    """Media given by a URL: ``http(s)://...``, ``file://...`` or a local path."""

    type: Literal["url"]
    url: str


class Base64Source(TypedDict):
    """Media given inline: base64 ``data`` (no ``data:`` prefix) and its ``media_type``."""

    type: Literal["base64"]
    media_type: str
    data: str


# -- blocks -----------------------------------------------------------------------------------
class TextBlock(TypedDict):
    type: Literal["text"]
    text: str


class _ThinkingRequired(TypedDict):
    type: Literal["thinking"]
    thinking: str


class ThinkingBlock(_ThinkingRequired, total=False):
    """Reasoning text; ``signature`` is the provider's seal (Anthropic) when it sent one."""

    signature: str


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: URLSource | Base64Source


class AudioBlock(TypedDict):
    type: Literal["audio"]
    source: URLSource | Base64Source


class VideoBlock(TypedDict):
    """A video file, or (a list ``source``) its frames as images, for providers that take
    frame lists (DashScope)."""

    type: Literal["video"]
    source: URLSource | Base64Source | list[URLSource | Base64Source]


class _DataRequired(TypedDict):
    type: Literal["data"]
    source: URLSource | Base64Source


class DataBlock(_DataRequired, total=False):
    """Generic binary content: base64 data with its ``media_type``, or a URL. ``name`` is an
    optional file name (shown to providers that take one)."""

    name: str


class _ToolUseRequired(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ToolUseBlock(_ToolUseRequired, total=False):
    """A tool call; ``raw_input`` keeps arguments a model sent that were not a JSON object."""

    raw_input: str


class _ToolResultRequired(TypedDict):
    type: Literal["tool_result"]
    id: str
    output: str | list[TextBlock | ImageBlock | AudioBlock]


class ToolResultBlock(_ToolResultRequired, total=False):
    """The result of the tool call ``id``: a string or text/image/audio blocks."""

    name: str


ContentBlock = (
    TextBlock
    | ThinkingBlock
    | ImageBlock
    | AudioBlock
    | VideoBlock
    | DataBlock
    | ToolUseBlock
    | ToolResultBlock
)

#: block ``type`` -> its TypedDict class (and back, :func:`block_type_name`).
BLOCK_CLASSES: dict[str, type] = {
    "text": TextBlock,
    "thinking": ThinkingBlock,
    "image": ImageBlock,
    "audio": AudioBlock,
    "video": VideoBlock,
    "data": DataBlock,
    "tool_use": ToolUseBlock,
    "tool_result": ToolResultBlock,
}
_BLOCK_NAMES = {cls: name for name, cls in BLOCK_CLASSES.items()}
MEDIA_TYPES = ("image", "audio", "video")


def block_type_name(block_type: str | type | None) -> str | None:
    """``"text"`` for ``"text"`` or :class:`TextBlock`; None stays None."""
    if block_type is None or isinstance(block_type, str):
        return block_type
    try:
        return _BLOCK_NAMES[block_type]
    except KeyError:
        raise TypeError(f"not a content block type: {block_type!r}") from None


# -- constructors -----------------------------------------------------------------------------
def url_source(url: str) -> URLSource:
    return {"type": "url", "url": url}


def base64_source(data: str, media_type: str) -> Base64Source:
    return {"type": "base64", "media_type": media_type, "data": data}


def _source(source: str | URLSource | Base64Source) -> URLSource | Base64Source:
    return url_source(source) if isinstance(source, str) else source


def text_block(text: str) -> TextBlock:
    return {"type": "text", "text": text}


def thinking_block(thinking: str, signature: str | None = None) -> ThinkingBlock:
    block: ThinkingBlock = {"type": "thinking", "thinking": thinking}
    if signature is not None:
        block["signature"] = signature
    return block


def image_block(source: str | URLSource | Base64Source) -> ImageBlock:
    """An image from a URL or local path (a str) or from a source dict."""
    return {"type": "image", "source": _source(source)}


def audio_block(source: str | URLSource | Base64Source) -> AudioBlock:
    return {"type": "audio", "source": _source(source)}


def video_block(
    source: str | URLSource | Base64Source | list[str | URLSource | Base64Source],
) -> VideoBlock:
    """A video from a URL, path or source dict; a list is the video's frames (images)."""
    if isinstance(source, list):
        return {"type": "video", "source": [_source(frame) for frame in source]}
    return {"type": "video", "source": _source(source)}


def data_block(
    source: str | URLSource | Base64Source,
    media_type: str | None = None,
    name: str | None = None,
) -> DataBlock:
    """Binary content from a URL (a str) or a source dict; with ``media_type``, a str is
    base64 data of that type instead."""
    if isinstance(source, str) and media_type is not None:
        source = base64_source(source, media_type)
    block: DataBlock = {"type": "data", "source": _source(source)}
    if name is not None:
        block["name"] = name
    return block


def tool_use_block(id: str, name: str, input: dict[str, Any] | None = None) -> ToolUseBlock:
    return {"type": "tool_use", "id": id, "name": name, "input": dict(input or {})}


def tool_result_block(
    id: str,
    output: str | list[TextBlock | ImageBlock | AudioBlock],
    name: str | None = None,
) -> ToolResultBlock:
    block: ToolResultBlock = {"type": "tool_result", "id": id, "output": output}
    if name is not None:
        block["name"] = name
    return block


# The 0.1.x extension table for ``url`` attachments (by the last "." segment, lowercase).
_URL_KINDS = {
    "image": "bmp dib icns ico jfif jpe jpeg jpg j2c j2k jp2 jpc jpf jpx apng png bw rgb rgba sgi "
    "tif tiff webp gif heic heif".split(),
    "audio": "amr wav 3gp 3gpp aac mp3 flac ogg m4a opus aiff".split(),
    "video": "mp4 webm mkv flv avi mov wmv rmvb mpeg mpg".split(),
}


def url_media_type(url: str) -> str | None:
    """``image``/``audio``/``video`` for a URL, data URL or path, else None."""
    if url.startswith("data:"):
        major = url[5:].split("/", 1)[0]
        return major if major in MEDIA_TYPES else None
    path = url.split("?", 1)[0].split("#", 1)[0]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    for kind, extensions in _URL_KINDS.items():
        if ext in extensions:
            return kind
    mime = mimetypes.guess_type(path)[0] or ""
    major = mime.split("/", 1)[0]
    return major if major in MEDIA_TYPES else None


def url_block(url: str) -> ImageBlock | AudioBlock | VideoBlock | None:
    """The media block for a 0.x ``url`` attachment, or None when it is not image/audio/video."""
    kind = url_media_type(url)
    if kind is None:
        return None
    return {"type": kind, "source": url_source(url)}  # type: ignore[return-value]


def _check_blocks(content: list[Any]) -> None:
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise TypeError(
                f"Msg content[{i}] must be a content block (a dict with a 'type'), "
                f"got {block!r:.80}"
            )


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


T = TypeVar("T")


def structured_instance(cls: type[T], data: dict[str, Any]) -> T:
    """``data`` as a ``cls``: a pydantic model (``model_validate``) or a dataclass."""
    if hasattr(cls, "model_validate"):  # pydantic v2, without importing it here
        return cls.model_validate(data)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        return cls(**data)
    raise TypeError(f"cls must be a pydantic model or a dataclass, got {cls!r:.80}")


class Msg:
    """A message with a speaker ``name``, ``content``, ``role`` and optional ``url``/metadata."""

    __slots__ = ("id", "name", "content", "role", "url", "metadata", "timestamp")

    def __init__(
        self,
        name: str,
        content: str | list[dict[str, Any]] | None,
        role: Role = "assistant",
        url: str | list[str] | None = None,
        metadata: Any = None,
        echo: bool = False,
        *,
        id: str | None = None,
        timestamp: str | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"Msg role must be one of {', '.join(ROLES)}, got {role!r}")
        if content is not None and not isinstance(content, (str, list)):
            raise TypeError(
                "Msg content must be a str or a list of content blocks, "
                f"got {type(content).__name__}"
            )
        if isinstance(content, list):
            _check_blocks(content)
        if metadata is not None:
            try:
                json.dumps(metadata)
            except TypeError as exc:
                raise TypeError(f"Msg metadata must be JSON-serialisable: {exc}") from None
        self.id = id or uuid.uuid4().hex
        self.name = name
        self.content = content
        self.role = role
        self.url = url
        self.metadata = metadata
        self.timestamp = timestamp or _now()
        if echo:
            echo_printer(self)

    # -- content access ----------------------------------------------------------------------
    def get_text_content(self) -> str | None:
        """The text of the message: the str content, or its text blocks joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return None
        texts = [b.get("text", "") for b in self.content if b.get("type") == "text"]
        return "\n".join(texts) if texts else None

    def get_content_blocks(
        self, block_type: str | type | None = None, *, type: str | type | None = None
    ) -> list[dict[str, Any]]:
        """Content as blocks (a str becomes one text block), optionally of one type.

        The type is a name (``"image"``) or a block class (:class:`ImageBlock`), given
        positionally, as ``block_type=`` or as ``type=`` (0.1.x's name).
        """
        if block_type is not None and type is not None:
            raise TypeError("give the block type once: block_type= or type=")
        wanted = block_type_name(block_type if block_type is not None else type)
        if isinstance(self.content, str):
            blocks = [{"type": "text", "text": self.content}]
        else:
            blocks = list(self.content or [])
        if wanted is None:
            return blocks
        return [b for b in blocks if b.get("type") == wanted]

    def has_content_blocks(self, block_type: str | type | None = None) -> bool:
        """Whether the message has any block (of that type)."""
        return bool(self.get_content_blocks(block_type))

    def get_structured_data(self, cls: type[T] | None = None) -> dict[str, Any] | T | None:
        """The validated structured output in ``metadata["structured_output"]`` (None when
        there is none): the dict, or an instance of ``cls`` (a pydantic model, validated by
        it, or a dataclass built from the dict's fields)."""
        meta = self.metadata if isinstance(self.metadata, dict) else {}
        data = meta.get("structured_output")
        if data is None or cls is None:
            return data
        return structured_instance(cls, data)

    @property
    def urls(self) -> list[str]:
        """``url`` as a list (0.x accepted one string or a list)."""
        if not self.url:
            return []
        return [self.url] if isinstance(self.url, str) else list(self.url)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` restores an equal ``Msg``."""
        return {
            "__module__": "agentscope_legacy.message",
            "__name__": "Msg",
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "content": self.content,
            "url": self.url,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Msg:
        """Build a Msg from :meth:`to_dict` output (the input is not modified)."""
        fields = {k: v for k, v in data.items() if not k.startswith("__")}
        unknown = set(fields) - {"id", "name", "role", "content", "url", "metadata", "timestamp"}
        if unknown:
            raise ValueError(f"unknown Msg fields: {', '.join(sorted(unknown))}")
        return cls(
            fields.get("name"),
            fields.get("content"),
            fields.get("role", "assistant"),
            url=fields.get("url"),
            metadata=fields.get("metadata"),
            id=fields.get("id"),
            timestamp=fields.get("timestamp"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Msg:
        return cls.from_dict(json.loads(text))

    def formatted_str(self, colored: bool = False) -> str:
        """``name: text`` lines as printed on the terminal (0.x layout)."""
        return format_msg(self, colored=colored)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        content = (
            self.content if isinstance(self.content, str) else f"<{len(self.content or [])} blocks>"
        )
        if isinstance(content, str) and len(content) > 60:
            content = content[:57] + "..."
        return f"Msg(name={self.name!r}, role={self.role!r}, content={content!r})"


# -- terminal form ---------------------------------------------------------------------------
_COLOURS = [f"\033[{c}m" for c in range(90, 98)]
_RESET = "\033[0m"


def name_colour(name: str) -> str:
    """A stable colour per speaker name."""
    return _COLOURS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(_COLOURS)]


def speaker_prefix(name: str, colored: bool) -> str:
    """``name: `` as printed before a speaker's text, the name coloured if asked."""
    return f"{name_colour(name)}{name}{_RESET}: " if colored else f"{name}: "


def format_msg(msg: Msg, colored: bool = False) -> str:
    """The printable form of a message: one ``name: ...`` line per block or url."""
    prefix = speaker_prefix(msg.name, colored)
    lines = []
    tool_uses = []
    for block in msg.get_content_blocks():
        kind = block.get("type")
        if kind == "text":
            lines.append(prefix + block.get("text", ""))
        elif kind == "thinking":
            lines.append(prefix + "(thinking) " + block.get("thinking", ""))
        elif kind == "tool_use":
            tool_uses.append(block)
        elif kind == "tool_result":
            output = block.get("output")
            text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
            lines.append(f"{prefix}Execute function {block.get('name')}:\n{text}")
        else:
            source = block.get("source") or {}
            lines.append(prefix + str(block.get("url") or source.get("url") or f"<{kind}>"))
    lines += [prefix + url for url in msg.urls]
    if tool_uses:
        dumped = json.dumps(tool_uses, ensure_ascii=False, indent=4)
        lines.append(dumped if lines else prefix + dumped)
    return "\n".join(lines) if lines else prefix.rstrip()


def _print_msg(msg: Msg) -> None:
    print(format_msg(msg))


# What ``Msg(..., echo=True)`` calls: printing here, until agentscope_legacy.logging (loaded with
# the package) puts its printer in, which also saves the message to the run directory.
echo_printer: Callable[[Msg], None] = _print_msg
