"""Reading images safely: one function that decodes a file and never raises on bad data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ferclean.hashing import perceptual_hashes, pixel_sha256
from ferclean.quality import quality_reasons, quality_signals

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


class UnreadableImage(Exception):
    """The file is empty, truncated, or not an image; the message says which."""


def open_gray(path: str | Path) -> Image.Image:
    """Decode ``path`` fully into an 8-bit greyscale image, or raise UnreadableImage."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert("L")
    except UnidentifiedImageError as exc:
        raise UnreadableImage("not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(f"corrupt or truncated image ({exc})") from exc


def inspect_image(path: str | Path, hash_method: str = "phash", quality: bool = False) -> dict[str, object]:
    """Size, pixel hash and perceptual hashes of one file; ``error`` is set instead if unreadable.

    With ``quality``, ``quality`` holds the comma-separated reasons the image is not a usable
    face (empty when it is), checked on the pixels already decoded here. Runs in worker
    processes, so it takes and returns only plain picklable values.
    """
    try:
        gray = open_gray(path)
    except UnreadableImage as exc:
        return {"error": str(exc)}
    phash, phash_flip = perceptual_hashes(gray, hash_method)
    return {
        "width": gray.width,
        "height": gray.height,
        "sha256": pixel_sha256(gray),
        "phash": phash,
        "phash_flip": phash_flip,
        "quality": ", ".join(quality_reasons(quality_signals(np.asarray(gray)))) if quality else "",
        "error": "",
    }
