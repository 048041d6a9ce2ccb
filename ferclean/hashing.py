"""Perceptual and content hashes of one image, and conversions to packed 64-bit integers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import imagehash
import numpy as np
from PIL import Image

HASH_METHODS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "whash": imagehash.whash,
}


def pixel_sha256(gray: Image.Image) -> str:
    """SHA-256 of the decoded greyscale pixels and size: equal for re-saved or re-tagged copies."""
    digest = hashlib.sha256(f"{gray.width}x{gray.height}:".encode())
    digest.update(gray.tobytes())
    return digest.hexdigest()


def perceptual_hashes(gray: Image.Image, method: str = "phash") -> tuple[str, str]:
    """Hex hash of the image and of its horizontal mirror, so a flipped copy is found too."""
    fn = HASH_METHODS[method]
    mirrored = gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return str(fn(gray)), str(fn(mirrored))


def hex_to_uint64(hexes: Sequence[str]) -> np.ndarray:
    """Pack 16-digit hex hashes into a uint64 array (the form the search works on)."""
    return np.fromiter((int(h, 16) for h in hexes), dtype=np.uint64, count=len(hexes))
