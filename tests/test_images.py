"""The one decoder every command uses: each storage mode against its 8-bit twin, bombs, tiny images."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferclean.images import MAX_PIXELS, MIN_SIDE, UnreadableImage, header_problem, inspect_image, open_gray
from conftest import synthetic_face


def face() -> Image.Image:
    return synthetic_face(7, 48)


def twin_digest(tmp_path: Path) -> str:
    path = tmp_path / "eight-bit.png"
    face().save(path)
    return str(inspect_image(path)["sha256"])


def save(image: Image.Image, path: Path, **kwargs: object) -> Path:
    image.save(path, **kwargs)
    return path


def test_sixteen_bit_png_matches_its_eight_bit_twin(tmp_path: Path) -> None:
    wide = np.asarray(face(), dtype=np.uint16) * 257
    path = save(Image.fromarray(wide), tmp_path / "sixteen.png")
    assert Image.open(path).mode.startswith("I")
    assert np.array_equal(np.asarray(open_gray(path)), np.asarray(face()))
    assert inspect_image(path)["sha256"] == twin_digest(tmp_path)


def test_sixteen_bit_faces_are_not_white(tmp_path: Path) -> None:
    """Pillow's own I;16 -> L conversion clips: every pixel above 255 becomes white."""
    wide = np.asarray(face(), dtype=np.uint16) * 257
    gray = np.asarray(open_gray(save(Image.fromarray(wide), tmp_path / "sixteen.png")))
    assert gray.std() > 10 and (gray == 255).mean() < 0.5


@pytest.mark.parametrize("mode", ["P", "RGB", "LA", "RGBA", "CMYK"])
def test_other_modes_match_their_eight_bit_twin(tmp_path: Path, mode: str) -> None:
    image = face().convert(mode)
    path = save(image, tmp_path / f"face.{'tif' if mode == 'CMYK' else 'png'}")
    assert Image.open(path).mode == mode
    assert inspect_image(path)["sha256"] == twin_digest(tmp_path)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = face().convert("RGBA")
    rgba.putalpha(0)
    gray = np.asarray(open_gray(save(rgba, tmp_path / "clear.png")))
    assert (gray == 255).all()


def test_exif_rotated_jpeg_is_read_upright(tmp_path: Path) -> None:
    upright = synthetic_face(3, 64).crop((0, 0, 40, 64))  # not square: a missed rotation changes the size
    save(upright, tmp_path / "upright.jpg", quality=100)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored image is the upright one turned 90 CCW
    save(upright.transpose(Image.Transpose.ROTATE_90), tmp_path / "rotated.jpg", quality=100, exif=exif)
    a = np.asarray(open_gray(tmp_path / "upright.jpg"), dtype=float)
    b = np.asarray(open_gray(tmp_path / "rotated.jpg"), dtype=float)
    assert a.shape == b.shape == (64, 40)
    assert np.abs(a - b).mean() < 3


_XMP_ROTATED = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize(
    "name, options",
    [
        ("exif.png", {"exif": "exif"}),
        ("exif.webp", {"exif": "exif", "lossless": True}),
        ("xmp.png", {"pnginfo": "xmp"}),
        ("plain.png", {}),
    ],
)
def test_every_orientation_source_pillow_reads_is_applied(tmp_path: Path, name: str, options: dict) -> None:
    """open_gray asks Pillow for an orientation only where the file carries a source of one: each
    source still turns the image, as ``ImageOps.exif_transpose`` does."""
    from PIL import ImageOps, PngImagePlugin

    stored = synthetic_face(5, 64).crop((0, 0, 40, 64)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _XMP_ROTATED)
    made = {"exif": exif, "xmp": info}
    kwargs = {key: made.get(value, value) if isinstance(value, str) else value for key, value in options.items()}
    path = save(stored, tmp_path / name, **kwargs)
    with Image.open(path) as image:
        expected = np.asarray((ImageOps.exif_transpose(image) or image).convert("L"))
    assert expected.shape == ((64, 40) if options else (40, 64))
    assert np.array_equal(np.asarray(open_gray(path)), expected)


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header announcing ``width`` x ``height`` pixels, with almost no data (cheap to make)."""
    raw = zlib.compress(b"\x00" * 64)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [7000, 20000])
def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path, side: int) -> None:
    assert side * side > MAX_PIXELS
    path = bomb_png(tmp_path / "bomb.png", side, side)
    with pytest.raises(UnreadableImage, match="too large"):
        open_gray(path)
    assert "too large" in inspect_image(path)["error"]
    assert "too large" in header_problem(path)


def test_tiny_image_is_sent_to_review(tmp_path: Path) -> None:
    info = inspect_image(save(Image.new("L", (1, 1), 128), tmp_path / "dot.png"))
    assert info["error"] == "" and "too small" in info["review"]
    assert inspect_image(save(Image.new("L", (MIN_SIDE, MIN_SIDE), 128), tmp_path / "ok.png"))["review"] == ""


def test_bad_files_raise_unreadable(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    buffer = io.BytesIO()
    face().save(buffer, format="PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:200])
    for name, words in [("empty.png", "empty file"), ("text.jpg", "not a recognised"), ("cut.png", "truncated")]:
        with pytest.raises(UnreadableImage, match=words):
            open_gray(tmp_path / name)
