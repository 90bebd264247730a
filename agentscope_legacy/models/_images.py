"""A reply's images saved in the run's ``images`` directory (``save_local=True``), for every
image wrapper: data URLs decoded, http(s) URLs downloaded, except in a replay."""

from __future__ import annotations

import base64
import mimetypes
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from loguru import logger

from .._secrets import redact_urls


def save_images(urls: list[str], download: Callable[[str], bytes], replayed: bool) -> list[str]:
    """The local path of each image (its URL where it cannot be saved offline).

    A replay calls nothing on the network, so an http(s) image of a replayed reply (a
    provider's link, often expired) keeps its URL, with a warning; data URLs, which carry the
    image, are saved in a replay too."""
    from .._runtime import get_runtime

    saved = []
    for url in urls:
        if url.startswith("data:"):
            head, _, data = url.partition(",")
            content = base64.b64decode(data)
            suffix = mimetypes.guess_extension(head[5:].split(";", 1)[0]) or ".png"
        elif replayed:
            logger.warning("replay: the image {} is not downloaded (a replay makes no network "
                           "calls); its URL is kept", redact_urls(url)[:200])
            saved.append(url)
            continue
        else:
            content = download(url)
            suffix = Path(urlparse(url).path).suffix or ".png"
        path = get_runtime().file_dir("images") / f"image_{uuid.uuid4().hex[:12]}{suffix}"
        path.write_bytes(content)
        saved.append(str(path))
    return saved
