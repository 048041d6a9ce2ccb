"""Confident-learning scores and flags on hand-made probability tables."""

from __future__ import annotations

import numpy as np
import pytest

from ferclean.mislabel.scoring import (
    FLAG_RULES,
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
    assert np.all(np.diff(scores.self_confidence[ranked]) >= 0)


def test_matches_cleanlab_at_least_in_precision() -> None:
    filter_ = pytest.importorskip("cleanlab.filter")
    labels, probs, flipped = noisy_probs(n=3000, k=5, noise=0.15, seed=2)
    ours = score(labels, probs).flagged
    theirs = filter_.find_label_issues(labels, probs)
    assert flipped[ours].mean() >= flipped[theirs].mean() - 0.01
    assert score(labels, probs, "prune").flagged.sum() == pytest.approx(theirs.sum(), rel=0.05)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError):
        score(np.array([0, 1]), np.ones((3, 2)) / 2)
    with pytest.raises(ValueError):
        score(np.array([0, 5]), np.ones((2, 2)) / 2)
