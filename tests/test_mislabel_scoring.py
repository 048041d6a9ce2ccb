"""Confident-learning scores and flags on hand-made probability tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferclean.mislabel.scoring import (
    FLAG_RULES,
    RANKINGS,
    calibrate_joint,
    class_thresholds,
    confident_classes,
    normalized_margin,
    score,
    self_confidence,
)


def noisy_probs(n: int = 900, k: int = 3, noise: float = 0.1, seed: int = 0):
    """Probabilities of a decent classifier of the true class, and labels with ``noise`` flipped."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = rng.random(n) < noise
    labels = true.copy()
    labels[flipped] = (true[flipped] + rng.integers(1, k, flipped.sum())) % k
    return labels, probs, flipped


def test_thresholds_are_mean_self_confidence_per_class() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    np.testing.assert_allclose(class_thresholds(labels, probs), [0.7, 0.8])
    np.testing.assert_array_equal(confident_classes(probs, np.array([0.7, 0.8])), [0, -1, -1, 1])


def test_margin_and_self_confidence() -> None:
    labels = np.array([0, 2])
    probs = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(self_confidence(labels, probs), [0.5, 0.1])
    np.testing.assert_allclose(normalized_margin(labels, probs), [0.6, 0.25])


def test_calibrated_rows_sum_to_label_counts() -> None:
    joint = np.array([[7, 2, 0], [1, 5, 1], [0, 0, 0]])
    calibrated = calibrate_joint(joint, np.array([10, 9, 4]))
    np.testing.assert_array_equal(calibrated.sum(axis=1), [10, 9, 4])
    assert calibrated[2, 2] == 4  # a class with no confident image keeps all its images


@pytest.mark.parametrize("rule", FLAG_RULES)
def test_planted_flips_are_found(rule: str) -> None:
    labels, probs, flipped = noisy_probs()
    flags = score(labels, probs, rule).flagged
    precision = flipped[flags].mean()
    recall = flags[flipped].mean()
    assert precision > 0.75, precision
    assert recall > 0.5, recall


def test_suggestion_is_another_class_for_flags_and_ranking_is_most_doubtful_first() -> None:
    labels, probs, flipped = noisy_probs(seed=1)
    scores = score(labels, probs)
    assert (scores.suggested[scores.flagged] != labels[scores.flagged]).all()
    ranked = scores.ranking()
    assert set(ranked) == set(np.flatnonzero(scores.flagged))
    assert np.all(np.diff(scores.normalized_margin[ranked]) >= 0)


def test_default_ranking_is_the_normalized_margin() -> None:
    """The documented choice (README, scoring module): real FER2013 errors rank better by margin."""
    labels, probs, _ = noisy_probs(seed=3)
    assert RANKINGS[0] == "normalized_margin"
    scores = score(labels, probs)
    np.testing.assert_allclose(scores.label_quality, normalized_margin(labels, probs))
    by_confidence = score(labels, probs, ranking="self_confidence")
    np.testing.assert_allclose(by_confidence.label_quality, self_confidence(labels, probs))
    assert not np.array_equal(scores.ranking(), by_confidence.ranking())
    with pytest.raises(ValueError, match="ranking"):
        score(labels, probs, ranking="loss")


def test_margin_ranks_errors_between_two_close_classes_first() -> None:
    """An error split between its given class and one other (sad/neutral) has a low margin even
    when p(given) is middling; a clean but unsure image spread over many classes does not."""
    labels = np.array([0, 0])
    probs = np.array([[0.30, 0.70, 0.00, 0.00], [0.25, 0.25, 0.25, 0.25]])
    margin = score(labels, probs).label_quality
    confidence = score(labels, probs, ranking="self_confidence").label_quality
    assert margin[0] < margin[1] and confidence[0] > confidence[1]


@pytest.mark.parametrize("noise", [0.05, 0.15, 0.3])
def test_flag_count_follows_the_estimated_number_of_errors(noise: float) -> None:
    labels, probs, flipped = noisy_probs(n=3000, k=4, noise=noise, seed=4)
    scores = score(labels, probs)
    off_diagonal = scores.confident_joint.sum() - np.trace(scores.confident_joint)
    assert scores.estimated_errors == off_diagonal
    assert scores.estimated_errors == pytest.approx(flipped.sum(), rel=0.25)
    doubtful = (probs.argmax(axis=1) != labels).sum()
    assert scores.flagged.sum() == min(scores.estimated_errors, doubtful)


def test_matches_cleanlab_in_precision_at_its_count_and_in_recall() -> None:
    filter_ = pytest.importorskip("cleanlab.filter")
    labels, probs, flipped = noisy_probs(n=3000, k=5, noise=0.15, seed=2)
    ours = score(labels, probs)
    theirs = filter_.find_label_issues(labels, probs)
    assert flipped[ours.ranking()[: theirs.sum()]].mean() >= flipped[theirs].mean() - 0.01
    assert ours.flagged[flipped].mean() >= theirs[flipped].mean()
    assert score(labels, probs, "prune").flagged.sum() == pytest.approx(theirs.sum(), rel=0.05)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        score(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(ValueError):
        score(np.array([0, 5]), np.ones((2, 2)) / 2)


def test_review_table_lists_what_the_probe_flagged_not_earlier_reviews() -> None:
    from ferclean.mislabel.report import pair_counts, review_table

    frame = pd.DataFrame({
        "path": ["a.png", "b.png", "c.png", "d.png"], "split": "train", "label": ["sad", "sad", "happy", "happy"],
        "status": ["review", "review", "keep", "review"],
        "note": ["mislabel-review: suggested neutral (p=0.70)", "invalid: not_a_face", "", "mislabel-review: ..."],
        "suggested_label": ["neutral", "sad", "happy", "sad"], "suggested_confidence": [0.7, 0.9, 0.8, 0.6],
        "label_quality": [-0.5, 0.6, 0.7, -0.6],
    })
    table = review_table(frame, pd.Index([0, 3]))
    assert table["path"].tolist() == ["d.png", "a.png"]  # scan's not-a-face row is no label question
    assert pair_counts(table).to_dict() == {"happy -> sad": 1, "sad -> neutral": 1}
