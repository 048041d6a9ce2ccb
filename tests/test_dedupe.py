from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from ferclean.cli import main
from ferclean.dedupe.resolve import assign_groups, cluster_table, find_duplicate_pairs, leakage_table, resolve
from ferclean.manifest import read_manifest
from ferclean.scan import scan_dataset


@pytest.fixture
def dataset(tmp_path, make_dataset):
    """Ten distinct images per split, plus planted copies of train's first image."""
    root = make_dataset(tmp_path / "data", {"train": {"happy": 10}, "val": {"sad": 10}, "test": {"neutral": 10}})
    original = Image.open(root / "train" / "happy" / "happy_train_0000.png")
    return root, original


def _pairs_by_name(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest, _ = scan_dataset(root, jobs=1)
    frame = manifest.frame
    pairs = find_duplicate_pairs(frame)
    names = frame["path"].map(lambda p: Path(p).stem)
    return frame, pairs.assign(a=names.iloc[pairs["a"]].to_numpy(), b=names.iloc[pairs["b"]].to_numpy())


def _kind_of(pairs: pd.DataFrame, name: str) -> str:
    """Kind of the pair (original, ``name``); fails if there is none."""
    match = pairs[pairs[["a", "b"]].isin([name, "happy_train_0000"]).all(axis=1)]
    assert len(match) == 1, f"{name} does not match the original"
    return match["kind"].iloc[0]


def test_copies_are_found_and_different_images_are_not(dataset):
    root, original = dataset
    folder = root / "train" / "happy"
    original.save(folder / "copy_bmp.bmp")  # same pixels, different bytes
    original.save(folder / "copy_jpeg.jpg", quality=80)
    original.resize((64, 64), Image.Resampling.BICUBIC).save(folder / "copy_resized.png")
    original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "copy_mirror.png")
    _, pairs = _pairs_by_name(root)
    assert _kind_of(pairs, "copy_bmp") == "exact"
    assert _kind_of(pairs, "copy_jpeg") == "near"
    assert _kind_of(pairs, "copy_resized") == "near"
    assert _kind_of(pairs, "copy_mirror") == "mirror"
    involved = set(pairs["a"]) | set(pairs["b"])
    assert involved == {"happy_train_0000", "copy_bmp", "copy_jpeg", "copy_resized", "copy_mirror"}


def test_cross_split_leak_and_label_conflict_are_reported(dataset):
    root, original = dataset
    original.save(root / "test" / "neutral" / "leaked.png")
    frame, _ = _pairs_by_name(root)
    grouped = assign_groups(frame, find_duplicate_pairs(frame))
    clusters = cluster_table(grouped)
    assert len(clusters) == 1
    row = clusters.iloc[0]
    assert row["splits"] == "test+train" and row["cross_split"]
    assert row["labels"] == "happy+neutral" and row["conflict"]
    leaks = leakage_table(grouped).set_index("splits")
    assert leaks.loc["train/test", "groups"] == 1 and leaks.loc["train/test", "images"] == 2
    assert leaks.loc["val/test", "groups"] == 0


def _grouped(root: Path) -> pd.DataFrame:
    manifest, _ = scan_dataset(root, jobs=1, invalid=None)  # conftest's images are blobs, not faces: no quality checks
    return assign_groups(manifest.frame, find_duplicate_pairs(manifest.frame))


def test_keep_one_keeps_the_test_copy_and_drops_training_copies(dataset):
    root, original = dataset
    original.save(root / "test" / "neutral" / "leaked.png")
    original.save(root / "train" / "happy" / "again.png")
    grouped = _grouped(root)
    # make the labels agree so only the duplicate rule applies
    grouped.loc[grouped["path"] == "test/neutral/leaked.png", "label"] = "happy"
    resolved, actions = resolve(grouped, "keep-one")
    status = resolved.set_index("path")["status"]
    assert status["test/neutral/leaked.png"] == "keep"
    assert status["train/happy/again.png"] == "drop"
    assert status["train/happy/happy_train_0000.png"] == "drop"
    assert set(actions["split"]) == {"train"}
    assert actions["reason"].str.contains("duplicate of test/neutral/leaked.png").all()


def test_leaks_keeps_recrops_within_a_split_and_each_exact_copy_once(dataset):
    root, original = dataset
    folder = root / "train" / "happy"
    original.save(folder / "again.bmp")  # same pixels as the original
    original.resize((64, 64), Image.Resampling.BICUBIC).save(folder / "resized.png")  # a re-crop: near
    original.save(root / "val" / "sad" / "leaked.png")
    grouped = _grouped(root)
    grouped.loc[grouped["split"] == "val", "label"] = "happy"  # labels agree: only the duplicate rule applies
    resolved, actions = resolve(grouped, "leaks")
    status = resolved.set_index("path")["status"]
    # val comes before train: every training member goes, the leak is fixed.
    assert status["val/sad/leaked.png"] == "keep"
    copies = ["train/happy/happy_train_0000.png", "train/happy/again.bmp", "train/happy/resized.png"]
    assert (status[copies] == "drop").all()
    # Without the leak, the re-crop stays and the exact copy goes.
    alone = grouped[grouped["split"] != "val"]
    resolved, actions = resolve(alone, "leaks")
    status = resolved.set_index("path")["status"]
    assert status["train/happy/resized.png"] == "keep"
    assert sorted(status[["train/happy/again.bmp", "train/happy/happy_train_0000.png"]]) == ["drop", "keep"]
    assert len(actions) == 1 and actions["reason"].str.startswith("duplicate of train/happy/").all()
    # keep-one on the same group keeps one member only.
    assert (resolve(alone, "keep-one")[0]["status"] == "drop").sum() == 2


@pytest.mark.parametrize(
    ("on_conflict", "expected"),
    [
        ("review", {"a": "review", "b": "review", "c": "review"}),
        ("drop", {"a": "drop", "b": "drop", "c": "drop"}),
        ("majority", {"a": "keep", "b": "drop", "c": "drop"}),
    ],
)
def test_conflict_actions(tmp_path, make_image, on_conflict, expected):
    # a and b are labelled sad (majority), c neutral: all three are the same image.
    for name, label in [("a", "sad"), ("b", "sad"), ("c", "neutral")]:
        make_image(tmp_path / "train" / label / f"{name}.png", seed=5)
    make_image(tmp_path / "train" / "sad" / "other.png", seed=6)
    resolved, _ = resolve(_grouped(tmp_path), "keep-one", on_conflict)
    status = {Path(p).stem: s for p, s in zip(resolved["path"], resolved["status"])}
    assert {k: status[k] for k in "abc"} == expected
    assert status["other"] == "keep"


def test_majority_tie_goes_to_review(tmp_path, make_image):
    make_image(tmp_path / "train" / "sad" / "a.png", seed=5)
    make_image(tmp_path / "train" / "neutral" / "b.png", seed=5)
    resolved, _ = resolve(_grouped(tmp_path), "keep-one", "majority")
    assert set(resolved["status"]) == {"review"}


def test_report_policy_changes_no_status(dataset):
    root, original = dataset
    original.save(root / "test" / "neutral" / "leaked.png")
    grouped = _grouped(root)
    resolved, actions = resolve(grouped, "report")
    assert (resolved["status"] == grouped["status"]).all()
    assert actions.empty


def test_groups_and_decisions_do_not_depend_on_row_order(dataset):
    root, original = dataset
    for k in range(3):
        original.save(root / "val" / "sad" / f"dup{k}.png")
    manifest, _ = scan_dataset(root, jobs=1)
    frame = manifest.frame
    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    results = []
    for f in (frame, shuffled):
        resolved, _ = resolve(assign_groups(f, find_duplicate_pairs(f)), "keep-one", "majority")
        results.append(resolved.sort_values("path").reset_index(drop=True)[["path", "group", "status"]])
    pd.testing.assert_frame_equal(*results)


def test_cli_dedupe_writes_manifest_and_report(tmp_path, dataset):
    root, original = dataset
    original.save(root / "test" / "neutral" / "leaked.png")
    (root / "val" / "sad" / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out" / "d.csv"
    result = CliRunner().invoke(main, ["dedupe", str(root), "-o", str(out), "--policy", "keep-one", "--on-conflict", "drop"])
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.output and "Cross-split leakage" in result.output
    report = tmp_path / "out" / "d_dedupe"
    for name in ("pairs.csv", "groups.csv", "leakage.csv", "actions.csv", "contact_sheet.png", "summary.json"):
        assert (report / name).is_file(), name
    pairs = pd.read_csv(report / "pairs.csv")
    assert len(pairs) == 1 and {pairs["split_a"][0], pairs["split_b"][0]} == {"train", "test"}
    frame = read_manifest(out).frame.set_index("path")
    assert frame.loc["test/neutral/leaked.png", "status"] == "drop"
    assert "label conflict" in frame.loc["test/neutral/leaked.png", "note"]
    assert frame.loc["val/sad/broken.png", "status"] == "drop"


def test_rehashes_only_when_the_method_changes(tmp_path, dataset):
    root, _ = dataset
    scanned = tmp_path / "s.csv"
    assert CliRunner().invoke(main, ["scan", str(root), "-o", str(scanned)]).exit_code == 0
    out = tmp_path / "d.csv"
    result = CliRunner().invoke(main, ["dedupe", str(scanned), "-o", str(out), "--hash", "dhash"])
    assert result.exit_code == 0, result.output
    before, after = read_manifest(scanned), read_manifest(out)
    assert after.meta["hash"] == "dhash"
    assert (before.frame["phash"] != after.frame["phash"]).any()


def _real_slice(fer2013: Path, root: Path) -> Path:
    """2,000 real FER2013 images (train and test surprise), linked into ``root``."""
    files = sorted((fer2013 / "train" / "surprise").glob("*.png"))[:1587] + sorted((fer2013 / "test" / "surprise").glob("*.png"))
    for f in files:
        target = root / f.parent.parent.name / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(f)
    return root


@pytest.mark.slow
def test_scan_and_dedupe_on_a_real_slice(tmp_path, fer2013):
    """2,000 real FER2013 images (train and test of three classes): leaks are found and resolved."""
    root = _real_slice(fer2013, tmp_path / "slice")
    out = tmp_path / "slice.csv"
    result = CliRunner().invoke(main, ["dedupe", str(root), "-o", str(out), "--policy", "keep-one"])
    assert result.exit_code == 0, result.output
    frame = read_manifest(out).frame
    assert len(frame) == 2000
    clusters = cluster_table(frame)
    assert len(clusters) > 20 and clusters["cross_split"].any()
    kept = frame[frame["status"] != "drop"]
    assert kept.groupby("group")["split"].nunique().max() == 1
    assert (kept.groupby("group").size() == 1).all()
    leaking = clusters.index[clusters["cross_split"] & ~clusters["conflict"]]
    survivors = kept[kept["group"].isin(leaking)]
    assert len(survivors) == len(leaking) and (survivors["split"] == "test").all()


def _plant_copies(root: Path, original: Image.Image) -> None:
    """Edited copies of the original (resized, re-encoded, mirrored, re-lit) in several splits."""
    original.resize((64, 64), Image.Resampling.BICUBIC).save(root / "test" / "neutral" / "big.png")
    original.save(root / "val" / "sad" / "jpeg.jpg", quality=70)
    original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "train" / "happy" / "mirror.png")
    original.point(lambda v: min(255, int(v * 0.7) + 60)).save(root / "train" / "happy" / "relit.png")
    (root / "val" / "sad" / "broken.png").write_bytes(b"\x89PNG broken")


def test_verification_on_scan_pixels_equals_decoding_the_candidates(dataset):
    """A folder's dedupe reuses scan's decoded pixels; a manifest's decodes the candidates: same result."""
    from ferclean.dedupe import BASE, find_duplicates

    root, original = dataset
    _plant_copies(root, original)
    manifest, listing = scan_dataset(root, jobs=1, keep_pixels=BASE)
    assert listing.pixels is not None and listing.pixels.shape == (len(manifest.frame), BASE, BASE)
    from_pixels = find_duplicates(manifest, policy="keep-one", pixels=listing.pixels)
    decoded = find_duplicates(manifest, policy="keep-one")
    assert len(decoded.pairs) >= 4 and decoded.pairs["verified"].sum() >= 3
    pd.testing.assert_frame_equal(from_pixels.pairs, decoded.pairs)
    pd.testing.assert_frame_equal(from_pixels.manifest.frame, decoded.manifest.frame)
    with pytest.raises(ValueError, match="pixels must have shape"):
        find_duplicates(manifest, pixels=listing.pixels[1:])


def test_cli_dedupe_of_a_folder_equals_dedupe_of_its_scan(tmp_path, dataset):
    root, original = dataset
    _plant_copies(root, original)
    runner = CliRunner()
    scanned = tmp_path / "s.csv"
    assert runner.invoke(main, ["scan", str(root), "-o", str(scanned), "--no-quality"]).exit_code == 0
    for source, name in ((root, "folder"), (scanned, "manifest")):
        result = runner.invoke(main, ["dedupe", str(source), "-o", str(tmp_path / f"{name}.csv"), "--policy", "keep-one"])
        assert result.exit_code == 0, result.output
    for report in ("pairs.csv", "groups.csv", "actions.csv"):
        folder, manifest = (pd.read_csv(tmp_path / f"{name}_dedupe" / report) for name in ("folder", "manifest"))
        pd.testing.assert_frame_equal(folder, manifest)
    assert len(pd.read_csv(tmp_path / "folder_dedupe" / "groups.csv")) >= 1


@pytest.mark.slow
def test_real_folder_and_its_scan_give_the_same_pairs_and_groups(tmp_path, fer2013):
    """On real faces too, verifying from scan's kept pixels equals decoding the candidates again."""
    from ferclean.dedupe import BASE, find_duplicates

    manifest, listing = scan_dataset(_real_slice(fer2013, tmp_path / "slice"), jobs=2, invalid=None, keep_pixels=BASE)
    from_pixels = find_duplicates(manifest, policy="keep-one", pixels=listing.pixels)
    decoded = find_duplicates(manifest, policy="keep-one")
    assert from_pixels.pairs["verified"].sum() > 20
    pd.testing.assert_frame_equal(from_pixels.pairs, decoded.pairs)
    pd.testing.assert_frame_equal(from_pixels.manifest.frame, decoded.manifest.frame)
