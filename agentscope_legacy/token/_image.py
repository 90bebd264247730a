"""Image sizes from PNG, JPEG, GIF and WebP headers (stdlib only), and OpenAI's image tokens."""

from __future__ import annotations

import base64
import binascii
import math
import os
import struct
from urllib.parse import unquote, unquote_to_bytes

#: OpenAI's documented costs (gpt-4o, gpt-4.1, o-series): a low-detail image, a 512-px tile.
LOW_DETAIL_TOKENS = 85
TILE_TOKENS = 170
TILE_SIZE = 512
MAX_SIDE = 2048
SHORT_SIDE = 768
#: The size assumed when an image's size cannot be read (a web URL, an unknown format).
DEFAULT_IMAGE_SIZE = (1024, 1024)

_HEAD_BYTES = 64 * 1024
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): not DHT/JPG/DAC.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers that stand alone, without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xDA)}


def openai_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """Tokens of one image, as OpenAI documents for its tile-based vision models.

    ``low``: a flat 85. ``high``/``auto``: scale down to fit in 2048x2048, then scale down so the
    shortest side is 768 px, then 170 per 512-px tile plus 85. Images are never scaled up.
    """
    if detail == "low":
        return LOW_DETAIL_TOKENS
    if detail not in ("high", "auto"):
        raise ValueError(f"unknown image detail {detail!r}: expected 'low', 'high' or 'auto'")
    w, h = float(width), float(height)
    if max(w, h) > MAX_SIDE:
        scale = MAX_SIDE / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > SHORT_SIDE:
        scale = SHORT_SIDE / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(w / TILE_SIZE) * math.ceil(h / TILE_SIZE)
    return TILE_TOKENS * tiles + LOW_DETAIL_TOKENS


def image_size_from_url(url: str) -> tuple[int, int] | None:
    """``(width, height)`` of a data URL or a local file (path or ``file://``), else None."""
    if url.startswith("data:"):
        header, sep, payload = url.partition(",")
        if not sep:
            return None
        if header.endswith(";base64"):
            try:
                data = base64.b64decode(payload, validate=False)
            except (binascii.Error, ValueError):
                return None
        else:
            data = unquote_to_bytes(payload)
        return image_size(data)
    path = unquote(url[7:]) if url.startswith("file://") else url
    if "://" in path or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
            size = image_size(head)
            if size is None and head[:2] == b"\xff\xd8":  # a JPEG frame header after big EXIF
                size = image_size(head + fh.read())
    except OSError:
        return None
    return size


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from the header of PNG, JPEG, GIF or WebP bytes, else None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature 0x2f, then 14-bit width-1 and height-1
        if data[20] != 0x2F:
            return None
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header
            return None
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF_MARKERS:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None
