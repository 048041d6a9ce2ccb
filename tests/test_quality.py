import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ferclean.cli import main
from ferclean.images import open_gray
from ferclean.manifest import read_manifest
from ferclean.cli.scan import _sheet_rows
from ferclean.quality import (
    FACE_CHECK_FROM,
    MAX_NOT_FACE,
    MIN_FACE_LOGIT,
    REASONS,
    cell_orientations,
    flag_invalid,
    image_notes,
    invalid_mask,
    orientation_bins,
    quality_reasons,
    quality_signals,
    quality_table,
    reason_counts,
)
from ferclean.image_batch import decode_files
from ferclean.render.contact_sheet import caption_lines, contact_sheet

#: Average faces of FER2013 training clusters (bench/build_face_fixtures.py): real-ish faces that are nobody's picture.
MEAN_FACES = np.load(Path(__file__).with_name("data") / "mean_faces.npz")["faces"]


def face_like(seed: int, size: int = 48) -> np.ndarray:
    """One of the mean faces (mirrored for odd rounds), at ``size``: passes every check, as a real face does."""
    face = MEAN_FACES[seed % len(MEAN_FACES)]
    face = face[:, ::-1] if (seed // len(MEAN_FACES)) % 2 else face
    return np.asarray(Image.fromarray(np.ascontiguousarray(face)).resize((size, size), Image.Resampling.BICUBIC))


def scraped(image: Image.Image, quality: int = 70) -> np.ndarray:
    """``image`` as a scraper stores it: shrunk to 48x48, softened, JPEG-compressed."""
    small = image.convert("L").resize((48, 48), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(0.6))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("L"))


def _shaded_ground(side: int = 192) -> Image.Image:
    y, x = np.mgrid[0:side, 0:side]
    return Image.fromarray((70 + 120 * (x + y) / (2 * side)).astype(np.uint8))


def no_entry_sign() -> np.ndarray:
    """A no-entry sign (dark disc, light bar) on a shaded ground, as scraped."""
    image = _shaded_ground()
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 172, 172), fill=60)
    draw.rectangle((44, 80, 148, 112), fill=235)
    return scraped(image)


def speech_bubble(ground: Image.Image | None = None) -> np.ndarray:
    """A light chat bubble with three dark dots on a dark ground (or on ``ground``), as scraped."""
    image = ground or Image.new("L", (192, 192), 60)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((24, 40, 168, 130), radius=24, fill=230)
    draw.polygon([(60, 120), (90, 120), (50, 165)], fill=230)
    for x in (60, 96, 132):
        draw.ellipse((x - 11, 74, x + 11, 96), fill=40)
    return scraped(image)


def bubble_on_grey() -> np.ndarray:
    """The speech bubble on a mid-grey gradient: a light oval with dark spots in a row, which the
    small classifier takes for a face and MTCNN's face verifier does not."""
    return speech_bubble(_shaded_ground())


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


GENERATED = {
    "too_small": lambda: smooth(1, (20, 20), 0, 255),
    "extreme_aspect": lambda: smooth(2, (48, 120), 0, 255),
    "near_uniform": lambda: np.full((48, 48), 128, np.uint8),
    "low_information": lambda: np.where(np.arange(48)[None, :] < 24, 60, 190).repeat(48, 0).astype(np.uint8),
    "too_dark": lambda: smooth(3, (48, 48), 0, 30),
    "too_bright": lambda: smooth(4, (48, 48), 228, 255),
    "text_or_graphic": rendered_text,
    "noise": lambda: np.random.default_rng(5).integers(0, 256, (48, 48), dtype=np.uint8),
    "not_a_face": no_entry_sign,
    "no_face_found": bubble_on_grey,
}


def test_every_reason_has_a_generated_case():
    assert set(GENERATED) == set(REASONS)


@pytest.mark.parametrize("reason", list(REASONS))
def test_each_reason_flags_its_generated_image(reason):
    assert reason in quality_reasons(quality_signals(GENERATED[reason]()))


@pytest.mark.parametrize("size", [48, 96])
def test_face_like_images_pass_every_check(size):
    for seed in range(2 * len(MEAN_FACES)):
        assert quality_reasons(quality_signals(face_like(seed, size))) == []


@pytest.mark.parametrize("junk", [no_entry_sign, speech_bubble], ids=["no-entry", "speech-bubble"])
def test_realistic_junk_passes_the_cheap_checks_but_not_the_face_classifier(junk):
    assert quality_reasons(quality_signals(junk())) == ["not_a_face"]


def diagonal_shading() -> np.ndarray:
    """Smooth shading across the frame, as on a plain object: no edge a face has."""
    y, x = np.mgrid[0:48, 0:48]
    return np.clip(128 + 2.5 * (x + y - 47), 0, 255).astype(np.uint8)


def test_smooth_shading_is_not_a_face():
    assert quality_reasons(quality_signals(diagonal_shading())) == ["not_a_face"]


def test_the_classifier_scores_only_what_the_cheap_checks_leave():
    images = np.stack([face_like(0), GENERATED["near_uniform"](), GENERATED["noise"](), no_entry_sign()])
    not_face = quality_table(images, np.full(4, 48), np.full(4, 48))["not_face"]
    assert np.isfinite(not_face[[0, 3]]).all() and np.isnan(not_face[[1, 2]]).all()
    assert not_face[0] < not_face[3]


def test_the_face_verifier_scores_only_what_the_classifier_is_unsure_of():
    images = np.stack([face_like(seed) for seed in range(2 * len(MEAN_FACES))] + [no_entry_sign(), bubble_on_grey(), GENERATED["noise"]()])
    table = quality_table(images, np.full(len(images), 48), np.full(len(images), 48))
    unsure = (table["not_face"] > FACE_CHECK_FROM) & (table["not_face"] <= MAX_NOT_FACE)
    assert unsure[-2] and not unsure[-3] and not unsure[-1]  # the bubble is unsure; the sign is flagged; noise never scored
    assert (np.isfinite(table["face"]) == unsure).all()
    assert table["face"][-2] < MIN_FACE_LOGIT < np.nanmin(table["face"][:-3], initial=np.inf)


def test_orientation_bins_match_the_arctangent():
    rng = np.random.default_rng(0)
    gx, gy = rng.normal(size=(2, 5000)).astype(np.float32)
    expected = np.floor((np.arctan2(gy, gx) % np.pi) / (np.pi / 8)).astype(int)
    np.testing.assert_array_equal(orientation_bins(gx, gy), expected)
    # Opposite gradients share a bin; horizontal ones are 0 deg and vertical ones 90 deg.
    np.testing.assert_array_equal(orientation_bins(-gx, -gy), expected)
    edges = np.array([1, -1, 0, 0], np.float32), np.array([0, 0, 1, -1], np.float32)
    assert orientation_bins(*edges).tolist() == [0, 0, 3, 3]


def test_cell_orientations_see_where_edges_run_whatever_the_contrast():
    vertical_edges = np.repeat(np.where(np.arange(48) % 8 < 4, 40, 200)[None, :], 48, axis=0).astype(np.uint8)
    faint = (vertical_edges // 4 + 100).astype(np.uint8)
    features = cell_orientations(np.stack([vertical_edges, vertical_edges.T.copy(), faint]))
    assert features.shape == (3, 4 * 4 * 8)
    by_orientation = features.reshape(3, 16, 8).sum(axis=1)
    assert by_orientation[0, 1:].sum() == 0 and by_orientation[0, 0] > 0
    assert by_orientation[1, [0, 1, 2, 4, 5, 6, 7]].sum() == 0 and by_orientation[1, 3] > 0
    np.testing.assert_allclose(features[2], features[0], rtol=0.02)


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


def test_scan_sheet_groups_flagged_images_by_first_reason_in_report_order(tmp_path):
    listing = pd.DataFrame({"path": ["a/x.png", "a/y.png", "a/z.png"], "reasons": ["not_a_face", "near_uniform, low_information", "not_a_face"]})
    rows = _sheet_rows(listing, tmp_path)
    assert [r.split(":")[0] for r in rows if isinstance(r, str)] == ["near_uniform", "not_a_face"]
    assert rows[1] == [(tmp_path / "a/y.png", "y.png low_information")]
    assert [caption for _, caption in rows[3]] == ["x.png", "z.png"]
    assert contact_sheet(rows, tmp_path / "sheet.png").exists()


def test_captions_wrap_at_spaces_and_never_split_a_word():
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    font = ImageFont.load_default()
    text = "fer0012345.png near_uniform low_information text_or_graphic"
    lines = caption_lines(draw, font, text, 96, 2)
    assert len(lines) == 2 and all(draw.textlength(line, font=font) <= 96 for line in lines)
    words = set(text.split())
    assert lines[0] in words or set(lines[0].split()) <= words  # whole words only
    assert lines[-1].endswith("…")  # what did not fit is cut short, not wrapped into a third line
    long = caption_lines(draw, font, "a_very_long_file_name_that_cannot_fit.png", 96, 2)
    assert len(long) == 1 and long[0].endswith("…") and draw.textlength(long[0], font=font) <= 96


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
def test_real_fer2013_faces_are_rarely_flagged(fer2013):
    paths = sorted((fer2013 / "test").rglob("*.png"))[::3]
    flagged = [note for note in image_notes([np.asarray(open_gray(p)) for p in paths]) if note]
    assert len(flagged) <= 0.01 * len(paths)
