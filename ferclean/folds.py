"""Cross-validation folds: stratified by label, duplicates kept together, independent of row order.

A duplicate left in another fold would predict its own copy's label (hiding the very
disagreement the mislabel probe looks for) or leak a training image into validation, so
every duplicate group lies inside one fold. Used by the mislabel probe and the trainer.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ferclean.errors import FercleanError


def assign_folds(paths: Sequence[str], labels: np.ndarray, groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold index (0..folds-1) per row; the same for a seed whatever order the rows come in.

    Rows are put in path order first, so the assignment depends only on the data.
    """
    n = len(paths)
    if folds < 2:
        raise FercleanError(f"folds must be at least 2, got {folds}.")
    distinct = len(set(groups))
    if distinct < folds:
        raise FercleanError(
            f"Only {distinct} independent image group(s) for folds={folds}; use fewer folds or more images."
        )
    order = np.argsort(np.asarray(paths, dtype=object), kind="stable")
    group_codes = np.unique(np.asarray(groups, dtype=object)[order], return_inverse=True)[1]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assigned = np.full(n, -1, dtype=np.int64)
    with warnings.catch_warnings():
        # A class rarer than the fold count cannot be in every fold; that is expected, not an error.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for fold, (_, test) in enumerate(splitter.split(np.zeros(n), np.asarray(labels)[order], group_codes)):
            assigned[order[test]] = fold
    return assigned
