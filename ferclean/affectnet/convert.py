"""Turn one AffectNet image into a face like the target's: crop, grey, resize, save, hash.

``convert_face`` runs in worker processes (``ferclean.parallel.parallel_map``), so it is a
module-level function on plain picklable values, and it never raises on a bad file: it
returns the reason instead, so a corrupt image costs one skipped face, not the run.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from ferclean.images import (
    UnreadableImage,
    check_size,
    decoding,
    open_image,
    perceptual_hashes,
    pixel_sha256,
    read_image_bytes,
    to_gray,
    too_small,
)
from ferclean.outputs import atomic_path

#: Extra room around a face box, per side, as a fraction of the box: FER crops keep brow and chin.
DEFAULT_MARGIN = 0.1


@dataclass(frozen=True)
class ConvertTask:
    """One face to convert: where from, where to, which part, and into what size."""

    source: str
    dest: str
    box: tuple[float, float, float, float] | None
    box_relative: bool
    size: tuple[int, int]
    margin: float = DEFAULT_MARGIN
    hash_method: str = "phash"


def crop_region(
    image_size: tuple[int, int],
    box: tuple[float, float, float, float] | None,
    box_relative: bool,
    out_size: tuple[int, int],
    margin: float = DEFAULT_MARGIN,
) -> tuple[float, float, float, float]:
    """The region to cut: the face box grown by ``margin``, widened to the output's aspect
    (so the face is not stretched) and moved or shrunk to lie inside the image.

    Without a box the whole image is used, centre-cropped to the output's aspect.
    """
    width, height = image_size
    aspect = out_size[0] / out_size[1]
    if box is None or any(math.isnan(v) for v in box):
        x0, y0, x1, y1 = 0.0, 0.0, float(width), float(height)
        grow = 0.0
    else:
        x0, y0, x1, y1 = box
        if box_relative:
            x0, x1, y0, y1 = x0 * width, x1 * width, y0 * height, y1 * height
        grow = margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = (x1 - x0) * (1 + 2 * grow), (y1 - y0) * (1 + 2 * grow)
    if w <= 0 or h <= 0:
        raise ValueError("empty face box")
    w, h = max(w, h * aspect), max(h, w / aspect)
    scale = min(1.0, width / w, height / h)
    w, h = w * scale, h * scale
    cx = min(max(cx, w / 2), width - w / 2)
    cy = min(max(cy, h / 2), height - h / 2)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


class TooSmall(UnreadableImage):
    """The face (or its crop region) has fewer pixels than a face needs."""


def _decode(data: bytes, box: tuple[float, float, float, float] | None, task: ConvertTask) -> tuple[Image.Image, tuple]:
    """Decode, letting JPEG skip detail the output cannot show (DCT scaling), and return the
    image with the crop region in its (possibly reduced) coordinates."""
    image = open_image(io.BytesIO(data))
    check_size(image)
    full = image.size
    region = crop_region(full, box, task.box_relative, task.size, task.margin)
    small = too_small(round(region[2] - region[0]), round(region[3] - region[1]))
    if small:
        raise TooSmall(small)
    if image.format == "JPEG":
        # Keep at least twice the output resolution inside the crop, for a clean LANCZOS pass.
        factor = min(1.0, 2 * task.size[0] / (region[2] - region[0]), 2 * task.size[1] / (region[3] - region[1]))
        image.draft("L", (math.ceil(full[0] * factor), math.ceil(full[1] * factor)))
        ratio = image.size[0] / full[0], image.size[1] / full[1]
        region = (region[0] * ratio[0], region[1] * ratio[1], region[2] * ratio[0], region[3] * ratio[1])
    image.load()
    return image, region


def convert_face(task: ConvertTask) -> dict[str, object]:
    """Write ``task.dest`` (grey PNG of ``task.size``) and return its size and hashes, or ``error``."""
    try:
        data = read_image_bytes(task.source)
        with decoding("corrupt image or bad face box"):
            image, region = _decode(data, task.box, task)
            face = to_gray(image).resize(task.size, Image.Resampling.LANCZOS, box=region, reducing_gap=2.0)
    except UnreadableImage as exc:
        return {"dest": task.dest, "error": str(exc)}
    with atomic_path(task.dest) as temp:
        face.save(temp, format="PNG")
    phash, phash_flip = perceptual_hashes(face, task.hash_method)
    return {
        "dest": task.dest,
        "width": face.width,
        "height": face.height,
        "sha256": pixel_sha256(face),
        "phash": phash,
        "phash_flip": phash_flip,
        "error": "",
    }
