"""Reading images safely (one function that decodes a file and never raises on bad data), and
the content and perceptual hashes recorded for every image.

Every command sees the same 8-bit grey pixels for a file, whatever its storage:
16-bit and 32-bit integer images are scaled to 0..255 (not clipped), palette images are
expanded, an alpha channel is composited on white (a transparent face background reads
as white paper, as it is shown), CMYK goes through RGB, and a JPEG's EXIF orientation is
applied. Files over MAX_PIXELS are refused from their header, before any pixel is
decoded, so a decompression bomb costs no memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ferclean.quality import image_notes

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

#: Largest image (width x height) ferclean decodes: 40 megapixels, far above any face photo
#: (AffectNet's largest are ~12 MP) and far below what exhausts memory (8 bits x 40M = 40 MB).
MAX_PIXELS = 40_000_000

#: Smallest side, in pixels, of an image that can show a face; smaller ones go to review.
MIN_SIDE = 16

# Pillow's own bomb check (an error above twice the limit) uses the same figure; its warning
# between once and twice is replaced by check_size's refusal (see open_image).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
#: ``Image.info`` keys Pillow reads an orientation from (besides a TIFF's own tags).
_ORIENTATION_SOURCES = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")

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
    """The file is empty, truncated, too large, or not an image; the message says which."""


def read_ahead(paths: Sequence[str | Path]) -> None:
    """Ask the OS to start reading ``paths`` now, all at once, so that the decoding that follows
    finds them in the page cache: one file at a time leaves the CPU waiting on each read
    (a million images not yet cached decoded at 2,500 files/s on 2 cores, 4,000 read ahead).
    Files that cannot be opened are left for the decoding to report; where the OS has no
    ``posix_fadvise`` (macOS, Windows) nothing is done."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def read_image_bytes(path: str | Path) -> bytes:
    """The file's bytes, or UnreadableImage when it cannot be read or is empty."""
    try:
        with open(path, "rb") as file:  # not Path(path).read_bytes(): a third less per small image
            data = file.read()
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
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(f"image too large, a possible decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        raise UnreadableImage(f"{problem} ({exc})") from exc


def check_size(image: Image.Image) -> None:
    """Refuse an image whose header announces more than MAX_PIXELS (read before decoding)."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UnreadableImage(
            f"image too large ({width}x{height} = {width * height:,} pixels, limit {MAX_PIXELS:,});"
            " a possible decompression bomb"
        )


def open_image(source: str | Path | io.BytesIO) -> Image.Image:
    """Image.open without Pillow's bomb warning: check_size refuses those images in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source)


def to_gray(image: Image.Image) -> Image.Image:
    """An 8-bit greyscale copy of a loaded image, scaled and composited as the module says."""
    if image.mode in _HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        # 16-bit data (PNG, TIFF) spans 0..65535; 257 maps 0xFFFF to 0xFF and v*257 back to v exactly.
        return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "L":
        return image
    return image.convert("RGB").convert("L")


def open_gray(path: str | Path, least_side: int | None = None) -> Image.Image:
    """Decode ``path`` into an upright 8-bit greyscale image, or raise UnreadableImage.

    With ``least_side``, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale and straight to grey
    (libjpeg's DCT scaling, several times faster) as long as both sides keep at least that
    many pixels: for callers that shrink every image to a small side anyway. Other formats,
    and every caller that reads exact pixels (hashes, digests), decode in full."""
    data = read_image_bytes(path)
    with decoding():
        image = open_image(io.BytesIO(data))  # in memory: nothing to close, and closing would free the pixels
        check_size(image)
        if least_side and image.format == "JPEG":
            image.draft("L", (least_side, least_side))
        image.load()
        if may_be_rotated(image):
            image = ImageOps.exif_transpose(image) or image
        return to_gray(image)


def may_be_rotated(image: Image.Image) -> bool:
    """Whether ``image`` carries anything Pillow reads an orientation from (EXIF, a PNG's raw EXIF
    text, XMP, TIFF tags; ``Image.getexif``). Most images carry none, and asking Pillow costs
    a quarter of decoding a small PNG."""
    return hasattr(image, "tag_v2") or any(key in image.info for key in _ORIENTATION_SOURCES)


def header_problem(path: str | Path) -> str:
    """Why ``path`` must not be decoded, read from its header only (empty when it may be)."""
    try:
        with decoding("not a readable image"), open_image(path) as image:
            check_size(image)
    except UnreadableImage as exc:
        return str(exc)
    return ""


def too_small(width: int, height: int) -> str:
    """The review reason for an image too small to show a face (empty when it is big enough)."""
    if min(width, height) < MIN_SIDE:
        return f"too small: {width}x{height} pixels (a face needs at least {MIN_SIDE} per side)"
    return ""


def area_weights(side: int, size: int, start: float = 0.0, span: float | None = None) -> np.ndarray:
    """(size, side) float32 area-averaging matrix: output pixel i is the mean of the input
    pixels under its share of ``[start, start + span)`` (default the whole side), each weighted by
    how much of it lies there. ``weights @ x`` resamples along x's first axis."""
    span = side if span is None else span
    cuts = start + span * np.arange(size + 1) / size
    lo, hi = cuts[:-1, None], cuts[1:, None]
    pixels = np.arange(side)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def pixel_sha256(gray: Image.Image | np.ndarray) -> str:
    """SHA-256 of the decoded greyscale pixels and size: equal for re-saved or re-tagged copies.

    Takes the 8-bit grey image or its (height, width) pixel array (the same digest)."""
    values = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = values.shape
    digest = hashlib.sha256(f"{width}x{height}:".encode())
    digest.update(values.data)
    return digest.hexdigest()


def perceptual_hashes(gray: Image.Image, method: str = "phash") -> tuple[str, str]:
    """Hex hash of the image and of its horizontal mirror, so a flipped copy is found too."""
    fn = HASH_METHODS[method]
    mirrored = gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return str(fn(gray)), str(fn(mirrored))


def inspect_image(path: str | Path, hash_method: str = "phash", quality: bool = False) -> dict[str, object]:
    """Size, pixel hash and perceptual hashes of one file; ``error`` is set instead if unreadable,
    and ``review`` says why a readable image needs a person's look (too small).

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
        "quality": image_notes([np.asarray(gray)])[0] if quality else "",
        "error": "",
        "review": too_small(gray.width, gray.height),
    }
