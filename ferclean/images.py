"""Reading images safely (one function that decodes a file and never raises on bad data), and
the content and perceptual hashes recorded for every image."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import imagehash
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


HASH_METHODS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "whash": imagehash.whash,
}


def visible_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that are not hidden, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


class UnreadableImage(Exception):
    """The file is empty, truncated, or not an image; the message says which."""


def read_image_bytes(path: str | Path) -> bytes:
    """The file's bytes, or UnreadableImage when it cannot be read or is empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    return data


@contextmanager
def decoding(problem: str = "corrupt or truncated image") -> Iterator[None]:
    """Turn whatever PIL raises on bad image data into UnreadableImage, ``problem`` first."""
    try:
        yield
    except UnidentifiedImageError as exc:
        raise UnreadableImage("not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"{problem} ({exc})") from exc


def open_gray(path: str | Path) -> Image.Image:
    """Decode ``path`` fully into an 8-bit greyscale image, or raise UnreadableImage."""
    data = read_image_bytes(path)
    with decoding(), Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("L")


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


def inspect_image(path: str | Path, hash_method: str = "phash") -> dict[str, object]:
    """Size, pixel hash and perceptual hashes of one file; ``error`` is set instead if unreadable.

    Runs in worker processes, so it takes and returns only plain picklable values.
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
        "error": "",
    }
