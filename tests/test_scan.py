from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ferclean.cli import main
from ferclean.errors import FercleanError
from ferclean.manifest import read_manifest
from ferclean.scan import list_images, scan_dataset


def test_split_and_class_names_are_normalised(tmp_path, make_dataset):
    make_dataset(tmp_path, {"Training": {"Happiness": 2}, "PublicTest": {"sadness": 1}, "PrivateTest": {"SURPRISED": 1}})
    frame = list_images(tmp_path).frame
    assert sorted(zip(frame["split"], frame["label"])) == [
        ("test", "surprise"),
        ("train", "happy"),
        ("train", "happy"),
        ("val", "sad"),
    ]


def test_flat_tree_has_empty_split(tmp_path, make_dataset):
    make_dataset(tmp_path, {"": {"angry": 2, "fearful": 1}})
    frame = list_images(tmp_path).frame
    assert set(frame["split"]) == {""}
    assert sorted(frame["label"]) == ["angry", "angry", "fear"]


def test_unknown_class_is_an_error_naming_the_folder_unless_declared(tmp_path, make_dataset):
    make_dataset(tmp_path, {"train": {"happy": 1, "bored": 1}})
    with pytest.raises(FercleanError, match="train/bored"):
        list_images(tmp_path)
    assert set(list_images(tmp_path, extra_classes=["bored"]).frame["label"]) == {"happy", "bored"}


def test_unknown_split_folder_is_an_error(tmp_path, make_dataset):
    make_dataset(tmp_path, {"train": {"happy": 1}, "holdout": {"happy": 1}})
    with pytest.raises(FercleanError, match="holdout"):
        list_images(tmp_path)


@pytest.mark.parametrize("make", ["missing", "empty", "no_images"])
def test_missing_or_empty_folders_are_errors(tmp_path, make):
    root = tmp_path / "data"
    if make != "missing":
        root.mkdir()
    if make == "no_images":
        (root / "happy").mkdir()
        (root / "happy" / "notes.txt").write_text("x")
    with pytest.raises(FercleanError):
        list_images(root)


def test_corrupt_truncated_and_empty_files_are_marked_not_dropped(tmp_path, make_dataset, make_image):
    make_dataset(tmp_path, {"train": {"happy": 2}})
    bad = tmp_path / "train" / "happy"
    (bad / "zero.png").write_bytes(b"")
    (bad / "garbage.png").write_bytes(b"not an image at all")
    good = make_image(tmp_path / "x.png", 99).read_bytes()
    (tmp_path / "x.png").unlink()
    (bad / "truncated.png").write_bytes(good[: len(good) // 2])
    manifest, _ = scan_dataset(tmp_path, jobs=1)
    frame = manifest.frame.set_index("path")
    for name, reason in [("zero", "empty"), ("garbage", "not a recognised"), ("truncated", "truncated")]:
        row = frame.loc[f"train/happy/{name}.png"]
        assert row["status"] == "drop"
        assert reason in row["note"]
        assert row["phash"] == ""
    assert (frame["status"] != "drop").sum() == 2


def test_scan_fills_sizes_and_hashes_and_ignores_non_images(tmp_path, make_dataset):
    make_dataset(tmp_path, {"train": {"happy": 3}}, size=40)
    (tmp_path / "train" / "happy" / "README.txt").write_text("hi")
    manifest, listing = scan_dataset(tmp_path, jobs=1)
    assert listing.ignored == ["train/happy/README.txt"]
    frame = manifest.frame
    assert (frame["width"] == 40).all() and (frame["height"] == 40).all()
    assert frame["phash"].str.fullmatch("[0-9a-f]{16}").all()
    assert frame["sha256"].nunique() == 3
    assert (frame["source"] == tmp_path.name).all()


def test_scan_is_independent_of_parallelism(tmp_path, make_dataset):
    make_dataset(tmp_path, {"train": {"happy": 150, "sad": 150}})
    one, _ = scan_dataset(tmp_path, jobs=1)
    two, _ = scan_dataset(tmp_path, jobs=2)
    pd.testing.assert_frame_equal(one.frame, two.frame)


def test_cli_scan_writes_manifest_and_companion(tmp_path, make_dataset):
    make_dataset(tmp_path / "data", {"train": {"happy": 2}, "test": {"sad": 1}})
    out = tmp_path / "m" / "set.csv"
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "data"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "imbalance" in result.output
    manifest = read_manifest(out)
    assert Path(manifest.root) == (tmp_path / "data").resolve()
    assert all(p.is_file() for p in manifest.abspaths())
    assert manifest.meta["hash"] == "phash"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "/nonexistent/data", "-o", "x.csv"], "does not exist"),
        (["dedupe", "/nonexistent/m.csv", "-o", "x.csv"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_scan_keeps_small_grey_copies_only_when_asked_and_within_budget(tmp_path, make_dataset, monkeypatch):
    import numpy as np
    from PIL import Image

    import ferclean.scan

    make_dataset(tmp_path, {"train": {"happy": 2}}, size=40)
    (tmp_path / "train" / "happy" / "zz_garbage.png").write_bytes(b"not an image")
    manifest, listing = scan_dataset(tmp_path, jobs=1, keep_pixels=24)
    assert listing.pixels.shape == (3, 24, 24) and listing.pixels.dtype == np.uint8
    first = Image.open(tmp_path / manifest.frame["path"][0]).convert("L")
    assert np.array_equal(listing.pixels[0], np.asarray(first.resize((24, 24), Image.Resampling.BOX)))
    assert manifest.frame["path"][2].endswith("zz_garbage.png") and not listing.pixels[2].any()
    assert scan_dataset(tmp_path, jobs=1)[1].pixels is None
    monkeypatch.setattr(ferclean.scan, "PIXELS_BUDGET", 3 * 24 * 24 - 1)
    kept, over = scan_dataset(tmp_path, jobs=1, keep_pixels=24)
    assert over.pixels is None
    pd.testing.assert_frame_equal(kept.frame, manifest.frame)
