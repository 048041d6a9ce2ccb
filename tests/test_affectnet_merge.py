"""``ferclean merge-affectnet`` end to end on generated data, and on the real sample (slow)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA, synthetic_face
from PIL import Image

from ferclean.affectnet.merge import class_counts, output_names, select_faces, split_ratios, target_size
from ferclean.cli import main
from ferclean.manifest import read_manifest

#: AffectNet YOLO names: 0 Anger, 1 Contempt, ..., 5 Neutral, 6 Sad.
ANGER, CONTEMPT, NEUTRAL, SAD = 0, 1, 5, 6


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _yolo_face(root: Path, stem: str, cls: int, confidence: float, image: Image.Image | None = None, seed: int = 0) -> None:
    images, labels = root / "test" / "images", root / "test" / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    (image or synthetic_face(seed, 96)).convert("RGB").save(images / f"{stem}.png")
    (labels / f"{stem}.txt").write_text(f"{cls} 0.499 0.499 0.999 0.999 {confidence}\n")


@pytest.fixture
def target(tmp_path: Path, make_dataset) -> Path:
    """happy 16, neutral 12, sad 8 over train/test (75/25)."""
    spec = {"train": {"happy": 12, "neutral": 9, "sad": 6}, "test": {"happy": 4, "neutral": 3, "sad": 2}}
    return make_dataset(tmp_path / "target", spec)


@pytest.fixture
def affectnet(tmp_path: Path, target: Path) -> Path:
    """A YOLO release whose most confident sad faces are traps: a copy and a mirror of a target
    image, a face that appears twice, and a corrupt file. Plus faces of classes the target lacks."""
    root = tmp_path / "affectnet"
    (root / "data.yaml").parent.mkdir(parents=True)
    (root / "data.yaml").write_text('names: ["Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]\n')
    existing = Image.open(target / "train" / "happy" / "happy_train_0003.png")
    _yolo_face(root, "copy", SAD, 0.99, existing.resize((96, 96), Image.Resampling.BICUBIC))
    _yolo_face(root, "mirror", SAD, 0.98, existing.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((96, 96)))
    _yolo_face(root, "twin_a", SAD, 0.97, seed=5000)
    _yolo_face(root, "twin_b", SAD, 0.96, seed=5000)
    _yolo_face(root, "broken", SAD, 0.95)
    (root / "test" / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    for i in range(12):
        _yolo_face(root, f"sad{i:02d}", SAD, 0.5 + i / 100, seed=6000 + i)
    for i in range(8):
        _yolo_face(root, f"neutral{i:02d}", NEUTRAL, 0.5, seed=7000 + i)
    for i in range(3):
        _yolo_face(root, f"anger{i}", ANGER, 0.5, seed=8000 + i)
    for i in range(2):
        _yolo_face(root, f"contempt{i}", CONTEMPT, 0.5, seed=9000 + i)
    return root


def _merge(tmp_path: Path, affectnet: Path, into: Path, name: str, *extra: str):
    out = tmp_path / f"out-{name}"
    manifest = tmp_path / "manifests" / f"{name}.csv"
    result = CliRunner().invoke(
        main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(into), "--out", str(out), "-o", str(manifest), *extra]
    )
    return result, out, manifest


def test_merge_balances_rejects_duplicates_and_replaces_them(tmp_path: Path, target: Path, affectnet: Path) -> None:
    source_before = _tree_digest(affectnet)
    result, out, manifest_path = _merge(tmp_path, affectnet, target, "m")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(manifest_path)
    frame = manifest.frame
    assert class_counts(frame).to_dict() == {"happy": 16, "sad": 16, "neutral": 16}
    new = frame[frame["source"] == "affectnet"]
    assert Counter(new["label"]) == {"sad": 8, "neutral": 4}
    names = {Path(p).name for p in new["path"]}
    assert not names & {"affectnet_copy.png", "affectnet_mirror.png", "affectnet_broken.png"}
    assert len(names & {"affectnet_twin_a.png", "affectnet_twin_b.png"}) == 1
    # The most confident valid faces are taken first: twin_a, then sad11, sad10, ...
    assert names >= {"affectnet_twin_a.png", "affectnet_sad11.png", "affectnet_sad05.png"}
    assert "affectnet_sad04.png" not in names
    # Only the added faces are left in --out (duplicates and spare conversions removed).
    assert {p.name for p in out.iterdir()} == names
    for row in new.itertuples():
        assert Path(row.path).is_absolute() and row.width == 48 and row.height == 48 and len(row.phash) == 16
        assert row.status == "keep" and row.note.startswith("affectnet test/images/")
    assert manifest.meta["merge_affectnet"]["skipped"] == {
        "duplicate": 3,
        "unreadable": 1,
        "unmapped class: Anger": 3,
        "unmapped class: Contempt": 2,
    }
    assert set(new["split"]) <= {"train", "test"} and Counter(new["split"])["train"] == 9
    assert (manifest_path.parent / "m-affectnet.png").is_file()
    assert _tree_digest(affectnet) == source_before
    for reason in ("duplicate", "unreadable", "unmapped class: Contempt"):
        assert reason in result.output


def test_merge_is_deterministic_and_confidence_outranks_the_seed(tmp_path: Path, target: Path, affectnet: Path) -> None:
    picks = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result, _, manifest_path = _merge(tmp_path, affectnet, target, name, "--seed", seed, "--target", "10")
        assert result.exit_code == 0, result.output
        new = read_manifest(manifest_path).frame.query("source == 'affectnet'")
        picks.append(sorted(zip(new["path"].map(lambda p: Path(p).name), new["split"], new["phash"])))
    assert picks[0] == picks[1]
    assert len(picks[0]) == 2  # --target 10: only sad (8) is short
    assert [p[0] for p in picks[0]] == [p[0] for p in picks[2]]  # confidence decides, not the seed


def test_shortage_is_reported_not_faked(tmp_path: Path, target: Path, affectnet: Path) -> None:
    result, _, manifest_path = _merge(tmp_path, affectnet, target, "short", "--target", "30", "--only-split", "training")
    assert result.exit_code == 0, result.output
    frame = read_manifest(manifest_path).frame
    new = frame[frame["source"] == "affectnet"]
    assert Counter(new["label"]) == {"sad": 13, "neutral": 8}  # every valid candidate, no more
    assert set(new["split"]) == {"train"}
    assert "could not be filled" in result.output


def test_feasible_target_and_trim_end_exactly_balanced(tmp_path: Path, target: Path, affectnet: Path) -> None:
    """Neutral mapped away: the classes can all reach 12 (neutral has no candidates), so sad
    gets 4 (after the 3 duplicates and the unreadable face are replaced) and happy's 4 surplus
    training images are dropped, never the test split's."""
    source_before = _tree_digest(target)
    result, out, manifest_path = _merge(tmp_path, affectnet, target, "feasible", "--target", "feasible", "--trim", "--map", "neutral=drop")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(manifest_path)
    frame = manifest.frame
    assert class_counts(frame).to_dict() == {"happy": 12, "sad": 12, "neutral": 12}
    said = " ".join(result.output.split())
    assert "Feasible target: 12 images per class, limited by neutral (12 + 0 usable)." in said
    dropped = frame[frame["status"] == "drop"]
    assert len(dropped) == len(frame) - 36 == 4 and set(dropped["split"]) == {"train"} and set(dropped["label"]) == {"happy"}
    assert (dropped["note"] == "trimmed to balance").all()
    assert len(frame) == 36 + 4  # nothing removed, 4 faces added
    assert manifest.meta["merge_affectnet"]["target_count"] == 12 and manifest.meta["merge_affectnet"]["trimmed"]["happy"] == 4
    new = frame[frame["source"] == "affectnet"]
    assert {p.name for p in out.iterdir()} == {Path(p).name for p in new["path"]}  # first-pass spares removed
    assert _tree_digest(target) == source_before
    # --target feasible gives exactly what --target <its value> gives.
    same, _, same_path = _merge(tmp_path, affectnet, target, "twelve", "--target", "12", "--trim", "--map", "neutral=drop")
    assert same.exit_code == 0, same.output
    other = read_manifest(same_path).frame
    assert other.drop(columns="path").equals(frame.drop(columns="path"))


def test_feasible_counts_usable_faces_after_duplicates(tmp_path: Path, target: Path, affectnet: Path) -> None:
    """Sad has 13 usable faces (12 + one twin; copy, mirror, second twin and the broken file
    are not), so sad reaches 21, neutral 20 and happy stays 16: the feasible target is 16."""
    result, _, manifest_path = _merge(tmp_path, affectnet, target, "f16", "--target", "feasible")
    assert result.exit_code == 0, result.output
    assert class_counts(read_manifest(manifest_path).frame).to_dict() == {"happy": 16, "sad": 16, "neutral": 16}
    result, _, manifest_path = _merge(tmp_path, affectnet, target, "f12", "--target", "feasible", "--per-class", "sad=4")
    assert result.exit_code == 0, result.output
    assert class_counts(read_manifest(manifest_path).frame).to_dict() == {"happy": 16, "sad": 12, "neutral": 12}
    assert "Feasible target: 12 images per class, limited by sad (8 + 4 usable), neutral (12 + 0 usable)." in " ".join(result.output.split())
    # Without --trim happy keeps its 16: the target only limits what is added.


def test_trim_with_target_max_is_refused(tmp_path: Path, target: Path, affectnet: Path) -> None:
    result, _, _ = _merge(tmp_path, affectnet, target, "maxtrim", "--trim")
    assert result.exit_code != 0 and "trim needs target 'feasible'" in result.output and "Traceback" not in result.output


def test_duplicates_table_names_rows_apart_at_80_columns(tmp_path: Path, target: Path, affectnet: Path) -> None:
    out = tmp_path / "dup-out"
    result = CliRunner().invoke(
        main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(target), "--out", str(out), "-o", str(tmp_path / "dup.csv")],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("duplicate face(s) rejected") :]
    assert "…" not in table.split("affectnet =")[0]  # nothing cut short
    flat = "".join(line.strip(" │┃") for line in table.splitlines())
    for stem in ("copy", "mirror", "twin_b"):
        assert f"test/images/{stem}.png" in flat.replace(" ", "").replace("│", "")
    assert "dataset/train/happy/happy_train_0003.png" in flat.replace(" ", "").replace("│", "")


def test_per_class_and_map_overrides(tmp_path: Path, target: Path, affectnet: Path) -> None:
    result, _, manifest_path = _merge(
        tmp_path, affectnet, target, "pc", "--per-class", "sad=2,happy=3", "--map", "anger=happy,neutral=drop"
    )
    assert result.exit_code == 0, result.output
    frame = read_manifest(manifest_path).frame
    assert Counter(frame.loc[frame["source"] == "affectnet", "label"]) == {"sad": 2, "happy": 3}
    assert "unmapped class: Neutral" in read_manifest(manifest_path).meta["merge_affectnet"]["skipped"]


def test_flat_target_manifest_keeps_empty_split_and_rerun_skips_merged(tmp_path: Path, make_dataset, affectnet: Path) -> None:
    flat = make_dataset(tmp_path / "flat", {"": {"sad": 3, "neutral": 6}})
    result, out, first = _merge(tmp_path, affectnet, flat, "flat")
    assert result.exit_code == 0, result.output
    frame = read_manifest(first).frame
    assert set(frame["split"]) == {""} and class_counts(frame).to_dict() == {"sad": 6, "neutral": 6}
    again = CliRunner().invoke(
        main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(first), "--out", str(out),
               "-o", str(tmp_path / "manifests" / "again.csv"), "--target", "8"],
    )
    assert again.exit_code == 0, again.output
    frame = read_manifest(tmp_path / "manifests" / "again.csv").frame
    assert class_counts(frame).to_dict() == {"sad": 8, "neutral": 8}
    assert frame["path"].is_unique and all(Path(p).is_file() for p in frame.loc[frame["source"] == "affectnet", "path"])
    refused, _, _ = _merge(tmp_path, affectnet, flat, "flat-split", "--only-split", "train")
    assert refused.exit_code != 0 and "needs a dataset with splits" in refused.output


def test_a_second_run_into_the_same_out_keeps_the_first_runs_files(tmp_path: Path, target: Path, affectnet: Path) -> None:
    out = tmp_path / "shared-out"
    runs = []
    for seed_name, per_class in (("one", "sad=8,neutral=0"), ("two", "sad=2,neutral=0")):
        manifest = tmp_path / f"{seed_name}.csv"
        result = CliRunner().invoke(
            main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(target), "--out", str(out),
                   "-o", str(manifest), "--per-class", per_class],
        )
        assert result.exit_code == 0, result.output
        runs.append(read_manifest(manifest).frame.query("source == 'affectnet'"))
    # Run two converts sad10 again as a spare and must not delete the file run one added.
    assert "affectnet_sad10.png" in set(runs[0]["path"].map(lambda p: Path(p).name))
    assert all(Path(p).is_file() for frame in runs for p in frame["path"])


def test_nothing_to_add_writes_the_target_unchanged(tmp_path: Path, target: Path, affectnet: Path) -> None:
    result, out, manifest_path = _merge(tmp_path, affectnet, target, "zero", "--target", "0")
    assert result.exit_code == 0, result.output
    frame = read_manifest(manifest_path).frame
    assert len(frame) == 36 and not (frame["source"] == "affectnet").any() and not any(out.iterdir())


def test_seed_picks_among_faces_of_unknown_confidence(tmp_path: Path, target: Path) -> None:
    """Folder layout (no confidence), official codes in numbered folders: 2 = Sadness, 9 = Uncertain."""
    root = tmp_path / "numbered"
    for i in range(20):
        for code in ("2", "9"):
            (root / "train" / code).mkdir(parents=True, exist_ok=True)
            synthetic_face(10_000 + i + 100 * int(code), 96).save(root / "train" / code / f"{code}_{i:02d}.png")
    picks = {}
    for name, seed in (("s1", "1"), ("s1b", "1"), ("s2", "2")):
        result, _, manifest_path = _merge(tmp_path, root, target, name, "--seed", seed, "--per-class", "neutral=0")
        assert result.exit_code == 0, result.output
        new = read_manifest(manifest_path).frame.query("source == 'affectnet'")
        picks[name] = sorted(new["path"].map(lambda p: Path(p).name))
        assert len(new) == 8 and read_manifest(manifest_path).meta["merge_affectnet"]["skipped"]["unusable code"] == 20
    assert picks["s1"] == picks["s1b"] and picks["s1"] != picks["s2"]


def test_official_layout_faces_are_cut_from_their_box(tmp_path: Path, target: Path) -> None:
    root = tmp_path / "official"
    images = root / "Manually_Annotated_Images" / "7"
    images.mkdir(parents=True)
    rows = []
    for i in range(3):
        scene = np.zeros((300, 400), dtype=np.uint8)
        scene[100:220, 150:270] = np.asarray(synthetic_face(20_000 + i, 120))
        Image.fromarray(scene).convert("RGB").save(images / f"p{i}.jpg", quality=95)
        rows.append([f"7/p{i}.jpg", 150, 100, 120, 120, "", 2 if i < 2 else 10, 0, 0])
    pd.DataFrame(rows, columns=["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                                "facial_landmarks", "expression", "valence", "arousal"]).to_csv(root / "training.csv", index=False)
    result, out, manifest_path = _merge(tmp_path, root, target, "official", "--per-class", "neutral=0", "--margin", "0")
    assert result.exit_code == 0, result.output
    assert "official layout" in result.output
    new = read_manifest(manifest_path).frame.query("source == 'affectnet'")
    assert sorted(new["path"].map(lambda p: Path(p).name)) == ["affectnet_p0.png", "affectnet_p1.png"]
    face = np.asarray(Image.open(out / "affectnet_p0.png"), dtype=float)
    expected = np.asarray(synthetic_face(20_000, 120).resize((48, 48), Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(face - expected).mean() < 8  # the face itself, not the black surroundings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "contempt=angry"], "does not have"),
        (["--only-split", "holdout"], "is not a split"),
        (["--target", "many"], "--target"),
        (["--layout", "npy"], "No labelled AffectNet images"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, target: Path, affectnet: Path, args: list[str], message: str) -> None:
    result, out, _ = _merge(tmp_path, affectnet, target, "bad", *args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_out_inside_affectnet_is_refused(tmp_path: Path, target: Path, affectnet: Path) -> None:
    result = CliRunner().invoke(
        main, ["merge-affectnet", "--affectnet", str(affectnet), "--into", str(target), "--out", str(affectnet / "new"), "-o", str(tmp_path / "x.csv")]
    )
    assert result.exit_code != 0 and "inside the source image folder" in result.output
    assert not (affectnet / "new").exists()


def test_output_names_disambiguate_shared_stems() -> None:
    names = output_names(pd.Series(["a/1/img.jpg", "a/2/img.jpg", "a/2/other.jpg"]))
    assert names[2] == "affectnet_other.png"
    assert names[0] != names[1] and names[0].startswith("affectnet_img_") and names[0].endswith(".png")


def test_target_size_ratios_and_counts_use_kept_rows() -> None:
    frame = pd.DataFrame(
        {
            "split": ["train", "train", "test", "train"],
            "label": ["sad", "happy", "sad", "happy"],
            "status": ["keep", "relabel", "keep", "drop"],
            "new_label": ["", "sad", "", ""],
            "width": [48, 48, 64, 10],
            "height": [48, 48, 64, 10],
        }
    )
    assert class_counts(frame).to_dict() == {"sad": 3}
    assert target_size(frame) == (48, 48)
    assert split_ratios(frame) == pytest.approx({"train": 2 / 3, "test": 1 / 3})


def test_select_faces_converts_more_only_when_rejections_leave_a_gap() -> None:
    """With a fake converter: every other candidate duplicates an existing hash."""
    ranked = pd.DataFrame(
        {
            "label": ["sad"] * 10,
            "key": [f"k{i}" for i in range(10)],
            "dest": [f"/o/{i}.png" for i in range(10)],
            "source": [f"/s/{i}.png" for i in range(10)],
            "box_x0": np.nan, "box_y0": np.nan, "box_x1": np.nan, "box_y1": np.nan, "box_relative": False,
        }
    )
    existing = np.array([0xFFFF000000000000], dtype=np.uint64)
    calls = []

    def fake_convert(tasks):
        calls.append(len(tasks))
        out = []
        for task in tasks:
            i = int(Path(task.source).stem)
            value = 0xFFFF000000000000 if i % 2 else (i + 1) * 0x0101010101
            out.append({"dest": task.dest, "width": 48, "height": 48, "sha256": str(i), "phash": f"{value:016x}",
                        "phash_flip": f"{value:016x}", "error": ""})
        return out

    selection = select_faces(
        ranked, pd.Series({"sad": 4}), (existing, existing), fake_convert, (48, 48), threshold=0, existing_names=["orig.png"]
    )
    assert selection.added["key"].tolist() == ["k0", "k2", "k4", "k6"]
    # Round 1 converts 4 + 2 spare; round 2 fills the one gap left by 3 duplicates, + 2 spare.
    assert selection.skipped["duplicate"] == 3 and calls == [6, 3]
    assert {r["duplicate_of"] for r in selection.rejected} == {"orig.png"}
    assert selection.surplus == ["/o/7.png", "/o/8.png"]


def _capstone_slice(root: Path, step: int) -> Path:
    """Every ``step``-th image per split and class of the 4-class capstone set, as symlinks."""
    fer, sample = SHARED_DATA / "fer2013", SHARED_DATA / "affectnet-yolo-sample"
    if not fer.is_dir() or not sample.is_dir():
        pytest.skip("../shared/data is not available")
    for split in ("train", "validation", "test"):
        for label in ("happy", "neutral", "sad", "surprise"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for file in sorted((fer / split / label).iterdir())[::step]:
                (folder / file.name).symlink_to(file)
    return root


@pytest.mark.slow
def test_real_sample_feasible_trim_ends_exactly_equal(tmp_path: Path) -> None:
    """Every 4th image of the capstone set: surprise (about 995) + the sample's usable surprise
    faces falls short of happy (about 2,240); feasible + trim ends with the four classes equal."""
    slice_root = _capstone_slice(tmp_path / "fer4", 4)
    result, _, manifest_path = _merge(
        tmp_path, SHARED_DATA / "affectnet-yolo-sample", slice_root, "real-trim", "--target", "feasible", "--trim"
    )
    assert result.exit_code == 0, result.output
    frame = read_manifest(manifest_path).frame
    after = class_counts(frame)
    assert after.nunique() == 1 and after.iloc[0] > 995
    dropped = frame[frame["status"] == "drop"]
    assert set(dropped["split"]) == {"train"} and "surprise" not in set(dropped["label"])


@pytest.mark.slow
def test_real_sample_balances_a_capstone_slice_within_one_percent(tmp_path: Path) -> None:
    """The 4-class capstone set (happy, neutral, sad, surprise), every 12th image per split and
    class so that its real imbalance is kept but the YOLO sample (250-468 faces per class)
    can close the gaps; merged with --target max, the classes end within 1 % of each other."""
    sample = SHARED_DATA / "affectnet-yolo-sample"
    slice_root = _capstone_slice(tmp_path / "fer4", 12)
    result, out, manifest_path = _merge(tmp_path, sample, slice_root, "real")
    assert result.exit_code == 0, result.output
    frame = read_manifest(manifest_path).frame
    after = class_counts(frame)
    assert (after.max() - after.min()) / after.max() <= 0.01
    new = frame[frame["source"] == "affectnet"]
    assert len(new) > 800 and set(new["split"]) == {"train", "val", "test"}
    with Image.open(new["path"].iloc[0]) as image:
        assert image.size == (48, 48) and image.mode == "L"
