"""Perceptual and content hashes of one image, conversions to packed 64-bit integers, and
the small keyed hashes that make choices reproducible and names collision-free."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

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


def seeded_rank(keys: Iterable[object], seed: int) -> np.ndarray:
    """A reproducible pseudo-random uint64 per key, from the seed and the key alone.

    Sorting by it shuffles without looking at where keys sit in the input, so results do
    not depend on file listing order.
    """
    prefix = f"{seed}\x00".encode()
    return np.array(
        [int.from_bytes(hashlib.blake2b(prefix + str(k).encode(), digest_size=8).digest(), "big") for k in keys],
        dtype=np.uint64,
    )


def short_hash(text: str) -> str:
    """Eight hex digits of SHA-1: a file-name suffix that tells apart sources sharing a name."""
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def hex_to_uint64(hexes: Sequence[str]) -> np.ndarray:
    """Pack 16-digit hex hashes into a uint64 array (the form the search works on)."""
    return np.fromiter((int(h, 16) for h in hexes), dtype=np.uint64, count=len(hexes))
