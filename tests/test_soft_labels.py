"""Soft labels: the probe's class distribution written by ``clean`` and blended into training targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferclean.clean import Policy, add_soft_labels
from ferclean.errors import FercleanError
from ferclean.labels import SOFT_LABEL, format_soft_labels, parse_soft_labels

CLASSES = ["happy", "sad", "neutral"]


def test_format_and_parse_round_trip_by_class_name() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    text = format_soft_labels(probs, CLASSES)
    assert text[0] == "happy:0.700 sad:0.200 neutral:0.100"
    np.testing.assert_allclose(parse_soft_labels(text, CLASSES), probs)
    # Read by name: another class order gets the same distribution in its own columns.
    np.testing.assert_allclose(parse_soft_labels(text, ["neutral", "sad", "happy"]), probs[:, ::-1])
    # Rounded values are renormalised; an empty value is a row of NaN; a class left out is 0.
    parsed = parse_soft_labels(["happy:0.333 sad:0.333 neutral:0.333", "", "sad:2"], CLASSES)
    np.testing.assert_allclose(parsed[0], [1 / 3] * 3)
    assert np.isnan(parsed[1]).all()
    np.testing.assert_allclose(parsed[2], [0, 1, 0])
    with pytest.raises(ValueError, match="3 classes"):
        format_soft_labels(np.ones((2, 2)), CLASSES)


@pytest.mark.parametrize("value, problem", [
    ("happy=0.5", "'happy=0.5'"), ("angry:0.5", "'angry:0.5'"), ("happy:x", "'happy:x'"),
    ("happy:0 sad:0", "not a distribution"), ("happy:-1 sad:2", "not a distribution"), ("happy:nan", "not a distribution"),
])
def test_parse_names_the_column_and_row(value: str, problem: str) -> None:
    with pytest.raises(FercleanError, match=f"soft_label row 2 .*{problem}"):
        parse_soft_labels(["happy:1", value], CLASSES)


def test_clean_gives_kept_training_rows_the_probe_distribution() -> None:
    frame = pd.DataFrame({
        "path": ["a.png", "b.png", "c.png", "d.png", "e.png"],
        "split": ["train", "train", "train", "test", "train"],
        "status": ["keep", "relabel", "drop", "keep", "keep"],
    })
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
    out = add_soft_labels(frame, ["a.png", "b.png", "c.png", "d.png"], probs, CLASSES, Policy())
    assert out[SOFT_LABEL].tolist() == ["happy:0.600 sad:0.300 neutral:0.100", "happy:0.100 sad:0.800 neutral:0.100", "", "", ""]
    assert SOFT_LABEL not in frame.columns  # a copy
    with pytest.raises(ValueError, match="differ in length"):
        add_soft_labels(frame, ["a.png"], probs, CLASSES, Policy())


tf = pytest.importorskip("tensorflow")
from ferclean_train import data  # noqa: E402  (needs TensorFlow)


def test_train_targets_blend_label_and_soft_label() -> None:
    rows = pd.DataFrame({"label": ["happy", "sad", "neutral"],
                         SOFT_LABEL: ["happy:0.2 sad:0.8 neutral:0", "", "happy:0 sad:0 neutral:1"]})
    np.testing.assert_allclose(data.train_targets(rows, CLASSES, 0.7), [
        [0.3 + 0.7 * 0.2, 0.7 * 0.8, 0.0],  # the label's share plus the soft label's
        [0.0, 1.0, 0.0],  # no soft label: the one-hot label
        [0.0, 0.0, 1.0],
    ], atol=1e-6)
    hard = data.train_targets(rows, CLASSES, 0.0)
    assert hard.dtype == np.int32 and hard.tolist() == [0, 1, 2]
    without = rows.drop(columns=SOFT_LABEL)
    assert data.train_targets(without, CLASSES, 0.7).tolist() == [0, 1, 2]


def test_array_dataset_passes_distributions_and_matches_the_one_hot_path() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 8, 8, 1), dtype=np.uint8)
    labels = (np.arange(10) % 3).astype(np.int32)
    soft = rng.dirichlet(np.ones(3), size=10).astype(np.float32)
    batches = list(data.array_dataset(images, soft, 3, 4, shuffle=True, seed=2).as_numpy_iterator())
    hard = list(data.array_dataset(images, labels, 3, 4, shuffle=True, seed=2).as_numpy_iterator())
    onehot = list(data.array_dataset(images, np.eye(3)[labels], 3, 4, shuffle=True, seed=2).as_numpy_iterator())
    for (x, y), (xh, yh), (xo, yo) in zip(batches, hard, onehot, strict=True):
        # The same shuffle: each batch's targets are the distributions of its images.
        rows = [int(np.flatnonzero((images == np.round(xi * 255)).all(axis=(1, 2, 3)))[0]) for xi in x]
        np.testing.assert_allclose(y, soft[rows])
        np.testing.assert_array_equal(yh, yo)
        np.testing.assert_array_equal(xh, xo)
