"""Realistic non-face images, as web-scraped expression datasets hold them, rendered at 48x48.

Two families that share nothing but the capture step (:func:`capture`: a random crop, a
resize, JPEG, blur and sensor noise, as a scraper's pipeline does to any picture):

- :func:`training_negatives` (``bench/build_face_classifier.py`` trains the not-a-face
  classifier on them): random compositions of generic primitives (ellipses, polygons,
  rounded rectangles, lines, glyphs), random pseudo-word lettering, random stripe, ring and
  blob patterns, smooth random shading fields, and crops of the TRAIN_PICTURES; fonts
  TRAIN_FONTS only; seeds from 1000.
- :func:`bench_junk` (``bench/quality_bench.py`` scores them; nothing is fitted or chosen
  on them): hand-designed classes the issue names (speech bubbles with dots, "no image"
  signs, pictograms on rounded tiles, banner lettering of real words, road and no-entry
  signs, abstract high-contrast graphics, shaded objects and body parts, crops of the
  BENCH_PICTURES); fonts BENCH_FONTS only (other families); seeds from 9000.

So the bench measures how the classifier generalises to designs, fonts, words and pictures
it never saw, not what it memorised.
"""

from __future__ import annotations

import io
import string
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 48
_MPL_FONTS = ("matplotlib", "mpl-data", "fonts", "ttf")
#: Font families the classifier is trained on (matplotlib's sans, mono, STIX and two Computer Modern faces).
TRAIN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf",
               "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "cmss10.ttf", "cmtt10.ttf")
#: Font families the bench's junk is lettered in (serif families and Pillow's own font): none in TRAIN_FONTS.
BENCH_FONTS = ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "cmr10.ttf", "cmb10.ttf", "pillow")
#: scikit-image and scikit-learn pictures the training negatives are cropped from.
TRAIN_PICTURES = ("brick", "grass", "gravel", "page", "text", "clock", "moon", "horse", "coins", "hubble_deep_field",
                  "immunohistochemistry", "cell", "retina", "logo", "china.jpg")
#: Pictures the bench's object photos are cropped from (none in TRAIN_PICTURES; the astronaut below her face).
BENCH_PICTURES = ("coffee", "chelsea", "rocket", "colorwheel", "astronaut", "stereo_motorcycle", "flower.jpg")
#: Banner words of the bench (the training lettering is random pseudo-words).
BENCH_WORDS = ("SALE", "NO IMAGE", "Welcome", "404", "FREE", "Click here", "NEWS", "LOGO", "Download", "SUMMER",
               "Subscribe", "HD", "Best price", "OPEN", "VIDEO", "Like", "Share", "Error", "photo removed", "Contact")


@lru_cache(maxsize=64)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A TrueType font from matplotlib's bundled fonts (``pillow``: Pillow's own default font)."""
    if name == "pillow":
        return ImageFont.load_default(size=size)
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.__file__).parent.joinpath(*_MPL_FONTS[1:], name)), size)


@lru_cache(maxsize=32)
def picture(name: str) -> np.ndarray:
    """A scikit-image (``data.<name>``) or scikit-learn (``<name>.jpg``) sample picture, 8-bit grey."""
    if name.endswith(".jpg"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(name)
    else:
        from skimage import data

        array = getattr(data, name)()
        array = array[0] if isinstance(array, tuple) else array
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        array = ((array - array.min()) / max(np.ptp(array), 1e-9) * 255).astype(np.uint8)
    grey = np.asarray(Image.fromarray(array).convert("L"))
    return grey[250:] if name == "astronaut" else grey


def capture(image: Image.Image, rng: np.random.Generator, zoom: float = 0.85) -> np.ndarray:
    """What a scraper does to a picture: crop (keeping at least ``zoom`` of each side), grey,
    resize to 48x48 with a random filter, then maybe JPEG (quality 30-95), blur and noise."""
    image = image.convert("L")
    w, h = image.size
    keep = rng.uniform(zoom, 1.0)
    cw, ch = max(8, int(w * keep)), max(8, int(h * keep))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.3:
        image = _jpeg(image, rng)
    resample = (Image.Resampling.BOX, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)
    image = image.resize((SIDE, SIDE), resample[int(rng.integers(len(resample)))])
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.6:
        image = _jpeg(image, rng)
    array = np.asarray(image, dtype=np.float64)
    if rng.random() < 0.3:
        array = array + rng.normal(0, rng.uniform(1, 4), array.shape)
    return np.clip(array, 0, 255).astype(np.uint8)


def _jpeg(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(30, 96)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def _background(rng: np.random.Generator, size: tuple[int, int], level: float | None = None) -> Image.Image:
    """A flat grey, or a linear gradient between two greys, of ``size``."""
    w, h = size
    a = float(rng.uniform(0, 255)) if level is None else level
    if rng.random() < 0.6:
        return Image.new("L", size, int(a))
    b = np.clip(a + rng.normal(0, 50), 0, 255)
    t = np.linspace(0, 1, w)[None, :] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None]
    return Image.fromarray(np.broadcast_to(a + (b - a) * t, (h, w)).astype(np.uint8))


def _ink(rng: np.random.Generator, paper: int) -> int:
    """A grey far enough from ``paper`` to read."""
    ink = int(rng.uniform(0, 255))
    return ink if abs(ink - paper) > 60 else (paper + 128) % 256


def _text_in_box(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], text: str,
                 face: str, ink: int, **kwargs: object) -> None:
    """``text`` in font ``face``, as large as fits ``box``, centred there."""
    x0, y0, x1, y1 = box
    size = max(6, int(y1 - y0))
    stroke = int(kwargs.get("stroke_width", 0))
    for _ in range(12):
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font(face, size), stroke_width=stroke)
        if right - left <= x1 - x0 and bottom - top <= y1 - y0:
            break
        size = max(6, int(size * 0.85))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font(face, size), stroke_width=stroke)
    origin = ((x0 + x1 - (right - left)) / 2 - left, (y0 + y1 - (bottom - top)) / 2 - top)
    draw.text(origin, text, fill=ink, font=font(face, size), **kwargs)


# --- training negatives: generic, random compositions ---------------------------------------


def _random_primitive(draw: ImageDraw.ImageDraw, rng: np.random.Generator, side: int, ink: int) -> None:
    cx, cy = rng.uniform(0.15, 0.85, 2) * side
    rx, ry = np.maximum(rng.uniform(0.08, 0.45, 2) * side, 4)
    box = (int(cx - rx), int(cy - ry), int(cx + rx), int(cy + ry))
    width = int(rng.integers(1, max(2, side // 12)))
    fill = ink if rng.random() < 0.6 else None
    kind = int(rng.integers(7))
    if kind == 0:
        draw.ellipse(box, fill=fill, outline=ink, width=width)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=int(rng.uniform(0, min(rx, ry) - 2)), fill=fill, outline=ink, width=width)
    elif kind == 2:
        sides = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, sides))
        draw.polygon([(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles], fill=fill, outline=ink, width=width)
    elif kind == 3:
        draw.line([tuple(p) for p in rng.uniform(0, side, (int(rng.integers(2, 5)), 2))], fill=ink, width=width + 1)
    elif kind == 4:
        start = float(rng.uniform(0, 360))
        draw.pieslice(box, start, start + float(rng.uniform(30, 300)), fill=fill, outline=ink, width=width)
    elif kind == 5:
        draw.arc(box, float(rng.uniform(0, 360)), float(rng.uniform(0, 360)), fill=ink, width=width + 1)
    else:
        glyph = str(rng.choice(list(string.ascii_letters + string.digits + "!?@#&%$+*")))
        _text_in_box(draw, box, glyph, str(rng.choice(TRAIN_FONTS)), ink)


def random_icon(rng: np.random.Generator) -> Image.Image:
    """Random primitives (some glyphs) in flat greys on a flat or shaded ground, maybe on a
    rounded tile; maybe mirrored about the middle or repeated in a row, as icon designs are."""
    side = int(rng.integers(64, 193))
    image = _background(rng, (side, side))
    draw = ImageDraw.Draw(image)
    paper = image.getpixel((side // 2, 0))
    if rng.random() < 0.4:
        margin, paper = int(side * rng.uniform(0, 0.15)), _ink(rng, paper)
        draw.rounded_rectangle((margin, margin, side - margin, side - margin), radius=int(side * rng.uniform(0.05, 0.3)), fill=paper)
    for _ in range(int(rng.integers(1, 5))):
        _random_primitive(draw, rng, side, _ink(rng, paper))
    if rng.random() < 0.4:  # a row of repeated marks: dots, bars, glyphs
        count, r = int(rng.integers(2, 5)), side * rng.uniform(0.03, 0.09)
        y, ink, kind = side * rng.uniform(0.25, 0.75), _ink(rng, paper), int(rng.integers(3))
        for x in np.linspace(side * 0.25, side * 0.75, count):
            if kind == 0:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
            elif kind == 1:
                draw.rectangle((x - r, y - 2 * r, x + r, y + 2 * r), fill=ink)
            else:
                _text_in_box(draw, (x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), str(rng.choice(list(string.digits))), str(rng.choice(TRAIN_FONTS)), ink)
    if rng.random() < 0.3:  # a short centred glyph string
        text = "".join(rng.choice(list(string.ascii_uppercase + string.digits), int(rng.integers(1, 5))))
        _text_in_box(draw, (side * 0.25, side * 0.35, side * 0.75, side * 0.65), text, str(rng.choice(TRAIN_FONTS)), _ink(rng, paper))
    if rng.random() < 0.3:  # a badge: a regular shape with a contrasting rim, a glyph string or bar inside
        sides, r, rim = int(rng.integers(3, 13)), side * rng.uniform(0.3, 0.48), _ink(rng, paper)
        turn = rng.uniform(0, 2 * np.pi)
        points = [(side / 2 + r * np.cos(turn + a), side / 2 + r * np.sin(turn + a)) for a in np.arange(sides) * 2 * np.pi / sides]
        draw.polygon(points, fill=rim)
        inner, inside = [(side / 2 + 0.75 * (x - side / 2), side / 2 + 0.75 * (y - side / 2)) for x, y in points], _ink(rng, rim)
        draw.polygon(inner, fill=inside)
        text = "".join(rng.choice(list(string.ascii_uppercase + string.digits), int(rng.integers(1, 5))))
        _text_in_box(draw, (side * 0.3, side * 0.38, side * 0.7, side * 0.62), text if rng.random() < 0.7 else "-", str(rng.choice(TRAIN_FONTS)), _ink(rng, inside))
    if rng.random() < 0.35:
        left = image.crop((0, 0, side // 2, side))
        image.paste(left.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (side - side // 2, 0))
    return image


def random_lettering(rng: np.random.Generator) -> Image.Image:
    """One to three lines of random pseudo-words in a training font, large, maybe cropped by capture."""
    letters = string.ascii_letters + string.digits
    lines = ["".join(rng.choice(list(letters), int(rng.integers(1, 8)))) for _ in range(int(rng.integers(1, 4)))]
    w = int(rng.integers(64, 240))
    image = _background(rng, (w, int(rng.integers(48, 160))))
    draw = ImageDraw.Draw(image)
    paper = image.getpixel((0, 0))
    ink, face = _ink(rng, paper), str(rng.choice(TRAIN_FONTS))
    height = image.size[1] / len(lines)
    stroke = {"stroke_width": int(rng.integers(1, 4)), "stroke_fill": _ink(rng, ink)} if rng.random() < 0.2 else {}
    for k, line in enumerate(lines):
        _text_in_box(draw, (2, k * height + 1, w - 2, (k + 1) * height - 1), line, face, ink, **stroke)
    return image


def random_pattern(rng: np.random.Generator) -> Image.Image:
    """High-contrast patterns: stripes at an angle, rings, a checkerboard, or thresholded smooth noise."""
    side = 96
    y, x = np.mgrid[0:side, 0:side] / side
    kind = int(rng.integers(6))
    if kind == 4:  # random blocks at a random resolution
        cells = int(rng.integers(4, 30))
        blocks = rng.random((cells, cells)) < rng.uniform(0.2, 0.8)
        return Image.fromarray((blocks * 255).astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    if kind == 5:  # a lattice of dots whose size drifts across the frame
        period = rng.uniform(0.04, 0.2)
        angle = rng.uniform(0, np.pi)
        u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
        wave = period * rng.uniform(0.1, 0.5) * (0.3 + u) - np.hypot(u % period - period / 2, v % period - period / 2)
    elif kind == 0:
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
        wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    elif kind == 1:
        cx, cy = rng.uniform(0, 1, 2)
        wave = np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / rng.uniform(0.05, 0.3))
    elif kind == 2:
        period = rng.uniform(0.08, 0.5)
        wave = np.sign(np.sin(np.pi * x / period)) * np.sign(np.sin(np.pi * y / period))
    else:
        wave = _smooth_field(rng, side, int(rng.integers(3, 9))) - 0.5
    a, b = sorted(rng.uniform(0, 255, 2))
    high = np.where(wave > 0, b, a) if rng.random() < 0.7 else a + (b - a) * (wave - wave.min()) / max(np.ptp(wave), 1e-9)
    return Image.fromarray(high.astype(np.uint8))


def _smooth_field(rng: np.random.Generator, side: int, grid: int) -> np.ndarray:
    """A smooth random field in 0..1: a ``grid`` x ``grid`` random image upscaled bicubically."""
    coarse = rng.uniform(0, 255, (grid, grid)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float64) / 255


def random_shading(rng: np.random.Generator) -> Image.Image:
    """Smooth shaded surfaces: a random field, or a shaded blob on one, blurred like an out-of-focus photo."""
    side = 96
    field = _smooth_field(rng, side, int(rng.integers(2, 6)))
    lo, hi = sorted(rng.uniform(0, 255, 2))
    image = Image.fromarray((lo + (hi - lo) * field).astype(np.uint8))
    if rng.random() < 0.6:
        mask = Image.new("L", (side, side), 0)
        _random_primitive(ImageDraw.Draw(mask), rng, side, 255)
        shade = _smooth_field(rng, side, 2)
        lo, hi = sorted(rng.uniform(0, 255, 2))
        image.paste(Image.fromarray((lo + (hi - lo) * shade).astype(np.uint8)), (0, 0), mask)
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 3))))


def picture_crop(rng: np.random.Generator, names: tuple[str, ...], turn: bool = False) -> Image.Image:
    """A random square crop (48 px to the picture's shorter side) of one of ``names``; with
    ``turn``, mirrored and turned by a random quarter (more variety from few pictures)."""
    array = picture(str(rng.choice(names)))
    h, w = array.shape
    side = int(rng.integers(48, min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = array[y : y + side, x : x + side]
    if turn:
        crop = np.rot90(crop[:, ::-1] if rng.random() < 0.5 else crop, int(rng.integers(4)))
    return Image.fromarray(np.ascontiguousarray(crop))


TRAIN_KINDS: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "icon": random_icon,
    "lettering": random_lettering,
    "pattern": random_pattern,
    "shading": random_shading,
    "picture": lambda rng: picture_crop(rng, TRAIN_PICTURES, turn=True),
}


def training_negatives(count: int, seed: int = 1000) -> np.ndarray:
    """(count, 48, 48) uint8 training non-faces, the kinds in equal shares, through :func:`capture`."""
    rng = np.random.default_rng(seed)
    kinds = list(TRAIN_KINDS.values())
    return np.stack([capture(kinds[k % len(kinds)](rng), rng) for k in range(count)])


# --- bench junk: designed classes, other fonts, words and pictures ------------------------


def _tile(rng: np.random.Generator, side: int) -> tuple[Image.Image, ImageDraw.ImageDraw, int, int]:
    """A canvas, maybe with a rounded-square app tile on it; returns it, its draw, paper and ink."""
    image = _background(rng, (side, side))
    draw = ImageDraw.Draw(image)
    paper = image.getpixel((side // 2, side // 2))
    if rng.random() < 0.5:
        tile = _ink(rng, paper)
        margin = side * rng.uniform(0, 0.12)
        draw.rounded_rectangle((margin, margin, side - margin, side - margin), radius=side * rng.uniform(0.1, 0.3), fill=tile)
        paper = tile
    return image, draw, paper, _ink(rng, paper)


def speech_bubble(rng: np.random.Generator) -> Image.Image:
    """A chat bubble (rounded or oval, with a tail) holding three dots or text lines."""
    side = 128
    image, draw, paper, ink = _tile(rng, side)
    x0, y0 = side * rng.uniform(0.08, 0.2), side * rng.uniform(0.12, 0.28)
    x1, y1 = side - side * rng.uniform(0.08, 0.2), side * rng.uniform(0.6, 0.75)
    outline = rng.random() < 0.35
    fill, mark = (None, ink) if outline else (ink, paper)
    if rng.random() < 0.5:
        draw.rounded_rectangle((x0, y0, x1, y1), radius=side * 0.12, fill=fill, outline=ink, width=6)
    else:
        draw.ellipse((x0, y0, x1, y1), fill=fill, outline=ink, width=6)
    tail_x = x0 + (x1 - x0) * rng.uniform(0.15, 0.7)
    draw.polygon([(tail_x, y1 - 8), (tail_x + 22, y1 - 8), (tail_x - rng.uniform(0, 20), y1 + 28)], fill=ink)
    cy, r = (y0 + y1) / 2, side * rng.uniform(0.045, 0.075)
    if rng.random() < 0.7:
        for k in (-1, 0, 1):
            cx = (x0 + x1) / 2 + k * side * 0.2
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=mark)
    else:
        for k in (-1, 0, 1):
            draw.line([(x0 + 20, cy + k * 14), (x1 - 20 - (k == 1) * 25, cy + k * 14)], fill=mark, width=6)
    return image


def no_image_sign(rng: np.random.Generator) -> Image.Image:
    """The "no image" placeholder: a picture frame with mountains and a sun, crossed out or captioned."""
    side = 128
    image, draw, paper, ink = _tile(rng, side)
    x0, y0, x1, y1 = 22, 20, side - 22, side - (44 if rng.random() < 0.5 else 24)
    draw.rounded_rectangle((x0, y0, x1, y1), radius=8, outline=ink, width=5)
    draw.polygon([(x0 + 6, y1 - 5), (x0 + 35, y0 + 30), (x0 + 60, y1 - 5)], fill=ink)
    draw.polygon([(x0 + 40, y1 - 5), (x0 + 62, y0 + 42), (x1 - 6, y1 - 5)], fill=ink)
    draw.ellipse((x1 - 30, y0 + 10, x1 - 14, y0 + 26), fill=ink)
    if y1 < side - 30:
        _text_in_box(draw, (8, y1 + 6, side - 8, side - 6), str(rng.choice(["NO IMAGE", "No photo", "IMAGE NOT FOUND", "no preview"])),
                     str(rng.choice(BENCH_FONTS)), ink)
    if rng.random() < 0.6:
        draw.line([(12, side - 12), (side - 12, 12)], fill=ink if rng.random() < 0.5 else paper, width=8)
    return image


def pictogram(rng: np.random.Generator) -> Image.Image:
    """A pictogram on a rounded-rectangle tile: person, envelope, house, camera, cart, lock or bell."""
    side = 128
    image, draw, paper, ink = _tile(rng, side)
    kind = int(rng.integers(7))
    if kind == 0:  # person silhouette
        draw.ellipse((46, 18, 82, 54), fill=ink)
        draw.chord((22, 60, 106, 150), 180, 360, fill=ink)
    elif kind == 1:  # envelope
        draw.rectangle((20, 36, 108, 96), outline=ink, width=6)
        draw.line([(20, 36), (64, 72), (108, 36)], fill=ink, width=6)
    elif kind == 2:  # house
        draw.polygon([(64, 18), (112, 60), (16, 60)], fill=ink)
        draw.rectangle((30, 60, 98, 108), fill=ink)
        draw.rectangle((56, 78, 72, 108), fill=paper)
    elif kind == 3:  # camera
        draw.rounded_rectangle((16, 40, 112, 104), radius=10, fill=ink)
        draw.rectangle((44, 28, 84, 42), fill=ink)
        draw.ellipse((44, 52, 84, 92), fill=paper)
        draw.ellipse((54, 62, 74, 82), fill=ink)
    elif kind == 4:  # cart
        draw.line([(14, 30), (30, 30), (42, 84), (100, 84), (108, 44), (36, 44)], fill=ink, width=7)
        draw.ellipse((40, 92, 56, 108), fill=ink)
        draw.ellipse((86, 92, 102, 108), fill=ink)
    elif kind == 5:  # padlock
        draw.arc((40, 14, 88, 70), 180, 360, fill=ink, width=9)
        draw.line([(44, 42), (44, 60)], fill=ink, width=9)
        draw.line([(84, 42), (84, 60)], fill=ink, width=9)
        draw.rounded_rectangle((30, 56, 98, 112), radius=8, fill=ink)
        draw.ellipse((58, 74, 70, 86), fill=paper)
    else:  # bell
        draw.chord((28, 20, 100, 110), 180, 360, fill=ink)
        draw.rectangle((28, 64, 100, 90), fill=ink)
        draw.rectangle((18, 88, 110, 96), fill=ink)
        draw.ellipse((56, 96, 72, 112), fill=ink)
    return image


def banner_text(rng: np.random.Generator) -> Image.Image:
    """A banner word or two in a bench font, large, maybe with an outline; capture crops into it."""
    words = str(rng.choice(BENCH_WORDS))
    lines = words.split(" ") if " " in words and rng.random() < 0.5 else [words]
    w, h = int(rng.integers(96, 200)), int(rng.integers(64, 140))
    image = _background(rng, (w, h))
    draw = ImageDraw.Draw(image)
    paper = image.getpixel((0, 0))
    ink, face = _ink(rng, paper), str(rng.choice(BENCH_FONTS))
    stroke = {"stroke_width": 2, "stroke_fill": _ink(rng, ink)} if rng.random() < 0.3 else {}
    for k, line in enumerate(lines):
        _text_in_box(draw, (3, k * h / len(lines) + 2, w - 3, (k + 1) * h / len(lines) - 2), line, face, ink, **stroke)
    return image


def road_sign(rng: np.random.Generator) -> Image.Image:
    """No-entry, stop, give-way, warning, speed-limit and no-parking signs, maybe on a photo background."""
    side = 128
    if rng.random() < 0.4:
        image = picture_crop(rng, BENCH_PICTURES).resize((side, side)).filter(ImageFilter.GaussianBlur(3))
    else:
        image = _background(rng, (side, side))
    draw = ImageDraw.Draw(image)
    red, white, black = int(rng.integers(60, 110)), int(rng.integers(210, 256)), int(rng.integers(0, 40))
    box = (10, 10, side - 10, side - 10)
    kind = int(rng.integers(6))
    if kind == 0:  # no entry
        draw.ellipse(box, fill=red)
        draw.rectangle((26, 54, side - 26, side - 54), fill=white)
    elif kind == 1:  # stop
        octagon = [(64 + 56 * np.cos(a), 64 + 56 * np.sin(a)) for a in np.pi / 8 + np.arange(8) * np.pi / 4]
        draw.polygon(octagon, fill=red, outline=white, width=4)
        _text_in_box(draw, (24, 44, side - 24, side - 44), "STOP", str(rng.choice(BENCH_FONTS)), white)
    elif kind == 2:  # give way
        draw.polygon([(12, 18), (side - 12, 18), (64, side - 12)], fill=red)
        draw.polygon([(36, 32), (side - 36, 32), (64, side - 40)], fill=white)
    elif kind == 3:  # warning
        draw.polygon([(64, 10), (side - 8, side - 16), (8, side - 16)], fill=red)
        draw.polygon([(64, 34), (side - 30, side - 28), (30, side - 28)], fill=white)
        _text_in_box(draw, (50, 50, 78, side - 34), str(rng.choice(["!", "?", "x"])), str(rng.choice(BENCH_FONTS)), black)
    elif kind == 4:  # speed limit
        draw.ellipse(box, fill=red)
        draw.ellipse((24, 24, side - 24, side - 24), fill=white)
        _text_in_box(draw, (36, 40, side - 36, side - 40), str(rng.choice(["30", "50", "70", "90", "120"])),
                     str(rng.choice(BENCH_FONTS)), black)
    else:  # no parking
        draw.ellipse(box, fill=red)
        draw.ellipse((26, 26, side - 26, side - 26), fill=int(rng.integers(40, 90)))
        draw.line([(30, 30), (side - 30, side - 30)], fill=red, width=14)
    return image


def abstract_graphic(rng: np.random.Generator) -> Image.Image:
    """High-contrast designs: a target, a sunburst, halftone dots, wavy op-art stripes, triangles or a QR-like grid."""
    side = 128
    y, x = (np.mgrid[0:side, 0:side] - side / 2) / side
    kind = int(rng.integers(6))
    if kind == 0:
        wave = np.cos(np.hypot(x, y) * rng.uniform(15, 40))
    elif kind == 1:
        wave = np.cos(np.arctan2(y, x) * int(rng.integers(4, 16)))
    elif kind == 2:
        period = rng.uniform(0.06, 0.15)
        radius = (0.5 + y) * period * 0.6
        wave = radius - np.hypot((x % period) - period / 2, (y % period) - period / 2)
    elif kind == 3:
        wave = np.sin((y + 0.08 * np.sin(x * rng.uniform(8, 20))) * rng.uniform(20, 60))
    elif kind == 4:
        period = rng.uniform(0.1, 0.3)
        wave = ((x % period) - (y % period)) * np.where((x // period + y // period) % 2 == 0, 1, -1)
    else:
        cells = int(rng.integers(8, 22))
        grid = rng.random((cells, cells)) < 0.5
        return Image.fromarray((grid * 255).astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    a, b = sorted(rng.uniform(0, 255, 2))
    b = max(b, a + 120) if a < 135 else b
    return Image.fromarray(np.where(wave > 0, min(b, 255), a).astype(np.uint8))


def _shaded(mask: Image.Image, rng: np.random.Generator, axis: tuple[float, float]) -> Image.Image:
    """``mask`` filled with a cylinder's shading across ``axis`` (a unit direction), on a plain or blurred ground."""
    side = mask.size[0]
    y, x = np.mgrid[0:side, 0:side] / side - 0.5
    across = x * axis[1] - y * axis[0]
    light = rng.uniform(-0.3, 0.3)
    shade = np.clip(np.cos((across - light) * np.pi * rng.uniform(1.0, 2.5)), 0, 1)
    tone, depth = rng.uniform(100, 230), rng.uniform(40, 120)
    surface = Image.fromarray(np.clip(tone - depth + depth * shade, 0, 255).astype(np.uint8))
    ground = _background(rng, (side, side), float(rng.uniform(0, 255)))
    ground.paste(surface, (0, 0), mask.filter(ImageFilter.GaussianBlur(1.5)))
    return ground


def object_photo(rng: np.random.Generator) -> Image.Image:
    """A shaded object or body part (an arm, a tie, a bottle, a ball, a hand's finger), or a crop of a bench picture."""
    side = 128
    kind = int(rng.integers(5))
    if kind == 4:
        return picture_crop(rng, BENCH_PICTURES)
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    angle = rng.uniform(0, np.pi)
    axis = (np.cos(angle), np.sin(angle))
    if kind == 0:  # arm / finger: a thick capsule across the frame
        half, width = side * 0.8, side * rng.uniform(0.18, 0.4)
        ends = [(64 - axis[0] * half, 64 - axis[1] * half), (64 + axis[0] * half, 64 + axis[1] * half)]
        draw.line(ends, fill=255, width=int(width))
        for ex, ey in ends:
            draw.ellipse((ex - width / 2, ey - width / 2, ex + width / 2, ey + width / 2), fill=255)
    elif kind == 1:  # tie: a long kite with a knot
        axis = (0.0, 1.0)
        draw.polygon([(54, 4), (74, 4), (70, 22), (58, 22)], fill=255)
        draw.polygon([(58, 22), (70, 22), (86, 104), (64, 126), (42, 104)], fill=255)
    elif kind == 2:  # bottle
        axis = (0.0, 1.0)
        draw.rounded_rectangle((38, 50, 90, 126), radius=12, fill=255)
        draw.polygon([(38, 56), (56, 24), (72, 24), (90, 56)], fill=255)
        draw.rectangle((56, 4, 72, 26), fill=255)
    else:  # ball or fruit
        r = side * rng.uniform(0.25, 0.45)
        cx, cy = rng.uniform(0.35, 0.65, 2) * side
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    image = _shaded(mask, rng, axis)
    if kind == 1 and rng.random() < 0.6:  # striped tie
        stripes = Image.new("L", (side, side), 0)
        sd = ImageDraw.Draw(stripes)
        for k in range(-side, 2 * side, 14):
            sd.line([(k, 0), (k + side, side)], fill=255, width=5)
        dark = image.point(lambda v: int(v * 0.6))
        image.paste(dark, (0, 0), Image.composite(stripes, Image.new("L", (side, side), 0), mask))
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))


BENCH_CLASSES: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "speech bubble": speech_bubble,
    "no-image sign": no_image_sign,
    "pictogram tile": pictogram,
    "banner text": banner_text,
    "road sign": road_sign,
    "abstract graphic": abstract_graphic,
    "object photo": object_photo,
}


def bench_junk(per_class: int = 300, seed: int = 9000) -> dict[str, np.ndarray]:
    """(per_class, 48, 48) uint8 images of each BENCH_CLASSES class, through :func:`capture`."""
    out = {}
    for k, (name, draw) in enumerate(BENCH_CLASSES.items()):
        rng = np.random.default_rng(seed + k)
        zoom = 0.6 if name == "banner text" else 0.85
        out[name] = np.stack([capture(draw(rng), rng, zoom) for _ in range(per_class)])
    return out
