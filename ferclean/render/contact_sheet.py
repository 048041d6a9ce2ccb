"""A PNG grid of captioned thumbnails, for eyeballing duplicates, suspects and additions."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ferclean.images import UnreadableImage, open_gray
from ferclean.outputs import atomic_path

Cell = tuple["Path | Image.Image", str]

_CAPTION_LINES = 2
_LINE_HEIGHT = 12
_PAD = 6


def _thumbnail(source: Path | Image.Image, size: int) -> Image.Image:
    try:
        image = source if isinstance(source, Image.Image) else open_gray(source)
    except UnreadableImage:
        return Image.new("RGB", (size, size), (200, 40, 40))
    return image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def contact_sheet(rows: list[list[Cell]], out_path: str | Path, thumb: int = 96, title: str = "") -> Path:
    """Draw one row of captioned thumbnails per list in ``rows`` and save it as a PNG.

    Captions are wrapped at spaces into at most two short lines under each image; unreadable images
    show as a red square rather than failing the whole sheet.
    """
    out_path = Path(out_path)
    columns = max((len(r) for r in rows), default=1)
    cell_w, cell_h = thumb + _PAD, thumb + _CAPTION_LINES * _LINE_HEIGHT + _PAD
    top = 2 * _LINE_HEIGHT if title else 0
    sheet = Image.new("RGB", (max(columns * cell_w + _PAD, 200), top + max(len(rows), 1) * cell_h + _PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((_PAD, 4), title, fill="black", font=font)
    chars = max(8, thumb // 6)
    for r, row in enumerate(rows):
        for c, (source, caption) in enumerate(row):
            x, y = _PAD + c * cell_w, top + _PAD + r * cell_h
            sheet.paste(_thumbnail(source, thumb), (x, y))
            lines = textwrap.wrap(caption, chars, break_long_words=False)[:_CAPTION_LINES]
            for k, line in enumerate(lines):
                draw.text((x, y + thumb + k * _LINE_HEIGHT), line, fill="black", font=font)
    with atomic_path(out_path) as temp:
        # zlib's fastest level: a sheet is looked at, not archived (dedupe's FER2013 sheet: 10 % larger, 0.1 s less).
        sheet.save(temp, format="PNG", compress_level=1)
    return out_path
