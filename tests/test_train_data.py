"""Manifest -> training rows, splits, folds, class weights and the tf.data pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferclean.errors import FercleanError
from ferclean.manifest import Manifest, normalise_frame
from ferclean.scan import scan_dataset

tf = pytest.importorskip("tensorflow")

from ferclean_train import data  # noqa: E402


def _manifest(rows: list[dict], root: Path = Path("/data")) -> Manifest:
    return Manifest(frame=normalise_frame(pd.DataFrame(rows)), root=root)


def test_labelled_rows_keep_and_relabel() -> None:
    manifest = _manifest(
        [
            {"path": "a.png", "split": "train", "label": "sad", "status": "keep"},
            {"path": "b.png", "split": "train", "label": "sad", "status": "relabel", "new_label": "neutral"},
            {"path": "c.png", "split": "test", "label": "happy", "status": "drop"},
            {"path": "d.png", "split": "val", "label": "happy", "status": "review"},
        ]
    )
    rows = data.labelled_rows(manifest)
    assert rows["path"].tolist() == ["a.png", "b.png", "d.png"]
    assert rows["label"].tolist() == ["sad", "neutral", "happy"]
    assert rows["abspath"].iloc[0] == str(Path("/data/a.png"))
    assert data.manifest_classes(rows) == ["happy", "sad", "neutral"]


def test_class_order_seven_and_four() -> None:
    seven = pd.DataFrame({"label": ["neutral", "surprise", "sad", "happy", "fear", "disgust", "angry"]})
    assert data.manifest_classes(seven) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    four = pd.DataFrame({"label": ["surprise", "neutral", "happy", "sad"]})
    assert data.manifest_classes(four) == ["happy", "sad", "surprise", "neutral"]


def test_class_weights_balance_the_loss() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    weights = data.class_weights(labels, 3)
    counts = np.bincount(labels)
    # every class then carries the same total weight
    np.testing.assert_allclose([weights[i] * counts[i] for i in range(3)], [10 / 3] * 3)


def test_split_errors() -> None:
    rows = pd.DataFrame(
        {"path": ["a", "b"], "abspath": ["/x/a", "/x/b"], "split": ["train", "val"], "label": ["sad", "happy"], "group": ["r0", "r1"]}
    )
    with pytest.raises(FercleanError, match="no kept 'test' rows"):
        data.require_split(rows, "test", "evaluate on")
    with pytest.raises(FercleanError, match="happy have no training images"):
        data.require_all_classes(data.split_frame(rows, "train"), ["happy", "sad"])
    with pytest.raises(FercleanError, match="missing, e.g. /x/a"):
        data.check_files_exist(rows)


def _rows(n_per_class: int, classes: tuple[str, ...] = ("happy", "sad", "neutral"), split: str = "train") -> pd.DataFrame:
    labels = [c for c in classes for _ in range(n_per_class)]
    paths = [f"{c}/{i:03d}.png" for c in classes for i in range(n_per_class)]
    return pd.DataFrame(
        {"path": paths, "abspath": [f"/r/{p}" for p in paths], "split": split, "label": labels, "group": [f"r{i}" for i in range(len(paths))]}
    )


def test_val_carved_from_train_is_stratified_group_aware_and_order_independent() -> None:
    rows = _rows(20)
    rows.loc[[0, 1], "group"] = "dup"  # a duplicate pair must stay on one side
    fit, held, carved = data.train_val(rows, 0.2, seed=1)
    assert carved
    assert len(fit) + len(held) == len(rows)
    assert set(fit["path"]).isdisjoint(held["path"])
    assert held["label"].value_counts().min() >= 3  # every class is represented
    assert (rows.loc[0, "path"] in set(held["path"])) == (rows.loc[1, "path"] in set(held["path"]))
    _, held_shuffled, _ = data.train_val(rows.sample(frac=1, random_state=3), 0.2, seed=1)
    assert sorted(held["path"]) == sorted(held_shuffled["path"])


def test_val_split_used_when_present() -> None:
    rows = pd.concat([_rows(4), _rows(2, split="val")], ignore_index=True)
    fit, held, carved = data.train_val(rows, 0.2, seed=0)
    assert not carved and len(fit) == 12 and len(held) == 6


def test_folds_partition_train_and_val() -> None:
    rows = pd.concat([_rows(10), _rows(5, split="val"), _rows(3, split="test")], ignore_index=True)
    rows["path"] = rows["split"] + "/" + rows["path"]
    rows["abspath"] = "/r/" + rows["path"]
    rows["group"] = [f"g{i}" for i in range(len(rows))]
    folds = data.fold_splits(rows, 3, seed=0)
    assert len(folds) == 3
    held = [set(h["path"]) for _, h in folds]
    pool = set(rows.loc[rows["split"] != "test", "path"])
    assert set().union(*held) == pool and sum(len(h) for h in held) == len(pool)
    for fit, h in folds:
        assert set(fit["path"]) | set(h["path"]) == pool
    with pytest.raises(FercleanError, match="at least 20"):
        data.fold_splits(rows, 20, seed=0)


def test_pipeline_decodes_resizes_and_one_hots(tmp_path: Path, make_dataset) -> None:
    make_dataset(tmp_path / "ds", {"train": {"happy": 3, "sad": 2}})
    rgb = tmp_path / "ds" / "train" / "sad" / "colour.jpg"
    from PIL import Image

    Image.new("RGB", (64, 64), (255, 0, 0)).save(rgb)
    manifest, _ = scan_dataset(tmp_path / "ds", [], "phash", 1)
    rows = data.labelled_rows(manifest)
    classes = data.manifest_classes(rows)
    ds = data.frame_dataset(rows, classes, image_size=32, batch_size=4)
    batches = list(ds.as_numpy_iterator())
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_array_equal(labels.argmax(1), data.label_indices(rows["label"], classes))
    red = images[rows.index[rows["path"].str.endswith("colour.jpg")][0]]
    assert red.std() < 0.01 and 0.25 < red.mean() < 0.35  # ITU-R 601 luma of pure red is 0.299


def test_shuffle_is_seeded(tmp_path: Path, make_dataset) -> None:
    make_dataset(tmp_path / "ds", {"train": {"happy": 10, "sad": 10}})
    manifest, _ = scan_dataset(tmp_path / "ds", [], "phash", 1)
    rows = data.labelled_rows(manifest)
    classes = data.manifest_classes(rows)

    def first_epoch(seed: int) -> np.ndarray:
        ds = data.frame_dataset(rows, classes, 48, 5, shuffle=True, seed=seed)
        return np.concatenate([y.argmax(1) for _, y in ds.as_numpy_iterator()])

    assert np.array_equal(first_epoch(7), first_epoch(7))
    assert not np.array_equal(first_epoch(7), data.label_indices(rows["label"], classes))


def test_pipeline_augmentation_runs_on_batches(tmp_path: Path, make_dataset) -> None:
    from ferclean_train.models import build_augmenter

    make_dataset(tmp_path / "ds", {"train": {"happy": 4, "sad": 4}})
    manifest, _ = scan_dataset(tmp_path / "ds", [], "phash", 1)
    rows = data.labelled_rows(manifest)
    classes = data.manifest_classes(rows)
    plain = next(iter(data.frame_dataset(rows, classes, 48, 8)))[0].numpy()
    augmenter = build_augmenter("bpp", flip=False, zoom=0.0, contrast=0.0, rotation=0.2)
    moved = next(iter(data.frame_dataset(rows, classes, 48, 8, augment=augmenter)))[0].numpy()
    assert moved.shape == plain.shape and not np.allclose(moved, plain)
    assert build_augmenter("baseline") is None


def test_training_and_predict_decode_like_every_other_command(tmp_path: Path) -> None:
    """A 16-bit copy trains as its 8-bit twin; a decompression bomb is refused from its header."""
    from PIL import Image

    from conftest import synthetic_face
    from ferclean_train.predict import read_images
    from test_images import bomb_png

    face = synthetic_face(4)
    face.save(tmp_path / "eight.png")
    Image.fromarray(np.asarray(face, dtype=np.uint16) * 257).save(tmp_path / "sixteen.png")
    eight = data.load_image(tf.constant(str(tmp_path / "eight.png")), 48).numpy()
    sixteen = data.load_image(tf.constant(str(tmp_path / "sixteen.png")), 48).numpy()
    assert np.array_equal(eight, sixteen) and eight[..., 0].std() > 10
    bomb = bomb_png(tmp_path / "bomb.png", 20000, 20000)
    images, good, bad = read_images([tmp_path / "eight.png", bomb], 48)
    assert good == [tmp_path / "eight.png"] and images.shape == (1, 48, 48, 1)
    assert bad[0][0] == bomb and "too large" in bad[0][1]
