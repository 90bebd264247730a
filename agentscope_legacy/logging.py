"""Terminal printing of messages and streams, and the loguru set-up.

Messages are printed with ``print`` (not subject to the log level) as ``name: text`` with the
name coloured; a stream prints only the new suffix of each accumulated chunk on one line, so
nothing is ever re-printed. Printed messages are also saved, uncoloured, to the run directory:
one line to ``logging.log`` and one JSON line to ``logging.chat``, in 0.1.x's format
(:func:`chat_record`). Once the logger is set up, ``loguru.logger.chat(msg)`` is
:func:`log_msg`, as in 0.1.x.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from . import message as _message
from ._secrets import scrub, scrub_shaped
from .message import Msg, format_msg, name_colour, speaker_prefix, url_media_type

__all__ = [
    "chat_record",
    "format_msg",
    "log_deltas",
    "log_msg",
    "log_stream_msg",
    "name_colour",
    "save_msg",
]

_lock = threading.Lock()
_printed: dict[str, str] = {}  # msg.id -> the text already printed
_chat_file: TextIO | None = None
_log_file: TextIO | None = None
_use_colour = True
#: Called with ``(msg, last)`` for every message and stream chunk printed (the Studio client
#: listens here); a chunk's ``msg`` is reused for the next one, so a listener copies what it keeps
#: (log_deltas' messages have ``parts``, the pieces so far, which only grows: see _Deltas).
speak_listeners: list[Callable[[Msg, bool], None]] = []


def _notify(msg: Msg, last: bool) -> None:
    for listener in speak_listeners:
        try:
            listener(msg, last)
        except Exception:  # noqa: S110  (a listener never breaks printing)
            pass


def _notify_some(listeners: list[Callable[[Msg, bool], None]], msg: Msg, last: bool) -> None:
    for listener in listeners:
        try:
            listener(msg, last)
        except Exception:  # noqa: S110  (a listener never breaks printing)
            pass


def _stdout() -> TextIO:
    return sys.stdout


def log_msg(msg: Msg) -> None:
    """Print a whole message and save it to the run directory."""
    if not isinstance(msg, Msg):
        raise TypeError(f"log_msg expects a Msg, got {type(msg).__name__}")
    out = _stdout()
    colored = _use_colour and out.isatty()
    with _lock:
        out.write(scrub(format_msg(msg, colored)) + "\n")
        out.flush()
    if speak_listeners:
        _notify(msg, True)
    _save(msg)


_message.echo_printer = log_msg  # Msg(..., echo=True) prints through here once this is loaded


def log_stream_msg(msg: Msg, last: bool = True) -> None:
    """Print the part of an accumulating message not printed yet; ``last`` ends the line.

    Safe for a message seen for the first time with ``last=True`` (a one-chunk stream), and for
    a text that does not extend what was printed (it is then printed again on a new line).
    """
    text = msg.get_text_content() or ""
    out = _stdout()
    with _lock:
        printed = _printed.get(msg.id)
        if printed is None:
            colored = _use_colour and out.isatty()
            out.write(speaker_prefix(msg.name, colored) + scrub(text))
        elif text.startswith(printed):
            out.write(scrub(text[len(printed) :]))
        else:
            out.write("\n" + speaker_prefix(msg.name, False) + scrub(text))
        if last:
            out.write("\n")
            _printed.pop(msg.id, None)
        else:
            _printed[msg.id] = text
        out.flush()
    if speak_listeners:
        _notify(msg, last)
    if last:
        _save(msg)


def log_deltas(name: str, pieces: Iterable[str]) -> None:
    """Print ``name:`` then each text piece as it arrives, then end the line."""
    out = _stdout()
    with _lock:
        out.write(speaker_prefix(name, _use_colour and out.isatty()))
        out.flush()
    # Listeners see the accumulated text as one message (one id for the whole reply).
    msg = _Deltas(name, "", "assistant") if speak_listeners else None
    # A listener marked ``speak_pieces = False`` reads the growing ``parts`` itself: it is
    # called for the first piece and the end only (no Python call per piece on this thread).
    each = [f for f in speak_listeners if getattr(f, "speak_pieces", True)] if msg else []
    first = True
    try:
        for piece in pieces:
            with _lock:
                out.write(scrub(piece))
                out.flush()
            if msg is not None:
                msg.parts.append(piece)
                if first:
                    first = False
                    _notify(msg, False)
                elif each:
                    _notify_some(each, msg, False)
    finally:
        with _lock:
            out.write("\n")
            out.flush()
        if msg is not None:
            _notify(msg, True)


class _Deltas(Msg):
    """A reply spoken piece by piece, as listeners see it: ``parts`` only grows, and the
    text is joined when ``content`` is read. Re-building the whole text for every piece
    cost the speaking thread O(n^2) copying; a listener may keep ``len(parts)`` instead
    and join later, off that thread."""

    __slots__ = ("parts",)

    @property  # type: ignore[override]
    def content(self) -> str:
        return "".join(self.parts)

    @content.setter
    def content(self, text: str) -> None:
        self.parts = [text] if text else []


def save_msg(msg: Msg) -> None:
    """Record a printed message in the log and the run's chat file."""
    _save(msg)


def chat_record(msg: Msg) -> dict[str, Any]:
    """A Msg as 0.1.3-0.1.6 serialised it (``Msg.to_dict()``, one ``logging.chat`` line):
    ``__module__``/``__name__``, id, name, role, content, metadata, timestamp; a 0.x ``url``
    becomes image/audio/video/file blocks after the content (``Msg.from_dict`` reads it)."""
    content: Any = msg.content
    if msg.urls:
        blocks = msg.get_content_blocks() if content not in (None, "") else []
        blocks += [{"type": url_media_type(url) or "file", "url": url} for url in msg.urls]
        content = blocks
    return {
        "__module__": "agentscope.message.msg",
        "__name__": "Msg",
        "id": msg.id,
        "name": msg.name,
        "role": msg.role,
        "content": [] if content is None else content,
        "metadata": msg.metadata,
        "timestamp": msg.timestamp,
    }


def _save(msg: Msg) -> None:
    from loguru import logger

    logger.bind(chat=True).info("{}", format_msg(msg, colored=False))
    if _chat_file is not None:
        line = json.dumps(chat_record(msg), ensure_ascii=False, default=str)
        with _lock:
            _chat_file.write(scrub(line) + "\n")
            _chat_file.flush()


def setup_logger(run_dir: str | Path | None, level: str = "INFO", save_log: bool = True) -> None:
    """Loguru to stderr at ``level`` and, when saving, to ``run_dir/logging.log``.

    Printed chat lines are not echoed to stderr (they are already on stdout). Neither sink
    prints the values of local variables in a traceback (``diagnose=False``: they hold
    headers and keys), and everything a sink writes, its formatted exception included, is
    scrubbed of known API keys and of secret-shaped text (:func:`scrub_shaped`).
    """
    global _chat_file, _log_file
    from loguru import logger

    logger.remove()
    logger.configure(patcher=_scrub_record)
    logger.chat = log_msg  # type: ignore[attr-defined]  # 0.1.x's scripts call logger.chat(msg)
    logger.add(
        _ScrubbingSink(sys.stderr),
        level=level,
        filter=lambda r: not r["extra"].get("chat"),
        format="<green>{time:HH:mm:ss}</green> | <level>{level: <7}</level> | {message}",
        diagnose=False,
    )
    for opened in (_chat_file, _log_file):
        if opened is not None:
            opened.close()
    _chat_file = _log_file = None
    if run_dir is not None and save_log:
        # Opened here, not by loguru: loguru's own file sink could not scrub what it writes.
        _log_file = open(Path(run_dir) / "logging.log", "a", encoding="utf-8", buffering=1)
        logger.add(
            _ScrubbingSink(_log_file),
            level=level,
            enqueue=False,
            format="{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {message}",
            diagnose=False,
        )
        from .monitor import open_jsonl

        _chat_file = open_jsonl(Path(run_dir) / "logging.chat")


class _ScrubbingSink:
    """A loguru sink writing to ``stream`` what loguru formatted, exception text included,
    once scrubbed: the patcher sees only the message, not the formatted traceback."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(scrub_shaped(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:  # loguru colours a terminal only
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())


def _scrub_record(record: dict[str, Any]) -> None:
    # For sinks added by the user as well: at least the message is clean.
    record["message"] = scrub_shaped(record["message"])
