"""What a reviewer reads: the flagged table, counts per class pair, the probe's confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def confusion_png(matrix: np.ndarray, classes: Sequence[str], out_path: Path, title: str) -> Path:
    """Row-normalised heat map with counts: how the probe predicts each given label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.8 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("probe prediction (out of fold)")
    ax.set_ylabel("given label")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
