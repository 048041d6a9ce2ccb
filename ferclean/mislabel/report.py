"""What a reviewer reads: the flagged table, counts per class pair, the probe's confusion matrix."""

from __future__ import annotations


import numpy as np
import pandas as pd

REVIEW_COLUMNS: tuple[str, ...] = (
    "path", "split", "label", "suggested_label", "suggested_confidence", "label_quality", "fold",
)


def review_table(frame: pd.DataFrame, folds: pd.Series) -> pd.DataFrame:
    """Flagged rows (status=review), most doubtful first (lowest label_quality, then path)."""
    flagged = frame[frame["status"] == "review"].assign(fold=folds.reindex(frame.index))
    flagged = flagged.sort_values(["label_quality", "path"], kind="stable")
    return flagged[list(REVIEW_COLUMNS)].reset_index(drop=True)


def pair_counts(review: pd.DataFrame) -> pd.Series:
    """Flagged images per ``given -> suggested`` pair, most frequent first."""
    if review.empty:
        return pd.Series(dtype=np.int64)
    counts = review.groupby(["label", "suggested_label"]).size()
    counts.index = [f"{given} -> {suggested}" for given, suggested in counts.index]
    return counts.sort_values(ascending=False, kind="stable")


def confusion(labels: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """Counts C[given, predicted]."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix
