"""Just enough of the GGUF format to read a model's metadata (name, context length) offline,
without loading the model."""

from __future__ import annotations

import struct
from typing import IO, Any

MAGIC = b"GGUF"
# Value types of the GGUF spec: struct format of each fixed-size scalar.
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


def _read(fh: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack("<" + fmt, data)[0]


def _string(fh: IO[bytes]) -> str:
    length = _read(fh, "Q")
    if length > 1 << 24:
        raise ValueError("implausible GGUF string length")
    return fh.read(length).decode("utf-8", "replace")


def _value(fh: IO[bytes], kind: int, keep: bool) -> Any:
    if kind in _SCALARS:
        return _read(fh, _SCALARS[kind])
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        item, count = _read(fh, "I"), _read(fh, "Q")
        if item in _SCALARS and not keep:  # skip big arrays (token scores) without parsing
            fh.seek(count * struct.calcsize("<" + _SCALARS[item]), 1)
            return None
        values = [_value(fh, item, keep) for _ in range(count)]
        return values if keep else None
    raise ValueError(f"unknown GGUF value type {kind}")


def read_metadata(path: str, wanted: set[str] | None = None) -> dict[str, Any]:
    """The scalar metadata of the GGUF file at ``path`` (arrays are skipped); with ``wanted``,
    reading stops once those keys (``*`` matches any prefix) are all found."""
    found: dict[str, Any] = {}
    with open(path, "rb") as fh:
        if fh.read(4) != MAGIC:
            raise ValueError(f"not a GGUF file: {path}")
        version = _read(fh, "I")
        count_fmt = "I" if version == 1 else "Q"
        _read(fh, count_fmt)  # tensor count
        for _ in range(_read(fh, count_fmt)):
            key = _string(fh)
            found[key] = _value(fh, _read(fh, "I"), keep=False)
            arch = found.get("general.architecture")
            if wanted and arch and all(w.replace("*", arch) in found for w in wanted):
                break
    return {k: v for k, v in found.items() if v is not None}
