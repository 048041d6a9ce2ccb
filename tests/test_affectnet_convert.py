"""Cropping a face box with margin, greyscale, resizing and hashing one AffectNet image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferclean.affectnet.convert import ConvertTask, convert_face, crop_region
from ferclean.images import inspect_image


def test_crop_region_grows_the_box_by_the_margin() -> None:
    assert crop_region((200, 200), (50, 60, 150, 160), False, (48, 48), 0.1) == pytest.approx((40, 50, 160, 170))


def test_crop_region_reads_fractional_boxes() -> None:
    assert crop_region((100, 200), (0.25, 0.25, 0.75, 0.5), True, (48, 48), 0.0) == pytest.approx((25, 50, 75, 100))


def test_crop_region_widens_to_the_output_aspect_and_stays_inside() -> None:
    x0, y0, x1, y1 = crop_region((100, 100), (0, 0, 40, 80), False, (48, 48), 0.0)
    assert x1 - x0 == pytest.approx(y1 - y0) == pytest.approx(80)
    assert x0 >= 0 and y0 >= 0 and x1 <= 100 and y1 <= 100


def test_crop_region_shrinks_a_box_larger_than_the_image() -> None:
    assert crop_region((96, 96), (0.0, 0.0, 1.0, 1.0), True, (48, 48), 0.1) == pytest.approx((0, 0, 96, 96))


def test_crop_region_without_box_centre_crops_to_the_aspect() -> None:
    assert crop_region((120, 80), None, False, (48, 48), 0.1) == pytest.approx((20, 0, 100, 80))


def _scene(path: Path, fmt: str) -> Path:
    """A dark RGB photo with a bright 'face' square at (60..140, 40..120)."""
    pixels = np.zeros((200, 240, 3), dtype=np.uint8)
    pixels[40:120, 60:140] = (250, 200, 150)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_convert_crops_the_face_to_a_grey_png_with_hashes(tmp_path: Path, fmt: str) -> None:
    source = _scene(tmp_path / f"scene.{fmt.lower()}", fmt)
    before = source.read_bytes()
    dest = tmp_path / "out" / "affectnet_scene.png"
    dest.parent.mkdir()
    result = convert_face(ConvertTask(str(source), str(dest), (60, 40, 140, 120), False, (48, 48), margin=0.0))
    assert result["error"] == "" and (result["width"], result["height"]) == (48, 48)
    with Image.open(dest) as image:
        assert image.mode == "L" and image.size == (48, 48)
        face = np.asarray(image)
    assert face[4:-4, 4:-4].min() > 150  # all face, no dark background inside the crop
    # The returned hashes are those a later scan/dedupe would compute from the file.
    assert {k: result[k] for k in ("sha256", "phash", "phash_flip")} == {
        k: inspect_image(dest)[k] for k in ("sha256", "phash", "phash_flip")
    }
    assert source.read_bytes() == before


def test_convert_keeps_the_margin_around_the_box(tmp_path: Path) -> None:
    source = _scene(tmp_path / "scene.png", "PNG")
    dest = tmp_path / "a.png"
    convert_face(ConvertTask(str(source), str(dest), (60, 40, 140, 120), False, (48, 48), margin=0.25))
    face = np.asarray(Image.open(dest))
    assert face[0, 0] < 10 and face[24, 24] > 150  # dark border from the margin, bright centre


@pytest.mark.parametrize(("content", "message"), [(b"", "empty"), (b"not an image at all", "not a recognised")])
def test_unreadable_sources_return_an_error_and_write_nothing(tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "bad.jpg"
    source.write_bytes(content)
    dest = tmp_path / "out.png"
    result = convert_face(ConvertTask(str(source), str(dest), None, False, (48, 48)))
    assert message in result["error"] and not dest.exists()


def test_truncated_jpeg_and_missing_file_are_errors(tmp_path: Path) -> None:
    source = _scene(tmp_path / "scene.jpg", "JPEG")
    source.write_bytes(source.read_bytes()[:300])
    assert convert_face(ConvertTask(str(source), str(tmp_path / "o.png"), None, False, (48, 48)))["error"]
    assert "cannot read" in convert_face(ConvertTask(str(tmp_path / "gone.jpg"), str(tmp_path / "o.png"), None, False, (48, 48)))["error"]


def test_large_jpeg_is_decoded_reduced_but_cropped_at_the_same_place(tmp_path: Path) -> None:
    pixels = np.zeros((1000, 1200), dtype=np.uint8)
    pixels[200:600, 300:700] = 230
    source = tmp_path / "big.jpg"
    Image.fromarray(pixels).save(source, quality=95)
    dest = tmp_path / "big.png"
    result = convert_face(ConvertTask(str(source), str(dest), (300, 200, 700, 600), False, (48, 48), margin=0.1))
    face = np.asarray(Image.open(dest)).astype(int)
    # Margin 0.1 of 400 px = 40 px per side = 4.8 output pixels of background on each edge.
    assert result["error"] == "" and face[:, :3].max() < 30 and face[:, -3:].max() < 30
    assert face[:3].max() < 30 and face[-3:].max() < 30 and face[7:-7, 7:-7].min() > 200
