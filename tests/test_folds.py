"""Fold assignment: stratified, duplicates together, independent of row order."""

from __future__ import annotations

import numpy as np
import pytest

from ferclean.errors import FercleanError
from ferclean.folds import assign_folds


def sample(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    paths = [f"img{i:04d}.png" for i in range(n)]
    labels = rng.integers(0, 3, n)
    groups = [f"row{i}" for i in range(n)]
    for i in range(0, 60, 3):  # groups of three duplicates
        groups[i + 1] = groups[i + 2] = groups[i]
    return paths, labels, groups


def test_groups_stay_in_one_fold_and_folds_are_balanced() -> None:
    paths, labels, groups = sample()
    folds = assign_folds(paths, labels, groups, 5, seed=0)
    for i in range(0, 60, 3):
        assert folds[i] == folds[i + 1] == folds[i + 2]
    assert set(folds) == set(range(5))
    for label in range(3):
        counts = np.bincount(folds[labels == label], minlength=5)
        assert counts.max() - counts.min() <= 4


def test_same_seed_same_folds_whatever_the_row_order() -> None:
    paths, labels, groups = sample()
    folds = assign_folds(paths, labels, groups, 5, seed=3)
    order = np.random.default_rng(9).permutation(len(paths))
    shuffled = assign_folds([paths[i] for i in order], labels[order], [groups[i] for i in order], 5, seed=3)
    np.testing.assert_array_equal(shuffled, folds[order])
    assert not np.array_equal(assign_folds(paths, labels, groups, 5, seed=4), folds)


def test_too_few_groups_is_a_clear_error() -> None:
    with pytest.raises(FercleanError, match="independent image group"):
        assign_folds(["a", "b", "c"], np.array([0, 1, 0]), ["g", "g", "h"], 3, seed=0)
