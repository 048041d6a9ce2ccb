"""A PNG grid of captioned thumbnails, for eyeballing duplicates, suspects and additions."""

from __future__ import annotations

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


def caption_lines(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, text: str, width: float, lines: int) -> list[str]:
    """``text`` wrapped at spaces into at most ``lines`` lines of at most ``width`` pixels.

    Words are never split across lines: one too long for a line alone, or the text left
    over after the last line, is cut short with an ellipsis instead.
    """
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and draw.textlength(f"{line} {words[0]}", font=font) <= width:
            line += " " + words.pop(0)
        if draw.textlength(line, font=font) > width or (words and len(out) == lines - 1):
            line = _elide(draw, font, line, width)
        out.append(line)
    return out


def _elide(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, line: str, width: float) -> str:
    while line and draw.textlength(line + "…", font=font) > width:
        line = line[:-1]
    return line.rstrip() + "…"


def contact_sheet(rows: list[list[Cell] | str], out_path: str | Path, thumb: int = 96, title: str = "") -> Path:
    """Draw one row of captioned thumbnails per list in ``rows`` (a string is a heading line
    over the rows that follow it) and save it as a PNG.

    Captions are wrapped at spaces into at most two lines the width of a thumbnail
    (:func:`caption_lines`: words are never split); unreadable images show as a red square
    rather than failing the whole sheet.
    """
    out_path = Path(out_path)
    columns = max((len(r) for r in rows if not isinstance(r, str)), default=1)
    cell_w, cell_h = thumb + _PAD, thumb + _CAPTION_LINES * _LINE_HEIGHT + _PAD
    top = 2 * _LINE_HEIGHT if title else 0
    heights = [2 * _LINE_HEIGHT if isinstance(r, str) else cell_h for r in rows]
    sheet = Image.new("RGB", (max(columns * cell_w + _PAD, 200), top + max(sum(heights), cell_h) + _PAD), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if title:
        draw.text((_PAD, 4), title, fill="black", font=font)
    y = top + _PAD
    for row, height in zip(rows, heights):
        if isinstance(row, str):
            draw.text((_PAD, y + _LINE_HEIGHT // 2), caption_lines(draw, font, row, sheet.width - 2 * _PAD, 1)[0], fill="black", font=font)
        for c, (source, caption) in enumerate([] if isinstance(row, str) else row):
            x = _PAD + c * cell_w
            sheet.paste(_thumbnail(source, thumb), (x, y))
            for k, line in enumerate(caption_lines(draw, font, caption, thumb, _CAPTION_LINES)):
                draw.text((x, y + thumb + k * _LINE_HEIGHT), line, fill="black", font=font)
        y += height
    with atomic_path(out_path) as temp:
        # zlib's fastest level: a sheet is looked at, not archived (dedupe's FER2013 sheet: 10 % larger, 0.1 s less).
        sheet.save(temp, format="PNG", compress_level=1)
    return out_path
