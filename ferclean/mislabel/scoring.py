"""Confident learning (Northcutt et al., 2021) on a probe's probabilities, in numpy.

A class's threshold is the probe's mean confidence in that class over the images labelled
with it, so a class the probe finds hard (disgust) is not held to the standard of an easy one
(happy). The confident joint counts, per given label, which class each image is confidently
in; calibrated to the label counts it estimates how many images of each label are really of
another class, and that many of the most doubtful ones are flagged.

"Most doubtful" is the normalised margin p(given) - max p(other): on FER2013's real errors,
judged by the FER+ annotators' votes, it ranks better than the self-confidence p(given)
(bench/mislabel_bench.py real mode), because real errors sit between two plausible classes
(sad/neutral, fear/surprise) rather than spread over all of them as random flips do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Flag rules: ``lowest`` (default) flags the estimated number of label errors (the
#: off-diagonal total of the calibrated confident joint), taking the images with the lowest
#: label quality among those the probe assigns to another class;
#: ``prune`` removes the estimated number of wrong labels per class pair, taking
#: those with the largest margin; ``class`` removes the estimated number per given class,
#: taking those with the lowest self-confidence; ``confident`` flags images confidently in
#: another class; ``both`` requires ``prune`` and ``confident`` to agree.
FLAG_RULES: tuple[str, ...] = ("lowest", "both", "prune", "class", "confident")

#: Label-quality scores that order the review (lower = more doubtful); the first is the default.
RANKINGS: tuple[str, ...] = ("normalized_margin", "self_confidence")


@dataclass(frozen=True)
class Scores:
    """Per-image scores (lower quality = more doubtful) and the flags, in the input order."""

    thresholds: np.ndarray
    confident_joint: np.ndarray
    estimated_errors: int
    self_confidence: np.ndarray
    normalized_margin: np.ndarray
    label_quality: np.ndarray
    suggested: np.ndarray
    suggested_confidence: np.ndarray
    flagged: np.ndarray

    def ranking(self) -> np.ndarray:
        """Flagged rows, most doubtful first (lowest label quality, ties by index)."""
        rows = np.flatnonzero(self.flagged)
        return rows[np.lexsort((rows, self.label_quality[rows]))]


def check_inputs(labels: np.ndarray, probs: np.ndarray) -> None:
    """Raise ValueError unless ``probs`` is an (n, k) probability table matching ``labels``."""
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"probabilities of shape {probs.shape} do not match {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError("a label index is outside the probability columns")


def class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """t_j = mean p(j) over images labelled j (1.0, i.e. never confident, for an absent class)."""
    k = probs.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=k)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def confident_classes(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per image, the most probable class among those at or above their threshold; -1 if none."""
    above = probs >= thresholds - 1e-6
    best = np.where(above, probs, -1.0).argmax(axis=1)
    return np.where(above.any(axis=1), best, -1)


def confident_joint(labels: np.ndarray, confident: np.ndarray, k: int) -> np.ndarray:
    """Counts C[given, confident] over images with a confident class."""
    has = confident >= 0
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (labels[has], confident[has]), 1)
    return joint


def calibrate_joint(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Scale each row to its label's count, rounding so each row still sums to it exactly."""
    rows = joint.sum(axis=1, keepdims=True)
    share = np.where(rows > 0, joint / np.maximum(rows, 1), np.eye(len(joint)))
    scaled = share * label_counts[:, None]
    floored = np.floor(scaled).astype(np.int64)
    for i in range(len(joint)):
        short = int(label_counts[i] - floored[i].sum())
        if short > 0:
            floored[i, np.argsort(-(scaled[i] - floored[i]), kind="stable")[:short]] += 1
    return floored


def self_confidence(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """p(given label): low means the probe doubts it."""
    return probs[np.arange(len(labels)), labels]


def normalized_margin(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(p(given) - max p(other) + 1) / 2 in [0, 1]: below 0.5 another class is more likely."""
    given = self_confidence(labels, probs)
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return (given - others.max(axis=1) + 1.0) / 2.0


def prune_by_noise_rate(labels: np.ndarray, probs: np.ndarray, calibrated: np.ndarray) -> np.ndarray:
    """For each pair (given i, true j), flag the calibrated C[i, j] images labelled i with the
    largest p(j) - p(i); an image the probe itself assigns to its label is never flagged."""
    n, k = probs.shape
    flagged = np.zeros(n, dtype=bool)
    for i in range(k):
        rows = np.flatnonzero(labels == i)
        # Leave at least one image per class, so no class can be emptied.
        budget = max(len(rows) - 1, 0)
        for j in range(k):
            count = min(int(calibrated[i, j]), budget) if j != i else 0
            if count <= 0:
                continue
            margin = probs[rows, j] - probs[rows, i]
            top = rows[np.lexsort((rows, -margin))[:count]]
            flagged[top] = True
    flagged &= probs.argmax(axis=1) != labels
    return flagged


def prune_by_class(labels: np.ndarray, probs: np.ndarray, calibrated: np.ndarray) -> np.ndarray:
    """For each given class i, flag the off-diagonal total of calibrated row i among the images
    labelled i with the lowest p(i); never an image the probe assigns to its label."""
    n, k = probs.shape
    flagged = np.zeros(n, dtype=bool)
    given = self_confidence(labels, probs)
    for i in range(k):
        rows = np.flatnonzero(labels == i)
        count = min(int(calibrated[i].sum() - calibrated[i, i]), max(len(rows) - 1, 0))
        if count > 0:
            flagged[rows[np.lexsort((rows, given[rows]))[:count]]] = True
    flagged &= probs.argmax(axis=1) != labels
    return flagged


def estimated_error_count(calibrated: np.ndarray) -> int:
    """Images whose given label is estimated wrong: the calibrated joint's off-diagonal total."""
    return int(calibrated.sum() - np.trace(calibrated))


def label_quality(labels: np.ndarray, probs: np.ndarray, ranking: str) -> np.ndarray:
    """The ``ranking`` score per image (one of RANKINGS); lower means more doubtful."""
    if ranking == "normalized_margin":
        return normalized_margin(labels, probs)
    if ranking == "self_confidence":
        return self_confidence(labels, probs)
    raise ValueError(f"unknown ranking {ranking!r}; choose from {RANKINGS}")


def lowest_quality(labels: np.ndarray, probs: np.ndarray, quality: np.ndarray, count: int) -> np.ndarray:
    """Flag the ``count`` images with the lowest ``quality`` whose argmax is another class."""
    doubtful = probs.argmax(axis=1) != labels
    given = np.where(doubtful, quality, np.inf)
    rows = np.arange(len(labels))
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[np.lexsort((rows, given))[: min(count, int(doubtful.sum()))]] = True
    return flagged


def score(labels: np.ndarray, probs: np.ndarray, rule: str = "lowest", ranking: str = RANKINGS[0]) -> Scores:
    """Every score and the flags for integer ``labels`` and a probe's ``probs`` (n, k)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    check_inputs(labels, probs)
    if rule not in FLAG_RULES:
        raise ValueError(f"unknown flag rule {rule!r}; choose from {FLAG_RULES}")
    quality = label_quality(labels, probs, ranking)
    n, k = probs.shape
    thresholds = class_thresholds(labels, probs)
    confident = confident_classes(probs, thresholds)
    joint = confident_joint(labels, confident, k)
    calibrated = calibrate_joint(joint, np.bincount(labels, minlength=k))
    off_diagonal = (confident >= 0) & (confident != labels)
    estimate = estimated_error_count(calibrated)
    flagged = {
        "lowest": lambda: lowest_quality(labels, probs, quality, estimate),
        "both": lambda: off_diagonal & prune_by_noise_rate(labels, probs, calibrated),
        "prune": lambda: prune_by_noise_rate(labels, probs, calibrated),
        "class": lambda: prune_by_class(labels, probs, calibrated),
        "confident": lambda: off_diagonal,
    }[rule]()
    suggested = np.where(confident >= 0, confident, probs.argmax(axis=1))
    others = probs.copy()
    others[np.arange(n), labels] = -np.inf
    suggested = np.where(flagged & (suggested == labels), others.argmax(axis=1), suggested)
    return Scores(
        thresholds=thresholds,
        confident_joint=calibrated,
        estimated_errors=estimate,
        self_confidence=self_confidence(labels, probs),
        normalized_margin=normalized_margin(labels, probs),
        label_quality=quality,
        suggested=suggested,
        suggested_confidence=probs[np.arange(n), suggested],
        flagged=flagged,
    )
