"""Every AffectNet layout is detected and read into the same candidate table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_face

from ferclean.affectnet.codes import OFFICIAL_CODES, code_name, is_unusable
from ferclean.affectnet.layouts import CANDIDATE_COLUMNS, detect_layout, read_candidates, yolo_names
from ferclean.errors import FercleanError


def _save(path: Path, seed: int, size: int = 96, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_face(seed, size).convert("RGB").save(path, format=fmt)
    return path


def build_official(root: Path) -> Path:
    """Manually_Annotated_Images/<dir>/<file>.jpg + training.csv/validation.csv with boxes."""
    images = root / "Manually_Annotated_Images"
    rows = {"training.csv": [], "validation.csv": []}
    for i, code in enumerate([0, 1, 2, 6, 7, 8, 9, 10, 1]):
        sub = f"{i % 2 + 1}"
        _save(images / sub / f"img{i}.jpg", seed=i, size=120)
        rows["training.csv" if i < 6 else "validation.csv"].append(
            [f"{sub}/img{i}.jpg", 10, 20, 60, 70, "1;2;3", code, 0.1, -0.2]
        )
    rows["training.csv"].append(["9/missing.jpg", 0, 0, 10, 10, "", 1, 0, 0])
    columns = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    for name, records in rows.items():
        # As in some copies of the release, validation.csv has no header row.
        pd.DataFrame(records, columns=columns.split(",")).to_csv(root / name, index=False, header=name == "training.csv")
    return root


def build_npy(root: Path) -> Path:
    """train_set/images/<id>.jpg + train_set/annotations/<id>_exp.npy (string codes, as released)."""
    for i, code in enumerate([1, 2, 3, 9]):
        _save(root / "train_set" / "images" / f"{i}.jpg", seed=100 + i)
        annotations = root / "train_set" / "annotations"
        annotations.mkdir(parents=True, exist_ok=True)
        np.save(annotations / f"{i}_exp.npy", np.array(str(code)))
    _save(root / "train_set" / "images" / "unlabelled.jpg", seed=199)
    return root


def build_yolo(root: Path, confidence: bool = False) -> Path:
    """test/images/*.jpg + test/labels/*.txt + data.yaml, boxes as fractions."""
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text('nc: 3\nnames: ["Anger", "Happy", "Sad"]\n')
    for i, cls in enumerate([0, 1, 2, 1]):
        _save(root / "test" / "images" / f"face{i}.jpg", seed=200 + i)
        label = root / "test" / "labels" / f"face{i}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        extra = f" {0.5 + i / 10}" if confidence else ""
        label.write_text(f"{cls} 0.5 0.5 0.8 0.6{extra}\n")
    _save(root / "test" / "images" / "nolabel.png", seed=299)
    return root


def build_folders(root: Path, numbered: bool = False) -> Path:
    """<split>/<class>/<image>, classes named (anger, happy, contempt) or numbered official codes."""
    names = ["6", "1", "7", "9"] if numbered else ["anger", "happy", "contempt", "uncertain"]
    seed = 300
    for split in ("train", "val"):
        for name in names:
            for k in range(2):
                _save(root / split / name / f"{name}_{k}.jpg", seed=seed)
                seed += 1
    return root


def test_official_layout_reads_boxes_codes_and_counts_missing(tmp_path: Path) -> None:
    root = build_official(tmp_path / "an")
    assert detect_layout(root) == "official"
    found = read_candidates(root)
    frame = found.frame
    assert list(frame.columns) == list(CANDIDATE_COLUMNS)
    assert len(frame) == 9 and found.skipped["missing file"] == 1
    row = frame.set_index("key").loc["Manually_Annotated_Images/1/img0.jpg"]
    assert row["name"] == "Neutral"
    assert (row["box_x0"], row["box_y0"], row["box_x1"], row["box_y1"]) == (10, 20, 70, 90)
    assert not row["box_relative"] and math.isnan(row["confidence"])
    assert sorted(frame["name"]) == sorted(code_name(c) for c in [0, 1, 2, 6, 7, 8, 9, 10, 1])


def test_npy_layout_reads_string_codes_and_skips_unlabelled(tmp_path: Path) -> None:
    root = build_npy(tmp_path / "an")
    assert detect_layout(root) == "npy"
    found = read_candidates(root)
    assert dict(zip(found.frame["key"], found.frame["name"])) == {
        "train_set/images/0.jpg": "Happiness",
        "train_set/images/1.jpg": "Sadness",
        "train_set/images/2.jpg": "Surprise",
        "train_set/images/3.jpg": "Uncertain",
    }
    assert found.skipped["no label"] == 1
    assert found.frame["box_x0"].isna().all()


def test_yolo_layout_uses_data_yaml_names_fractional_boxes_and_confidence(tmp_path: Path) -> None:
    root = build_yolo(tmp_path / "an", confidence=True)
    assert detect_layout(root) == "yolo"
    found = read_candidates(root)
    frame = found.frame.set_index("key")
    assert frame["name"].tolist() == ["Anger", "Happy", "Sad", "Happy"]
    assert frame["box_relative"].all()
    assert frame.loc["test/images/face0.jpg", ["box_x0", "box_y0", "box_x1", "box_y1"]].tolist() == pytest.approx(
        [0.1, 0.2, 0.9, 0.8]
    )
    assert frame["confidence"].tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert found.skipped["no label"] == 1


@pytest.mark.parametrize(
    "text",
    [
        'names: ["Anger", "Happy", "Sad"]\n',
        "names:\n  - Anger\n  - Happy\n  - Sad\n",
        "names:\n  0: Anger\n  1: 'Happy'\n  2: Sad\n",
    ],
)
def test_yolo_names_accepts_every_yaml_form(tmp_path: Path, text: str) -> None:
    (tmp_path / "data.yaml").write_text("nc: 3\n" + text)
    assert yolo_names(tmp_path) == ["Anger", "Happy", "Sad"]


def test_yolo_names_default_to_the_release_order(tmp_path: Path) -> None:
    assert yolo_names(tmp_path)[4] == "Happy"


@pytest.mark.parametrize("numbered", [False, True])
def test_folder_layouts_named_or_numbered(tmp_path: Path, numbered: bool) -> None:
    root = build_folders(tmp_path / "an", numbered)
    assert detect_layout(root) == "folders"
    frame = read_candidates(root).frame
    assert len(frame) == 16
    names = set(frame["name"])
    assert names == ({"Anger", "Happiness", "Contempt", "Uncertain"} if numbered else {"anger", "happy", "contempt", "uncertain"})
    assert frame["box_x0"].isna().all() and frame["confidence"].isna().all()


def test_folder_layout_takes_confidence_from_a_labels_csv(tmp_path: Path) -> None:
    root = tmp_path / "an"
    for k in range(3):
        _save(root / "happy" / f"h{k}.jpg", seed=k)
    pd.DataFrame({"pth": ["happy/h0.jpg", "happy/h2.jpg"], "label": ["happy"] * 2, "relFCs": [0.9, 0.4]}).to_csv(
        root / "labels.csv", index=False
    )
    frame = read_candidates(root).frame.set_index("key")
    assert frame.loc["happy/h0.jpg", "confidence"] == 0.9
    assert frame.loc["happy/h2.jpg", "confidence"] == 0.4
    assert math.isnan(frame.loc["happy/h1.jpg", "confidence"])


def test_forced_layout_overrides_detection(tmp_path: Path) -> None:
    root = build_yolo(tmp_path / "an")
    build_folders(root / "extra")
    assert read_candidates(root, "yolo").layout == "yolo"
    with pytest.raises(FercleanError, match="No labelled AffectNet images"):
        read_candidates(root, "npy")


def test_unknown_folder_and_missing_folder_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "stuff" / "misc").mkdir(parents=True)
    with pytest.raises(FercleanError, match="no AffectNet layout"):
        read_candidates(tmp_path / "stuff")
    with pytest.raises(FercleanError, match="does not exist"):
        read_candidates(tmp_path / "nope")


def test_codes_cover_the_unusable_pseudo_classes() -> None:
    assert [OFFICIAL_CODES[c] for c in (8, 9, 10)] == ["None", "Uncertain", "No-Face"]
    assert all(is_unusable(code_name(c)) for c in (8, 9, 10))
    assert not any(is_unusable(code_name(c)) for c in range(8))
    assert code_name(42) == "code 42"
