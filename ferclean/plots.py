"""Figures shared by the toolkit and the trainer (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ferclean.outputs import atomic_path  # noqa: E402


def plot_confusion(
    matrix: np.ndarray,
    classes: Sequence[str],
    out_path: Path,
    title: str = "",
    xlabel: str = "predicted",
    ylabel: str = "true",
) -> Path:
    """Row-normalised colours (recall per true class) with the raw counts written in each cell."""
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    size = 1.0 + 0.75 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j, i, f"{matrix[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"share of {ylabel} class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(out_path) as temp:
        fig.savefig(temp, dpi=110)
    plt.close(fig)
    return Path(out_path)
