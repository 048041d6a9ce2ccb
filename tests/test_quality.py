from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from ferclean.cli import main
from ferclean.images import open_gray
from ferclean.manifest import read_manifest
from ferclean.quality import (
    REASONS,
    face_residual,
    face_model,
    face_thumbnail,
    fit_face_space,
    flag_invalid,
    image_notes,
    invalid_mask,
    orientation_bins,
    orientation_histograms,
    quality_reasons,
    quality_signals,
    reason_counts,
)
from ferclean.image_batch import decode_files


def face_like(seed: int, size: int = 48) -> np.ndarray:
    """A smooth image drawn from the face space: passes every check, as a real face does."""
    model = face_model()
    mean, components = model.mean, model.components
    rng = np.random.default_rng(seed)
    values = (mean + rng.normal(0, 1, len(components)) @ components).reshape(16, 16)
    scaled = (values - values.min()) / (values.max() - values.min()) * 255
    return np.asarray(Image.fromarray(scaled.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC))


def smooth(seed: int, shape: tuple[int, int], low: int, high: int) -> np.ndarray:
    """A face-like image rescaled into grey levels ``low..high``."""
    base = face_like(seed).astype(np.float64) / 255
    image = Image.fromarray((low + base * (high - low)).astype(np.uint8))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def rendered_text() -> np.ndarray:
    image = Image.new("L", (48, 48), 235)
    draw = ImageDraw.Draw(image)
    for k, word in enumerate(["This", "photo", "moved"]):
        draw.text((2, 2 + 14 * k), word, fill=20, font=ImageFont.load_default(size=12))
    return np.asarray(image)


def stripes() -> np.ndarray:
    """A fine texture no face resembles: horizontal stripes 3 px wide, fading in contrast."""
    x = np.arange(48)
    pattern = 128 + 100 * np.sign(np.sin(2 * np.pi * x / 6))[None, :] * np.linspace(0.5, 1, 48)[:, None]
    return np.clip(pattern, 0, 255).astype(np.uint8).T.copy()


GENERATED = {
    "too_small": lambda: smooth(1, (20, 20), 0, 255),
    "extreme_aspect": lambda: smooth(2, (48, 120), 0, 255),
    "near_uniform": lambda: np.full((48, 48), 128, np.uint8),
    "low_information": lambda: np.where(np.arange(48)[None, :] < 24, 60, 190).repeat(48, 0).astype(np.uint8),
    "too_dark": lambda: smooth(3, (48, 48), 0, 30),
    "too_bright": lambda: smooth(4, (48, 48), 228, 255),
    "text_or_graphic": rendered_text,
    "noise": lambda: np.random.default_rng(5).integers(0, 256, (48, 48), dtype=np.uint8),
    "not_a_face": stripes,
}


def test_every_reason_has_a_generated_case():
    assert set(GENERATED) == set(REASONS)


@pytest.mark.parametrize("reason", list(REASONS))
def test_each_reason_flags_its_generated_image(reason):
    assert reason in quality_reasons(quality_signals(GENERATED[reason]()))


@pytest.mark.parametrize("size", [48, 96])
def test_face_like_images_pass_every_check(size):
    for seed in range(20):
        assert quality_reasons(quality_signals(face_like(seed, size))) == []


def test_face_residual_is_one_for_a_blank_and_lower_for_a_face_than_a_texture():
    assert face_residual(np.full((48, 48), 7, np.uint8)) == 1.0
    assert face_residual(face_like(0)) < face_residual(stripes())


def diagonal_shading() -> np.ndarray:
    """Smooth shading across the frame, as on a plain object: pixels an eigenface space explains."""
    y, x = np.mgrid[0:48, 0:48]
    return np.clip(128 + 2.5 * (x + y - 47), 0, 255).astype(np.uint8)


def test_smooth_shading_is_not_a_face_by_its_gradient_orientations_alone():
    signals = quality_signals(diagonal_shading())
    assert signals["face_residual"] < 0.1 * face_model().residual_scale
    assert quality_reasons(signals) == ["not_a_face"]


def test_orientation_bins_match_the_arctangent():
    rng = np.random.default_rng(0)
    gx, gy = rng.normal(size=(2, 5000)).astype(np.float32)
    expected = np.floor((np.arctan2(gy, gx) % np.pi) / (np.pi / 8)).astype(int)
    np.testing.assert_array_equal(orientation_bins(gx, gy), expected)
    # Opposite gradients share a bin; horizontal ones are 0 deg and vertical ones 90 deg.
    np.testing.assert_array_equal(orientation_bins(-gx, -gy), expected)
    edges = np.array([1, -1, 0, 0], np.float32), np.array([0, 0, 1, -1], np.float32)
    assert orientation_bins(*edges).tolist() == [0, 0, 3, 3]


def test_orientation_histograms_see_where_edges_run():
    vertical_edges = np.repeat(np.where(np.arange(48) % 8 < 4, 40, 200)[None, :], 48, axis=0).astype(np.uint8)
    histograms = orientation_histograms(np.stack([vertical_edges, vertical_edges.T.copy()]))
    assert histograms.shape == (2, 72)
    np.testing.assert_allclose(histograms.sum(axis=1), 1.0)
    by_orientation = histograms.reshape(2, 9, 8).sum(axis=1)
    assert by_orientation[0, 0] == pytest.approx(1.0) and by_orientation[1, 3] == pytest.approx(1.0)


def test_a_batch_gives_each_image_its_own_reasons():
    images = [face_like(0), GENERATED["noise"](), rendered_text(), face_like(1, 96), GENERATED["extreme_aspect"](), diagonal_shading()]
    notes = image_notes(images)
    assert notes == [", ".join(quality_reasons(quality_signals(image))) for image in images]
    assert notes[0] == notes[3] == "" and "noise" in notes[1] and "extreme_aspect" in notes[4]


def test_decode_files_checks_quality_on_the_readable_images_only(tmp_path):
    Image.fromarray(face_like(2)).save(tmp_path / "face.png")
    Image.fromarray(GENERATED["near_uniform"]()).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths = [str(tmp_path / name) for name in ("face.png", "broken.png", "blank.png")]
    batch = decode_files(paths, quality=True)
    assert batch.quality[0] == "" and batch.quality[1] == "" and batch.error[1] != ""
    assert batch.quality[2].startswith("near_uniform")
    assert decode_files(paths).quality == ["", "", ""]


def test_fit_face_space_returns_orthonormal_components():
    images = np.random.default_rng(0).integers(0, 256, (50, 48, 48), dtype=np.uint8)
    thumbs = np.stack([face_thumbnail(image) for image in images])
    mean, components = fit_face_space(thumbs, components=5)
    assert thumbs.shape == (50, 256) and mean.shape == (256,) and components.shape == (5, 256)
    np.testing.assert_allclose(components @ components.T, np.eye(5), atol=1e-9)


@pytest.mark.parametrize("image", [face_like(3), stripes(), GENERATED["noise"](), rendered_text()], ids=["face", "stripes", "noise", "text"])
def test_face_residual_equals_projecting_the_standardised_thumbnail(image):
    model = face_model()
    mean, components = model.mean, model.components
    centred = face_thumbnail(image) - mean
    direct = (centred @ centred - np.sum((components @ centred) ** 2)) / centred.size
    assert face_residual(image) == pytest.approx(direct, abs=1e-9)


def test_flag_invalid_raises_statuses_never_lowers_them_and_appends_the_note():
    frame = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "status": ["keep", "drop", "keep", "review"],
            "note": ["", "unreadable: empty file", "", "too small: 10x10 pixels"],
        }
    )
    reasons = pd.Series(["near_uniform, low_information", "noise", "", "too_small"])
    reviewed = flag_invalid(frame, reasons)
    assert reviewed["status"].tolist() == ["review", "drop", "keep", "review"]
    assert reviewed["note"].tolist() == [
        "invalid: near_uniform, low_information",
        "unreadable: empty file; invalid: noise",
        "",
        "too small: 10x10 pixels; invalid: too_small",
    ]
    assert flag_invalid(frame, reasons, "drop")["status"].tolist() == ["drop", "drop", "keep", "drop"]
    reviewed.loc[0, "note"] += "; duplicate of x"  # a later step's note does not hide the reasons
    assert invalid_mask(reviewed).tolist() == [True, True, False, True]
    counts = reason_counts(reviewed).set_index("reason")["images"]
    assert (counts["near_uniform"], counts["noise"], counts["too_small"], counts["too_dark"]) == (1, 1, 1, 0)
    with pytest.raises(ValueError, match="action"):
        flag_invalid(frame, reasons, "delete")


def _dataset(root: Path) -> Path:
    """Four face-like images and one blank and one text image in train/happy."""
    folder = root / "train" / "happy"
    folder.mkdir(parents=True)
    for seed in range(4):
        Image.fromarray(face_like(seed)).save(folder / f"face{seed}.png")
    Image.fromarray(GENERATED["near_uniform"]()).save(folder / "blank.png")
    Image.fromarray(rendered_text()).save(folder / "text.png")
    return root


def test_cli_scan_marks_invalid_images_for_review_with_a_report(tmp_path):
    out = tmp_path / "m" / "set.csv"
    result = CliRunner().invoke(main, ["scan", str(_dataset(tmp_path / "data")), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    frame = read_manifest(out).frame.set_index("path")
    assert frame.loc["train/happy/blank.png", "status"] == "review"
    assert frame.loc["train/happy/blank.png", "note"].startswith("invalid: near_uniform")
    assert "text_or_graphic" in frame.loc["train/happy/text.png", "note"]
    assert (frame["status"] == "keep").sum() == 4
    report = tmp_path / "m" / "set_scan"
    assert {p.name for p in report.iterdir()} == {"reasons.csv", "flagged.csv", "contact_sheet.png"}
    assert len(pd.read_csv(report / "flagged.csv")) == 2
    assert "failing the quality checks" in result.output


def test_cli_scan_invalid_drop_and_no_quality(tmp_path):
    data = _dataset(tmp_path / "data")
    dropped, plain = tmp_path / "dropped.csv", tmp_path / "plain.csv"
    runner = CliRunner()
    assert runner.invoke(main, ["scan", str(data), "-o", str(dropped), "--invalid", "drop"]).exit_code == 0
    assert read_manifest(dropped).frame["status"].value_counts().to_dict() == {"keep": 4, "drop": 2}
    result = runner.invoke(main, ["scan", str(data), "-o", str(plain), "--no-quality"])
    assert result.exit_code == 0, result.output
    frame = read_manifest(plain).frame
    assert (frame["status"] == "keep").all() and (frame["note"] == "").all()
    assert not (tmp_path / "plain_scan").exists()


@pytest.mark.slow
def test_real_fer2013_faces_are_not_flagged(fer2013):
    paths = sorted((fer2013 / "test" / "happy").glob("*.png"))[:100]
    flagged = [p.name for p in paths if quality_reasons(quality_signals(np.asarray(open_gray(p))))]
    assert flagged == []
